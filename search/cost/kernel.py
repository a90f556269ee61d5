"""Kernel-level additive cost model (kind ``kernel``): one job, predict a CPU target's latency
from the kernels XNNPACK runs, and compile that prediction into the TuNAS linear model's weights.

``latency = bias + sum over kernels of coef . terms(kernel)`` (terms:
:mod:`mhzoo.search.cost.kernels`). Fitted on end-to-end latencies only: ridge on *relative*
error (columns standardised, bias unpenalised), Huber IRLS reweighting (a few labels are
timing outliers), the penalty by K-fold cross-validation on the mean absolute relative error.
On the idle collection (fit rows ``:1000``, score ``1000:``) it reaches 86.5% within +-10%,
tau 0.941 for cpu_fp32 against 56.5% / 0.848 for the linear model
(benchmarks/perf/results/costmodel_idle.md).

The model is additive per block and a block's terms depend only on the block and its input
(resolution, width), so :meth:`KernelCostModel.compile_linear` makes each feature column's
weight the cost of the block that column emits (:func:`mhzoo.search.cost.linear.column_blocks`)
and the fixed slots (stem, pool, classifier) the bias: a :class:`LinearCostModel` that the
search evaluates in-graph from its masks and that predicts exactly what this model predicts.

numpy only. Saved as a ``mhzoo.costmodel`` JSON of kind ``kernel`` with ``basis_version``; a
model of another basis version is refused (refit it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mhzoo.search.cost.base import CostModel, _finite_list, finite_number
from mhzoo.search.cost.features import feature_matrix
from mhzoo.search.cost.kernels import (
    BASIS_VERSION,
    Kernel,
    Machine,
    kernel_terms,
    kernels_of,
    kernels_of_blocks,
    network_terms,
)
from mhzoo.search.cost.linear import LinearCostModel, column_blocks
from mhzoo.search.space import Genotype, Space

__all__ = ["DEFAULT_LAMBDAS", "KernelCostModel", "compile_additive"]

#: penalties tried by cross-validation (on standardised columns)
DEFAULT_LAMBDAS = (1.0, 3.0, 10.0, 30.0, 100.0)


def _design(rows: Sequence[Mapping[str, float]], columns: Sequence[str]) -> np.ndarray:
    col = {c: j for j, c in enumerate(columns)}
    x = np.zeros((len(rows), len(columns)))
    for i, r in enumerate(rows):
        for name, v in r.items():
            j = col.get(name)
            if j is not None:
                x[i, j] += v
    return x


def _robust_ridge(x: np.ndarray, y: np.ndarray, lam: float, huber: float,
                  iters: int) -> tuple[float, np.ndarray]:
    """``min sum_i w_i ((b + x_i . c) / y_i - 1)^2 + lam |S c|^2`` with Huber weights ``w``
    (IRLS); ``S``: the scales of the relative columns ``x / y``; ``b`` unpenalised."""
    a = np.concatenate([np.ones((len(y), 1)), x], 1) / y[:, None]
    s = a.std(0)
    s[s == 0] = 1.0
    s[0] = 1.0
    a_s = a / s
    pen = np.full(a.shape[1], float(lam))
    pen[0] = 0.0
    w = np.ones(len(y))
    coef = np.zeros(a.shape[1])
    for _ in range(max(1, iters)):
        sw = np.sqrt(w)
        aw = a_s * sw[:, None]
        coef = np.linalg.solve(aw.T @ aw + np.diag(pen) + 1e-9 * np.eye(a.shape[1]), aw.T @ sw)
        r = a_s @ coef - 1.0
        scale = 1.4826 * float(np.median(np.abs(r))) + 1e-12
        u = np.abs(r) / (huber * scale)
        w = np.where(u <= 1.0, 1.0, 1.0 / np.maximum(u, 1e-12))
    coef = coef / s
    return float(coef[0]), coef[1:]


def compile_additive(space: Space, target: str, block_cost: Any, network_ms: Any, *,
                     machine: str = "", info: dict[str, Any] | None = None,
                     input_size: int | None = None) -> LinearCostModel:
    """A :class:`LinearCostModel` equal to an additive-per-block model.

    ``block_cost(block, res, cin)``: a block's cost (ms) with input ``res`` x ``res`` x ``cin``;
    ``network_ms(genotype)``: the model's latency of one genotype. Each feature column's weight
    is the cost of the block it emits; the bias is the rest (fixed slots, classifier, constant),
    read off the all-zeros genotype.
    """
    w = column_blocks(space, block_cost, 1, input_size)[:, 0]
    ref = space.genotype([0] * len(space.decisions))
    bias = float(network_ms(ref)) - float(feature_matrix(space, [ref])[0] @ w)
    return LinearCostModel(space, target, w, bias, machine=machine, info=info)


class KernelCostModel(CostModel):
    """Additive kernel-level latency model (see the module docstring).

    Attributes:
        cpu: the :class:`Machine` (element size, caches, GEMM tile) its terms assume.
        columns: term names with a coefficient (fixed at fit time; terms of contexts never seen
            in fitting get no coefficient of their own, the shared terms still price them).
        coef, bias: ``latency_ms = bias + terms @ coef``.
        input_size, num_classes: the decoding the model prices.
    """

    kind = "kernel"

    def __init__(self, space: Space, target: str, cpu: Machine, columns: Sequence[str],
                 coef: Sequence[float] | np.ndarray, bias: float, *, input_size: int = 224,
                 num_classes: int = 1000, machine: str = "",
                 info: dict[str, Any] | None = None) -> None:
        super().__init__(space, target, machine=machine, info=info)
        c = np.asarray(coef, np.float64).reshape(-1)
        if len(c) != len(columns):
            raise ValueError(f"{len(c)} coefficients for {len(columns)} columns")
        if len(set(columns)) != len(columns):
            raise ValueError("duplicate kernel-term column names")
        if not np.all(np.isfinite(c)) or not math.isfinite(bias):
            raise ValueError("kernel cost model coefficients must be finite")
        for key, v in (("input_size", input_size), ("num_classes", num_classes)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"cost model field {key!r} must be a positive integer")
        self.cpu = cpu
        self.columns = list(columns)
        self.coef = c
        self.bias = float(bias)
        self.input_size = input_size
        self.num_classes = num_classes
        self._col = {n: j for j, n in enumerate(self.columns)}

    @property
    def feature_size(self) -> int:
        return len(self.columns)

    # ------------------------------------------------------------------ fitting
    @classmethod
    def fit(cls, space: Space, genotypes: Sequence[Genotype], latency_ms: Sequence[float],
            target: str, *, machine: str = "", cpu: Machine | None = None,
            lambdas: Sequence[float] = DEFAULT_LAMBDAS, folds: int = 5, seed: int = 0,
            huber: float = 1.345, iters: int = 5) -> KernelCostModel:
        """Fit on genotypes and their measured latencies (ms).

        ``cpu``: default this machine class (L2 1 MiB, LLC 32 MiB, 7-row tile) with 1-byte
        elements for a target whose name ends in ``int8``, 4 otherwise. More than one
        ``lambdas``: the one with the lowest K-fold (``folds``, shuffled with ``seed``) mean
        absolute relative error. ``ValueError`` (one line) on mismatched lengths, non-positive
        latencies or too few rows.
        """
        cpu = cpu or Machine(bytes_per_element=1 if target.endswith("int8") else 4)
        size = int(space.options.get("input_size") or 224)
        classes = int(getattr(space, "num_classes", 1000))
        model = cls(space, target, cpu, [], [], 0.0, input_size=size, num_classes=classes,
                    machine=machine)
        gs = model._genotypes(genotypes)
        y = np.asarray(latency_ms, np.float64).reshape(-1)
        if len(gs) != len(y):
            raise ValueError(f"{len(gs)} genotypes but {len(y)} latencies")
        if not np.all(np.isfinite(y)) or np.any(y <= 0):
            raise ValueError("latencies must be finite and > 0 ms")
        lams = [float(v) for v in lambdas]
        if not lams or any(not math.isfinite(v) or v < 0 for v in lams):
            raise ValueError("lambdas must be finite and >= 0")
        if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
            raise ValueError(f"folds must be an integer >= 2, got {folds!r}")
        need = max(10, 2 * folds if len(lams) > 1 else 2)
        if len(y) < need:
            raise ValueError(f"too few architectures to fit: {len(y)} (need at least {need})")
        rows = [model._terms(space.decode(g)) for g in gs]
        columns = sorted({n for r in rows for n in r})
        x = _design(rows, columns)
        keep = x.std(0) > 0  # constant columns are absorbed by the bias
        columns = [c for c, k in zip(columns, keep, strict=True) if k]
        x = x[:, keep]
        cv: dict[str, float] = {}
        best = lams[0]
        if len(lams) > 1:
            order = np.random.default_rng(seed).permutation(len(y))
            err = np.zeros(len(lams))
            for f in range(folds):
                te = order[f::folds]
                tr = np.setdiff1d(order, te)
                for j, lam in enumerate(lams):
                    b, c = _robust_ridge(x[tr], y[tr], lam, huber, iters)
                    err[j] += float(np.sum(np.abs((b + x[te] @ c) / y[te] - 1.0)))
            mare = err / len(y)
            cv = {f"{lam:g}": round(float(e), 6) for lam, e in zip(lams, mare, strict=True)}
            best = lams[int(np.argmin(mare))]
        b, c = _robust_ridge(x, y, best, huber, iters)
        info = {"rows": len(y), "lambda": best, "folds": folds, "huber": huber, "iters": iters,
                "cv_mean_abs_rel_err": cv}
        return cls(space, target, cpu, columns, c, b, input_size=size, num_classes=classes,
                   machine=machine, info=info)

    # ------------------------------------------------------------------ prediction
    def _terms(self, spec: Any) -> dict[str, float]:
        return network_terms(kernels_of(spec, self.input_size, self.num_classes), self.cpu)

    def _cost(self, terms: Mapping[str, float]) -> float:
        total = 0.0
        for name, v in terms.items():
            j = self._col.get(name)
            if j is not None:
                total += float(self.coef[j]) * v
        return total

    def predict(self, genotypes: Sequence[Genotype | str | Sequence[int]]) -> np.ndarray:
        return self.predict_specs([self.space.decode(g) for g in self._genotypes(genotypes)])

    def predict_specs(self, specs: Sequence[Any]) -> np.ndarray:
        """Predicted latency (ms) of concrete specs (``space.decode`` of a genotype)."""
        return self.bias + _design([self._terms(s) for s in specs], self.columns) @ self.coef

    def kernel_costs(self, spec: Any) -> list[tuple[Kernel, float]]:
        """Each kernel of a concrete spec with its predicted cost (ms; bias not included)."""
        return [(k, self._cost(kernel_terms(k, self.cpu)))
                for k in kernels_of(spec, self.input_size, self.num_classes)]

    def block_cost(self, block: Any, res: int, cin: int, *, pooled: bool = False) -> float:
        """Cost (ms) of one block with input ``res`` x ``res`` x ``cin`` (``pooled``: after the
        global pool). A spec's prediction is ``bias + classifier_cost + sum of its blocks'
        block_cost`` in their contexts."""
        kernels, _, _, _ = kernels_of_blocks([block], res, cin, pooled=pooled)
        return self._cost(network_terms(kernels, self.cpu))

    def classifier_cost(self, width: int) -> float:
        """Cost (ms) of the final classifier on ``width`` features."""
        return self._cost(kernel_terms(Kernel("fc", -1, 1, 1, 1, 1, width, self.num_classes),
                                       self.cpu))

    def compile_linear(self) -> LinearCostModel:
        """The :class:`LinearCostModel` (what the search loads and evaluates in-graph) whose
        predictions equal this model's (see the module docstring)."""
        info = {"compiled_from": {"kind": self.kind, "basis_version": BASIS_VERSION,
                                  "cpu": self.cpu.to_dict(), **self.info}}
        if "data" in self.info:
            info["data"] = self.info["data"]
        return compile_additive(self.space, self.target, self.block_cost,
                                lambda g: self.predict_specs([self.space.decode(g)])[0],
                                machine=self.machine, info=info, input_size=self.input_size)

    # ------------------------------------------------------------------ files
    def _payload(self) -> dict[str, Any]:
        return {"basis_version": BASIS_VERSION, "cpu": self.cpu.to_dict(),
                "input_size": self.input_size, "num_classes": self.num_classes,
                "bias": self.bias, "columns": list(self.columns),
                "coef": [float(v) for v in self.coef]}

    @classmethod
    def _from_payload(cls, space: Space, data: dict[str, Any]) -> KernelCostModel:
        if data.get("basis_version") != BASIS_VERSION:
            raise ValueError(f"kernel cost model of basis version {data.get('basis_version')!r};"
                             f" this code reads version {BASIS_VERSION}: refit it")
        cols = data.get("columns")
        if not isinstance(cols, list) or not all(isinstance(c, str) for c in cols):
            raise ValueError("cost model field 'columns' must be a list of names")
        info = data.get("info") or {}
        if not isinstance(info, dict):
            raise ValueError("cost model field 'info' must be an object")
        return cls(space, str(data.get("target")), Machine.from_dict(data.get("cpu")), cols,
                   _finite_list(data, "coef", len(cols)), finite_number(data, "bias"),
                   input_size=data.get("input_size"), num_classes=data.get("num_classes"),
                   machine=str(data.get("machine", "")), info=info)
