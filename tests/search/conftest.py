"""Fixtures of the search tests: synthetic local-like linear cost models of a space.

``cpu_fp32`` / ``cpu_int8`` latencies are made from the profiler's exact per-architecture MAdds
and parameter counts (additive over blocks, like a measured CPU latency to first order), then a
:class:`~mhzoo.search.cost.LinearCostModel` is fitted on them from the TuNAS features, as for
measured data. The reference factors ``C_i`` are the mean prediction over the samples, so that
MN-Norm 1 lies inside the space.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from mhzoo.profiler import profile
from mhzoo.search.cost import LinearCostModel
from mhzoo.search.cost.folder import write_reference


def synthetic_latency(space, genotypes):
    """``{target: ms}`` arrays of the genotypes at the space's input size."""
    size = space.options["input_size"]
    prof = [profile(space.decode(g), 1.0, size) for g in genotypes]
    madds = np.array([p.madds_m for p in prof])
    params = np.array([p.params_m for p in prof])
    scale = (224 / size) ** 2  # latencies of a 224 px model's order
    return {"cpu_fp32": 0.05 * madds * scale + 1.0,
            "cpu_int8": 0.02 * madds * scale + 0.8 * params + 0.5}


def _write_cost_models(folder, space, *, n=160, seed=0, targets=("cpu_fp32", "cpu_int8")):
    """Fit and write one linear model per target plus reference_ms.json into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    gs = [space.sample(rng) for _ in range(n)]
    lat = synthetic_latency(space, gs)
    factors = {}
    for t in targets:
        m = LinearCostModel.fit(space, gs, lat[t], t, machine="synthetic", lambdas=(1e-3,))
        m.save(folder / f"{t}.json")
        factors[t] = float(np.mean(m.predict(gs)))
    write_reference(folder, factors, reference="synthetic-mean", input_size=space.options[
        "input_size"])
    return factors


@pytest.fixture(scope="session")
def write_cost_models() -> Callable[..., dict[str, float]]:
    """``write_cost_models(folder, space, n=160)``: fit and write synthetic linear cost models
    (one per target) and reference_ms.json; returns the factors."""
    return _write_cost_models


@pytest.fixture(scope="session")
def synthetic_latencies() -> Callable[..., dict[str, np.ndarray]]:
    """``synthetic_latencies(space, genotypes)``: ``{target: ms}`` from exact MAdds / params."""
    return synthetic_latency
