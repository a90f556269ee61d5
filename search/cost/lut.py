"""Additive block lookup table calibrated on end-to-end latencies (as OFA / FBNet / nn-Meter).

Every block of a decoded architecture is looked up *in its context*: its input resolution and
input width plus the block itself (kind, kernel, stride, expansion, output width, fused,
groups, SE, activation); the network latency is a constant plus the sum of its blocks'
entries. The entries are fitted from whole-network measurements, not timed one by one:
least squares on block-count indicator features plus a small per-block prior (the block's conv,
depthwise and SE multiply-adds, its weights and its output activations, with one coefficient
each, unpenalized), the indicators ridge-penalized (lambda by cross-validation). A block never
seen in fitting gets its prior value, so the table also prices new blocks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from mhzoo.counting import count_layers, output_size
from mhzoo.search.cost.base import CostModel, _finite_list, finite_number
from mhzoo.search.cost.ridge import fit_ridge
from mhzoo.search.space import Genotype, Space
from mhzoo.spec import ArchSpec, Conv, GlobalPool

__all__ = ["PRIOR_FEATURES", "BlockLUTModel", "block_table"]

#: per-block prior features (millions of conv / depthwise / SE MAdds, of weights, of outputs)
PRIOR_FEATURES = ("conv_madds_m", "dw_madds_m", "se_madds_m", "weights_m", "outputs_m")


def block_prior(block: Any, res: int, cin: int) -> tuple[str, list[float], int, int]:
    """``(context key, prior features, output resolution, output width)`` of one block with
    input ``res`` x ``res`` x ``cin``."""
    plain = replace(block, endpoint=False) if hasattr(block, "endpoint") else block
    key = f"r{res}_c{cin}:{plain.to_string()}"
    f = [0.0] * len(PRIOR_FEATURES)
    # an ArchSpec must start with a conv: count a 1x1 identity-width conv first, keep block 1
    probe = ArchSpec("block", (Conv(cin, 1, 1, "relu"), plain))
    for lc in count_layers(probe, (res, res), cin, None):
        if lc.block != 1:
            continue
        f[{"conv": 0, "dense": 0, "depthwise": 1, "se": 2}[lc.kind]] += lc.madds / 1e6
        f[3] += lc.weights / 1e6
    if isinstance(block, GlobalPool):
        out_res = 1
    else:
        out_res = output_size(res, getattr(block, "stride", 1))
    cout = getattr(block, "filters", cin)
    f[4] = out_res * out_res * cout / 1e6
    return key, f, out_res, cout


def block_table(spec: ArchSpec, input_size: int, num_classes: int) -> list[tuple[str, list[float]]]:
    """``(context key, prior features)`` of every block of a concrete spec, then the classifier."""
    out = []
    res, cin = input_size, 3
    for b in spec.blocks:
        key, f, res, cin = block_prior(b, res, cin)
        out.append((key, f))
    f = [0.0] * len(PRIOR_FEATURES)
    f[0] = f[3] = cin * num_classes / 1e6
    f[4] = num_classes / 1e6
    out.append((f"fc_c{cin}:{num_classes}", f))
    return out


class BlockLUTModel(CostModel):
    """Additive block lookup table (see the module docstring)."""

    kind = "lut"

    def __init__(self, space: Space, target: str, table: dict[str, float],
                 prior: Sequence[float], bias: float, *, input_size: int, num_classes: int,
                 machine: str = "", info: dict[str, Any] | None = None) -> None:
        super().__init__(space, target, machine=machine, info=info)
        if len(prior) != len(PRIOR_FEATURES):
            raise ValueError(f"lookup-table prior needs {len(PRIOR_FEATURES)} coefficients")
        self.table = {str(k): float(v) for k, v in table.items()}
        self.prior = np.asarray(prior, np.float64)
        self.bias = float(bias)
        if not math.isfinite(self.bias):
            raise ValueError(f"cost model bias must be finite, got {bias!r}")
        self.input_size = int(input_size)
        self.num_classes = int(num_classes)

    @property
    def feature_size(self) -> int:
        return len(self.table)

    def _blocks(self, genotypes: Sequence[Genotype]) -> list[list[tuple[str, list[float]]]]:
        return [block_table(self.space.decode(g), self.input_size, self.num_classes)
                for g in genotypes]

    @classmethod
    def fit(cls, space: Space, genotypes: Sequence[Genotype], latency_ms: Sequence[float],
            target: str, *, input_size: int | None = None, num_classes: int | None = None,
            machine: str = "", lambdas: tuple[float, ...] | None = None, folds: int = 5,
            seed: int = 0) -> BlockLUTModel:
        """Calibrate the table on end-to-end latencies (see the module docstring)."""
        size = int(input_size or space.options.get("input_size") or 224)
        classes = int(num_classes or getattr(space, "num_classes", 1000))
        model = cls(space, target, {}, [0.0] * len(PRIOR_FEATURES), 0.0, input_size=size,
                    num_classes=classes, machine=machine)
        gs = model._genotypes(genotypes)
        y = np.asarray(latency_ms, np.float64)
        if len(gs) != len(y):
            raise ValueError(f"{len(gs)} genotypes but {len(y)} latencies")
        blocks = model._blocks(gs)
        keys = sorted({k for bl in blocks for k, _ in bl})
        col = {k: j for j, k in enumerate(keys)}
        B = np.zeros((len(gs), len(keys)))  # noqa: N806
        A = np.zeros((len(gs), 1 + len(PRIOR_FEATURES)))  # noqa: N806
        A[:, 0] = 1.0
        for i, bl in enumerate(blocks):
            for k, f in bl:
                B[i, col[k]] += 1.0
                A[i, 1:] += f
        fit = fit_ridge(B, y, A, lambdas=lambdas, folds=folds, seed=seed)
        prior = fit.a[1:]
        per_key_prior: dict[str, float] = {}
        for bl in blocks:
            for k, f in bl:
                per_key_prior[k] = float(np.dot(prior, f))
        model.table = {k: per_key_prior[k] + float(fit.b[col[k]]) for k in keys}
        model.prior, model.bias = prior, float(fit.a[0])
        model.info = {"rows": len(y), "lambda": fit.lam, "folds": folds, "blocks": len(keys),
                      "cv_rel_rmse": {f"{k:.4g}": round(v, 5) for k, v in fit.cv_rel_rmse.items()}}
        return model

    def predict(self, genotypes: Sequence[Genotype | str | Sequence[int]]) -> np.ndarray:
        out = []
        for bl in self._blocks(self._genotypes(genotypes)):
            total = self.bias
            for k, f in bl:
                v = self.table.get(k)
                total += v if v is not None else float(np.dot(self.prior, f))
            out.append(total)
        return np.asarray(out)

    def unseen_blocks(self, genotype: Genotype | str | Sequence[int]) -> list[str]:
        """Blocks of ``genotype`` priced by the prior (not in the table)."""
        (bl,) = self._blocks(self._genotypes([genotype]))
        return [k for k, _ in bl if k not in self.table]

    def _payload(self) -> dict[str, Any]:
        return {"bias": self.bias, "prior": [float(v) for v in self.prior],
                "prior_features": list(PRIOR_FEATURES), "input_size": self.input_size,
                "num_classes": self.num_classes, "table": self.table}

    @classmethod
    def _from_payload(cls, space: Space, data: dict[str, Any]) -> BlockLUTModel:
        table = data.get("table")
        if not isinstance(table, dict) or not all(
                isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
                for v in table.values()):
            raise ValueError("cost model field 'table' must map block keys to numbers")
        bias = finite_number(data, "bias")
        for key in ("input_size", "num_classes"):
            v = data.get(key)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"cost model field {key!r} must be a positive integer")
        return cls(space, str(data.get("target")), table,
                   _finite_list(data, "prior", len(PRIOR_FEATURES)), float(bias),
                   input_size=data["input_size"], num_classes=data["num_classes"],
                   machine=str(data.get("machine", "")), info=data.get("info") or {})
