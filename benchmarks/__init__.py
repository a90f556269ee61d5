"""mhzoo.benchmarks: the multi-hardware latency harness (targets, store, MN-Norm, reports).

::

    from mhzoo.benchmarks import bench, build_report, read_latency_csv, mn_norm
    bench(["multi_max", "mobilenet_v1"], "cpu_fp32,cpu_int8", db="latency.sqlite")

Modules: ``targets`` (targets as data), ``runner`` (LiteRT timing), ``store`` (SQLite
results), ``sweep`` (``bench`` sweeps, adb sweeps, log import), ``measure`` (``measure_spec``:
one architecture), ``adb`` (phones), ``importers`` (benchmark_model logs, CSV),
``normalization`` (MN-Norm, paper eq. 4-5), ``report`` (Table 1), ``plots`` (Figures 1, 2, 5),
``block_latency`` (per-block latency by prefix timing), ``simulated`` (simulated accelerator
targets: ZigZag per-layer lookup tables), ``quickstart``, ``cli``.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "Target": "targets", "get_target": "targets", "list_targets": "targets",
    "RunConfig": "runner", "measure_tflite": "runner", "machine_info": "runner",
    "LatencyStore": "store", "LatencyRecord": "store", "arch_hash": "store",
    "bench": "sweep", "bench_adb": "sweep", "import_benchmark_output": "sweep",
    "parse_benchmark_model_output": "importers", "read_latency_csv": "importers",
    "mn_norm": "normalization", "mn_norm_avg": "normalization", "mn_norm_max": "normalization",
    "normalization_factors": "normalization",
    "build_report": "report", "render": "report",
    "plot_mn_norm": "plots", "plot_latency_per_target": "plots", "plot_block_shares": "plots",
    "profile_blocks": "block_latency", "run_quickstart": "quickstart",
    "measure_spec": "measure", "MeasureResult": "measure", "spec_tflite_bytes": "measure",
    "simulate_spec": "simulated", "list_sim_targets": "simulated",
    "shipped_sim_targets": "simulated",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"mhzoo.benchmarks.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'mhzoo.benchmarks' has no attribute {name!r}")
