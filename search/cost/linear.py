"""TuNAS linear latency model: ``cost = w . phi(arch) + b`` (search-algorithm.md section 4).

``phi`` is :func:`mhzoo.search.cost.features.genotype_features`: per slot
``onehot(out width) (x) onehot(in width) (x) g(op choices)``, concatenated. The weights are
ridge least squares on measured latencies
(lambda by cross-validation). The search evaluates the model inside its TF graph from the
controller's per-decision masks, which are fractional during op warm-up: the same feature
code (:mod:`mhzoo.search.cost.features`, numpy or TensorFlow backend) builds ``phi`` from masks,
and :meth:`LinearCostModel.predict_tf` is ``matmul(features, kernel) + bias``. On one-hot masks
both equal :meth:`predict`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from mhzoo.search.cost.base import CostModel, _finite_list, finite_number
from mhzoo.search.cost.features import (
    NumpyOps,
    feature_matrix,
    feature_size,
    features_from_masks,
    masks_of,
    slot_features,
    slot_index,
)
from mhzoo.search.cost.lut import PRIOR_FEATURES, block_prior
from mhzoo.search.cost.ridge import fit_ridge
from mhzoo.search.space import Genotype, Space

__all__ = ["LinearCostModel", "column_blocks", "column_priors"]


def column_priors(space: Space, input_size: int | None = None) -> np.ndarray:
    """``feature_size x len(PRIOR_FEATURES)``: for every feature column, the per-block prior
    features (:func:`mhzoo.search.cost.lut.block_prior`: MAdds, weights, outputs) of the block
    that the column's choices make its slot emit (zeros for a skipped layer); see
    :func:`column_blocks`."""
    size = int(input_size or space.options.get("input_size") or 224)
    index = slot_index(space)
    if size in index.priors:
        return index.priors[size].copy()
    out = column_blocks(space, lambda b, r, c: block_prior(b, r, c)[1], len(PRIOR_FEATURES),
                        size)
    index.priors[size] = out
    return out.copy()


def column_blocks(space: Space, block_fn: Callable[[Any, int, int], Sequence[float] | float],
                  width: int = 1, input_size: int | None = None) -> np.ndarray:
    """``feature_size x width``: ``block_fn(block, res, cin)`` of the block that each feature
    column's choices make its slot emit, with that block's input resolution ``res`` and width
    ``cin`` (zeros for a skipped layer). ``block_fn`` is called once per distinct
    ``(block, res, cin)``.

    Each column fixes its slot's input width, output width and active op choices, and a slot's
    input resolution does not depend on the genotype (only stride-1 layers are skippable), so
    the block is determined. Found by enumerating every choice combination of each slot. With
    ``block_fn`` a block's cost under an additive model, ``features @ column`` is the sum of the
    genotype's slot blocks' costs: how an additive model compiles into linear weights.
    """
    size = int(input_size or space.options.get("input_size") or 224)
    index = slot_index(space)
    out = np.zeros((index.size, width))
    values: dict[tuple[Any, int, int], np.ndarray] = {}

    def value(block: Any, res: int, cin: int) -> np.ndarray:
        key = (block, res, cin)
        if key not in values:
            values[key] = np.asarray(block_fn(block, res, cin), np.float64).reshape(width)
        return values[key]

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
                g = slot_features(space, ops_only, masks_of(space, idx), NumpyOps,
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
                            value(block, res, cin)
        earlier.update(s.refs)
    return out


class LinearCostModel(CostModel):
    """TuNAS linear model on :meth:`Space.features` (see the module docstring)."""

    kind = "linear"

    def __init__(self, space: Space, target: str, weights: np.ndarray, bias: float, *,
                 machine: str = "", info: dict[str, Any] | None = None) -> None:
        super().__init__(space, target, machine=machine, info=info)
        w = np.asarray(weights, np.float64).reshape(-1)
        if w.shape[0] != feature_size(space):
            raise ValueError(f"{w.shape[0]} weights for {feature_size(space)} features of space "
                             f"{space.name}")
        self.weights = w
        self.bias = float(bias)
        if not math.isfinite(self.bias):
            raise ValueError(f"cost model bias must be finite, got {bias!r}")

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
        model = cls(space, target, np.zeros(feature_size(space)), 0.0, machine=machine)
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
        import tensorflow as tf  # function-level: keeps TensorFlow out of import time

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
        bias = finite_number(data, "bias")
        return cls(space, data["target"], _finite_list(data, "weights"), float(bias),
                   machine=str(data.get("machine", "")), info=data.get("info") or {})
