"""Multi-hardware cost: predicted MN-Norm average and max (paper eq. 4-5) of an architecture.

One cost model per target predicts its latency; the normalization factors ``C_i`` are the
reference model's latency on each target (MobileNetV1 1.0 by default, paper section 6.2),
measured by :func:`mhzoo.search.latency.reference.reference_factors` or given.
The MN-Norm arithmetic is the benchmark package's (:func:`mhzoo.benchmarks.mn_norm`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mhzoo.benchmarks.normalization import mn_norm, normalization_factors
from mhzoo.search.cost.base import CostModel
from mhzoo.search.space import Genotype

__all__ = ["MultiHardwareCost"]


class MultiHardwareCost:
    """Per-target cost models of one space and the factors ``C_i`` that normalize them."""

    def __init__(self, models: Sequence[CostModel], factors: Mapping[str, float],
                 weights: Mapping[str, float] | None = None) -> None:
        if not models:
            raise ValueError("multi-hardware cost needs at least one cost model")
        spaces = {m.space_name for m in models}
        if len(spaces) > 1:
            raise ValueError(f"cost models of different spaces: {', '.join(sorted(spaces))}")
        by_target: dict[str, CostModel] = {}
        for m in models:
            if m.target in by_target:
                raise ValueError(f"two cost models for target {m.target!r}")
            by_target[m.target] = m
        missing = [t for t in by_target if t not in factors]
        extra = [t for t in factors if t not in by_target]
        if missing or extra:
            raise ValueError(f"normalization factors must cover exactly the models' targets "
                             f"({', '.join(by_target)}); missing {', '.join(missing) or '-'}, "
                             f"extra {', '.join(extra) or '-'}")
        self.models = by_target
        self.factors = normalization_factors(dict(factors), "normalization factor")
        self.weights = dict(weights or {})

    @property
    def targets(self) -> list[str]:
        """The hardware set H."""
        return list(self.models)

    def latencies(self, genotypes: Sequence[Genotype | str]) -> dict[str, np.ndarray]:
        """Predicted latency (ms) per target."""
        return {t: m.predict(genotypes) for t, m in self.models.items()}

    def predict(self, genotypes: Sequence[Genotype | str]) -> list[dict[str, Any]]:
        """Per genotype: predicted latency per target and MN-Norm ``avg`` / ``max``."""
        lat = self.latencies(genotypes)
        out = []
        for i in range(len(genotypes)):
            ms = {t: float(v[i]) for t, v in lat.items()}
            clipped = {t: max(v, 1e-6) for t, v in ms.items()}  # a linear model may dip <= 0
            r = mn_norm(clipped, self.factors, self.weights or None)
            out.append({"latency_ms": ms, "mn_norm_avg": r.avg, "mn_norm_max": r.max})
        return out
