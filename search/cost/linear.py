"""TuNAS linear latency model: ``cost = w . phi(arch) + b`` (search-algorithm.md section 4).

``phi`` is :meth:`Space.features`: per slot ``onehot(out width) (x) onehot(in width) (x)
g(op choices)``, concatenated. The weights are ridge least squares on measured latencies
(lambda by cross-validation). The search evaluates the model inside its TF graph from the
controller's per-decision masks, which are fractional during op warm-up:
:func:`features_from_masks` builds ``phi`` from masks with the same recursion as
:meth:`Space.features` (numpy or TensorFlow), and :meth:`LinearCostModel.predict_tf` is
``matmul(features, kernel) + bias``. On one-hot masks both equal :meth:`predict`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from mhzoo.search.cost.base import CostModel, _finite_list
from mhzoo.search.cost.ridge import fit_ridge
from mhzoo.search.space import Genotype, Slot, Space

__all__ = ["LinearCostModel", "feature_matrix", "features_from_masks", "masks_of"]


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
                v = _slot_features(self.space, s, masks, _NumpyOps, self.children)
                nz = np.flatnonzero(v)
                hit = self.memo[key] = (nz + offset, v[nz])
            cols.append(hit[0])
            vals.append(hit[1])
        return cols, vals


_INDEX: dict[int, _SlotIndex] = {}


def _index(space: Space) -> _SlotIndex:
    index = _INDEX.get(id(space))
    if index is None or index.space is not space:
        index = _INDEX[id(space)] = _SlotIndex(space)
        if len(_INDEX) > 64:
            _INDEX.pop(next(iter(_INDEX)))
    return index


def feature_matrix(space: Space, genotypes: Sequence[Genotype]) -> np.ndarray:
    """``len(genotypes) x space.feature_size`` matrix of :meth:`Space.features`."""
    index = _index(space)
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


class _NumpyOps:
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


class _TFOps:
    def __init__(self) -> None:
        import tensorflow as tf

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


def _slot_features(space: Space, slot: Slot, masks: Sequence[Any], ops: Any,
                   children: dict[int, list[int]]) -> Any:
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
    return [len(_slot_features(space, s, masks, _NumpyOps, ch)) for s in space.slots]


def features_from_masks(space: Space, masks: Sequence[Any], *, backend: str = "numpy") -> Any:
    """:meth:`Space.features` from one (possibly fractional) mask vector per decision.

    ``backend="numpy"`` takes numpy arrays and returns one; ``"tf"`` takes float32 tensors of
    shape ``[choices]`` and returns a ``[feature_size]`` tensor (graph- and XLA-friendly: only
    products, reshapes and concatenations). A decision's mask is read as is: inactive
    decisions are zeroed by their parent's mask, as in TuNAS ``coupled_tf_features``.
    """
    if len(masks) != len(space.decisions):
        raise ValueError(f"{len(masks)} masks for {len(space.decisions)} decisions")
    if backend == "numpy":
        ops: Any = _NumpyOps
        masks = [np.asarray(m, np.float64) for m in masks]
        for m, d in zip(masks, space.decisions, strict=True):
            if m.shape != (d.size,):
                raise ValueError(f"mask of decision {d.path!r} has shape {m.shape}, expected "
                                 f"({d.size},)")
    elif backend == "tf":
        ops = _TFOps()
    else:
        raise ValueError(f"backend must be 'numpy' or 'tf', got {backend!r}")
    ch = _children(space)
    parts = []
    for s, n in zip(space.slots, _slot_sizes(space), strict=True):
        if n > 1:
            parts.append(_slot_features(space, s, masks, ops, ch))
    return ops.concat(parts)


def column_priors(space: Space, input_size: int | None = None) -> np.ndarray:
    """``feature_size x len(PRIOR_FEATURES)``: for every feature column, the per-block prior
    features (:func:`mhzoo.search.cost.lut.block_prior`: MAdds, weights, outputs) of the block
    that the column's choices make its slot emit (zeros for a skipped layer).

    Each column fixes its slot's input width, output width and active op choices, and a slot's
    input resolution does not depend on the genotype (only stride-1 layers are skippable), so
    the block is determined. Found by enumerating every choice combination of each slot.
    """
    import itertools
    from dataclasses import replace

    from mhzoo.search.cost.lut import PRIOR_FEATURES, block_prior

    size = int(input_size or space.options.get("input_size") or 224)
    index = _index(space)
    if size in index.priors:
        return index.priors[size].copy()
    out = np.zeros((index.size, len(PRIOR_FEATURES)))
    base = list(space.genotype([0] * len(space.decisions)).indices)
    memo: dict[tuple[Any, int, int], tuple[list[float], int, int]] = {}

    def prior(block: Any, res: int, cin: int) -> tuple[list[float], int, int]:
        key = (block, res, cin)
        if key not in memo:
            _, f, r, c = block_prior(block, res, cin)
            memo[key] = (f, r, c)
        return memo[key]

    earlier: set[int] = set()
    for s in space.slots:
        j = next((k for k, (t, _) in enumerate(index.slots) if t is s), None)
        if j is not None:
            offset = index.slots[j][1]
            ops_only = replace(s, in_width=None, out_width=None)
            widths = [d for d in (s.in_width, s.out_width) if d is not None]
            wdec = list(dict.fromkeys(widths))
            op_refs = [d for d in s.ops if d not in wdec]
            op_combos = list(itertools.product(*(range(space.decisions[d].size)
                                                 for d in op_refs)))
            g_pos: dict[tuple[int, ...], tuple[int, int]] = {}  # op choices -> (pos, len(g))
            for oc in op_combos:
                idx = list(base)
                for d, c in zip(op_refs, oc, strict=True):
                    idx[d] = c
                g = _slot_features(space, ops_only, masks_of(space, idx), _NumpyOps,
                                   index.children)
                nz = np.flatnonzero(g)
                if nz.size == 1:
                    g_pos[oc] = (int(nz[0]), g.size)
            inputs: dict[tuple[int, ...], tuple[int, int]] = {}  # width choices -> (res, cin)
            for wc in itertools.product(*(range(space.decisions[d].size) for d in wdec)):
                idx = list(base)
                for d, c in zip(wdec, wc, strict=True):
                    idx[d] = c
                key = tuple(c for d, c in zip(wdec, wc, strict=True) if d in earlier)
                if key not in inputs:
                    res, cin = size, 3
                    for other in space.slots:
                        if other is s:
                            break
                        b = other.emit(idx)
                        if b is not None:
                            _, res, cin = prior(b, res, cin)
                    inputs[key] = (res, cin)
                res, cin = inputs[key]
                # column = offset + (out * n_in + in) * len(g) + position in g (kron order)
                n_in = space.decisions[s.in_width].size if s.in_width is not None else 1
                i_in = idx[s.in_width] if s.in_width is not None else 0
                i_out = idx[s.out_width] if s.out_width is not None else 0
                for oc, (pos, n_g) in g_pos.items():
                    for d, c in zip(op_refs, oc, strict=True):
                        idx[d] = c
                    block = s.emit(idx)
                    if block is not None:
                        out[offset + (i_out * n_in + i_in) * n_g + pos] = \
                            prior(block, res, cin)[0]
        earlier.update(s.refs)
    index.priors[size] = out
    return out.copy()


class LinearCostModel(CostModel):
    """TuNAS linear model on :meth:`Space.features` (see the module docstring)."""

    kind = "linear"

    def __init__(self, space: Space, target: str, weights: np.ndarray, bias: float, *,
                 machine: str = "", info: dict[str, Any] | None = None) -> None:
        super().__init__(space, target, machine=machine, info=info)
        w = np.asarray(weights, np.float64).reshape(-1)
        if w.shape[0] != space.feature_size:
            raise ValueError(f"{w.shape[0]} weights for {space.feature_size} features of space "
                             f"{space.name}")
        self.weights = w
        self.bias = float(bias)

    @property
    def feature_size(self) -> int:
        return int(self.weights.shape[0])

    @classmethod
    def fit(cls, space: Space, genotypes: Sequence[Genotype], latency_ms: Sequence[float],
            target: str, *, machine: str = "", prior: bool = True,
            lambdas: tuple[float, ...] | None = None, folds: int = 5,
            seed: int = 0) -> LinearCostModel:
        """Ridge least squares of ``latency_ms`` on the features (lambda by K-fold CV).

        With ``prior`` (default) the weights are ``w = P theta + delta``: ``P`` =
        :func:`column_priors` (each column's block MAdds / weights / outputs), ``theta`` (5
        numbers) unpenalized and ``delta`` ridge-penalized, i.e. shrunk toward a cost
        proportional to each layer's work instead of toward 0. A space has thousands of
        (width, op) columns (multi_hardware 9,805) and 1,000 architectures see each only a few
        times; unseen columns get their prior cost. The result is still one weight vector.
        """
        model = cls(space, target, np.zeros(space.feature_size), 0.0, machine=machine)
        gs = model._genotypes(genotypes)
        y = np.asarray(latency_ms, np.float64)
        if len(gs) != len(y):
            raise ValueError(f"{len(gs)} genotypes but {len(y)} latencies")
        x = feature_matrix(space, gs)
        if prior:
            p = column_priors(space)
            a = np.concatenate([np.ones((len(y), 1)), x @ p], 1)
            fit = fit_ridge(x, y, a, lambdas=lambdas, folds=folds, seed=seed)
            model.weights, model.bias = p @ fit.a[1:] + fit.b, float(fit.a[0])
        else:
            fit = fit_ridge(x, y, lambdas=lambdas, folds=folds, seed=seed)
            model.weights, model.bias = fit.b, float(fit.a[0])
        model.info = {"rows": len(y), "lambda": fit.lam, "folds": folds, "prior": prior,
                      "cv_rel_rmse": {f"{k:.4g}": round(v, 5) for k, v in fit.cv_rel_rmse.items()}}
        return model

    def predict(self, genotypes: Sequence[Genotype | str | Sequence[int]]) -> np.ndarray:
        return self.predict_features(feature_matrix(self.space, self._genotypes(genotypes)))

    def predict_features(self, features: np.ndarray) -> np.ndarray:
        """``features @ w + b`` for a ``[n, feature_size]`` (or ``[feature_size]``) array."""
        f = np.asarray(features, np.float64)
        if f.shape[-1] != self.feature_size:
            raise ValueError(f"features have {f.shape[-1]} columns, the model "
                             f"{self.feature_size}")
        return f @ self.weights + self.bias

    def predict_masks(self, masks: Sequence[Any]) -> float:
        """Cost from per-decision masks (numpy)."""
        return float(self.predict_features(features_from_masks(self.space, masks)))

    def predict_tf(self, features: Any) -> Any:
        """In-graph cost: ``matmul(features, kernel) + bias`` for a float32 tensor of shape
        ``[feature_size]`` or ``[batch, feature_size]`` (TuNAS ``mobile_cost_model``)."""
        import tensorflow as tf

        kernel = tf.constant(self.weights.reshape(-1, 1), tf.float32)
        bias = tf.constant(self.bias, tf.float32)
        f = tf.convert_to_tensor(features, tf.float32)
        if f.shape.rank == 1:
            return tf.squeeze(tf.matmul(f[None, :], kernel), [0, 1]) + bias
        return tf.squeeze(tf.matmul(f, kernel), [1]) + bias

    def tf_cost_fn(self) -> Callable[[Sequence[Any]], Any]:
        """A function of per-decision mask tensors -> scalar cost tensor, for the search."""
        def cost(masks: Sequence[Any]) -> Any:
            return self.predict_tf(features_from_masks(self.space, masks, backend="tf"))
        return cost

    def _payload(self) -> dict[str, Any]:
        return {"bias": self.bias, "weights": [float(v) for v in self.weights]}

    @classmethod
    def _from_payload(cls, space: Space, data: dict[str, Any]) -> LinearCostModel:
        bias = data.get("bias")
        if isinstance(bias, bool) or not isinstance(bias, int | float):
            raise ValueError("cost model field 'bias' must be a number")
        return cls(space, data["target"], _finite_list(data, "weights"), float(bias),
                   machine=str(data.get("machine", "")), info=data.get("info") or {})
