"""The TuNAS linear cost-model features (the one implementation; numpy and TensorFlow backends).

For every slot of a space: ``onehot(out width) (x) onehot(in width) (x) g(ops)``, where ``g`` is
the nested one-hot of the slot's op-decision tree (a decision gives ``concat_c [chosen == c] *
kron(g(children on c))``); slots of length 1 are dropped and the rest concatenated (TuNAS
``coupled_tf_features``, search-algorithm.md section 4). The recursion reads one mask vector
per decision, so the same code gives the features of a genotype (one-hot masks, numpy), of a
batch of genotypes (:func:`feature_matrix`, memoized per slot) and of the controller's
fractional masks inside the search graph (``backend="tf"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mhzoo.search.space import Genotype, Slot, Space

__all__ = ["NumpyOps", "TFOps", "feature_matrix", "feature_size", "features_from_masks",
           "genotype_features", "masks_of", "slot_features", "slot_index"]


class _SlotIndex:
    """Where the non-zero features of each slot fall, memoized by the slot's choice indices
    (one-hot masks give at most one non-zero per slot; this avoids the pure-Python Kronecker
    products of :meth:`Space.features` for every row)."""

    def __init__(self, space: Space) -> None:
        self.space = space
        self.children = _children(space)
        self.slots: list[tuple[Slot, int]] = []
        offset = 0
        for s, n in zip(space.slots, _slot_sizes(space), strict=True):
            if n > 1:
                self.slots.append((s, offset))
                offset += n
        self.size = offset
        self.memo: dict[tuple[int, tuple[int, ...]], tuple[np.ndarray, np.ndarray]] = {}
        self.priors: dict[int, np.ndarray] = {}  # input size -> column_priors

    def nonzeros(self, idx: Sequence[int]) -> tuple[list[np.ndarray], list[np.ndarray]]:
        cols, vals = [], []
        masks = None
        for j, (s, offset) in enumerate(self.slots):
            key = (j, tuple(idx[d] for d in s.refs))
            hit = self.memo.get(key)
            if hit is None:
                if masks is None:
                    masks = masks_of(self.space, idx)
                v = slot_features(self.space, s, masks, NumpyOps, self.children)
                nz = np.flatnonzero(v)
                hit = self.memo[key] = (nz + offset, v[nz])
            cols.append(hit[0])
            vals.append(hit[1])
        return cols, vals


_INDEX: dict[int, _SlotIndex] = {}


def slot_index(space: Space) -> _SlotIndex:
    """The (cached) column layout of ``space``'s features."""
    index = _INDEX.get(id(space))
    if index is None or index.space is not space:
        index = _INDEX[id(space)] = _SlotIndex(space)
        if len(_INDEX) > 64:
            _INDEX.pop(next(iter(_INDEX)))
    return index


def feature_matrix(space: Space, genotypes: Sequence[Genotype]) -> np.ndarray:
    """``len(genotypes) x feature_size(space)`` matrix of :func:`genotype_features`."""
    index = slot_index(space)
    out = np.zeros((len(genotypes), index.size))
    for i, g in enumerate(genotypes):
        idx = g.indices if isinstance(g, Genotype) else tuple(g)
        cols, vals = index.nonzeros(idx)
        for c, v in zip(cols, vals, strict=True):
            out[i, c] = v
    return out


def masks_of(space: Space, genotype: Genotype | Sequence[int]) -> list[np.ndarray]:
    """One-hot mask per decision of a genotype (what a sampled controller produces)."""
    idx = space.genotype(genotype.indices if isinstance(genotype, Genotype) else genotype).indices
    out = []
    for i, d in zip(idx, space.decisions, strict=True):
        m = np.zeros(d.size)
        m[i] = 1.0
        out.append(m)
    return out


class NumpyOps:
    """The numpy backend of :func:`slot_features`."""

    @staticmethod
    def kron(a: Any, b: Any) -> Any:
        return np.kron(a, b)

    @staticmethod
    def concat(parts: list[Any]) -> Any:
        return np.concatenate(parts)

    @staticmethod
    def ones() -> Any:
        return np.ones(1)

    @staticmethod
    def pick(mask: Any, c: int) -> Any:
        return mask[c]


class TFOps:
    """The TensorFlow backend of :func:`slot_features` (graph- and XLA-friendly)."""

    def __init__(self) -> None:
        import tensorflow as tf  # function-level: TensorFlow only when the tf backend is used

        self.tf = tf

    def kron(self, a: Any, b: Any) -> Any:
        return self.tf.reshape(a[:, None] * b[None, :], [-1])

    def concat(self, parts: list[Any]) -> Any:
        return self.tf.concat(parts, axis=0)

    def ones(self) -> Any:
        return self.tf.ones([1], self.tf.float32)

    def pick(self, mask: Any, c: int) -> Any:
        return mask[c]


def _children(space: Space) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for i, d in enumerate(space.decisions):
        if d.parent is not None:
            out.setdefault(d.parent, []).append(i)
    return out


def slot_features(space: Space, slot: Slot, masks: Sequence[Any], ops: Any,
                  children: dict[int, list[int]]) -> Any:
    """``onehot(out) (x) onehot(in) (x) g(ops)`` of one slot from per-decision masks."""
    own = set(slot.ops)

    def g(d: int) -> Any:
        parts = []
        for c in range(space.decisions[d].size):
            sub = ops.ones()
            for k in children.get(d, ()):
                if k in own and c in space.decisions[k].parent_choices:
                    sub = ops.kron(sub, g(k))
            parts.append(ops.pick(masks[d], c) * sub)
        return ops.concat(parts)

    vec = ops.ones()
    for d in slot.ops:
        if space.decisions[d].parent not in own:
            vec = ops.kron(vec, g(d))
    for d in (slot.in_width, slot.out_width):
        if d is not None:
            vec = ops.kron(masks[d], vec)
    return vec


def _slot_sizes(space: Space) -> list[int]:
    zero = space.genotype([0] * len(space.decisions))
    masks = masks_of(space, zero)
    ch = _children(space)
    return [len(slot_features(space, s, masks, NumpyOps, ch)) for s in space.slots]


def features_from_masks(space: Space, masks: Sequence[Any], *, backend: str = "numpy") -> Any:
    """:func:`genotype_features` from one (possibly fractional) mask vector per decision.

    ``backend="numpy"`` takes numpy arrays and returns one; ``"tf"`` takes float32 tensors of
    shape ``[choices]`` and returns a ``[feature_size]`` tensor (graph- and XLA-friendly: only
    products, reshapes and concatenations). A decision's mask is read as is: inactive
    decisions are zeroed by their parent's mask, as in TuNAS ``coupled_tf_features``.
    """
    if len(masks) != len(space.decisions):
        raise ValueError(f"{len(masks)} masks for {len(space.decisions)} decisions")
    if backend == "numpy":
        ops: Any = NumpyOps
        masks = [np.asarray(m, np.float64) for m in masks]
        for m, d in zip(masks, space.decisions, strict=True):
            if m.shape != (d.size,):
                raise ValueError(f"mask of decision {d.path!r} has shape {m.shape}, expected "
                                 f"({d.size},)")
    elif backend == "tf":
        ops = TFOps()
    else:
        raise ValueError(f"backend must be 'numpy' or 'tf', got {backend!r}")
    ch = _children(space)
    parts = []
    for s, n in zip(space.slots, _slot_sizes(space), strict=True):
        if n > 1:
            parts.append(slot_features(space, s, masks, ops, ch))
    return ops.concat(parts)




def genotype_features(space: Space, genotype: Genotype | Sequence[int]) -> np.ndarray:
    """The feature vector of one genotype (length :func:`feature_size`)."""
    return feature_matrix(space, [space.genotype(
        genotype.indices if isinstance(genotype, Genotype) else genotype)])[0]


def feature_size(space: Space) -> int:
    """Length of the feature vector of ``space``."""
    return slot_index(space).size
