"""Issue 18 acceptance point 1 in CI time: the real ``cpu-proxy`` preset's controller settings
(1,800 steps, 8 samples per step, RL lr 0.15, delay 25 %, warm-ups), the committed CPU cost
models on the full ``multi_hardware`` space, accuracy constant, eq. 8 aiming at the 10th
percentile of random architectures' MN-Norm: the argmax lands within 3 % of the target and the
mean top probability is >= 0.9. All four cases (eq. 7 / 8 x p10 / p50) with several seeds:
``benchmarks/perf/latency_only_acceptance.py``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf  # noqa: F401  (a dependency of mhzoo: never skipped)

from mhzoo.search import get_space
from mhzoo.search.cost.folder import load_cost_models, read_reference
from mhzoo.search.tunas.config import get_search_preset
from mhzoo.search.tunas.latency_only import percentile_targets, random_mn_norm, run_case

ROOT = Path(__file__).resolve().parents[3]
COSTS = ROOT / "benchmarks" / "data" / "costmodels"
MODELS = [COSTS / "multi_hardware_cpu_fp32.json", COSTS / "multi_hardware_cpu_int8.json"]


def committed_factors() -> dict[str, float]:
    """MN-Norm factors: reference_ms.json beside the cost models when committed, else the
    MobileNetV1 reference latencies of the committed cpu-proxy search record."""
    ref = read_reference(COSTS)
    if ref is not None:
        return {t: float(v) for t, v in ref["factors_ms"].items()}
    rec = json.loads((ROOT / "benchmarks/perf/results/search_cpu_proxy.json").read_text())
    return {t: float(v) for t, v in rec["factors_ms"].items()}


def test_cpu_proxy_controller_converges_latency_only_eq8_p10():
    space = get_space("multi_hardware")
    models = load_cost_models(MODELS, space)
    factors = committed_factors()
    values = random_mn_norm(space, models, factors, samples=2000, seed=0)
    target = percentile_targets(values, [10])["max"]["p10"]
    assert 0.05 < float(np.mean(values["max"] <= target)) < 0.15  # a 10th percentile
    config = get_search_preset("cpu-proxy")
    rep = run_case(space, models, factors, mode="max", target=target, config=config, seed=0,
                   report_samples=500)
    # the preset's own settings, not a toy
    assert rep["settings"]["steps"] == 1800 and rep["settings"]["samples_per_step"] == 8
    assert rep["settings"]["learning_rate"] == pytest.approx(0.15)
    assert rep["settings"]["delay_fraction"] == 0.25
    assert rep["thresholds"]["argmax_rel_err"] == 0.03
    mt = rep["mean_top_probability"]["active_in_argmax"]
    err = rep["cost"]["argmax_rel_err"]
    assert rep["converged"], (mt, err, rep["cost"])
    assert mt >= 0.9 and abs(err) <= 0.03
