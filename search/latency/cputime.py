"""A latency timer for shared, loaded machines: per-invocation *thread CPU time*.

``mhzoo.benchmarks.measure_tflite`` times ``invoke()`` by wall clock, the paper's protocol on a
dedicated phone. On a shared machine whose cores other processes also use, the wall time of a
single-threaded inference includes the time the thread waited for a core: on this project's
2-core machine at load average 5-6 the same model measured 38 ms in one minute and 140 ms a few
minutes later. With one interpreter thread (XNNPACK runs in the calling thread), the CPU time
of that thread (``CLOCK_THREAD_CPUTIME_ID``) counts only the time the inference ran, so it is
the latency of an unloaded core up to cache and memory-bandwidth interference, and it is what
latency collection for cost models uses by default (``clock="cpu"``). Multi-threaded targets
are refused: their work runs in other threads.

The interpreter, its inputs and the stopping rule are the harness's
(:mod:`mhzoo.benchmarks.runner`); only the clock differs.
"""

from __future__ import annotations

import os

from mhzoo.benchmarks.runner import LatencyResult, RunConfig, measure_tflite
from mhzoo.benchmarks.targets import Target, get_target

__all__ = ["measure_tflite_cpu_time"]


def measure_tflite_cpu_time(model: str | os.PathLike | bytes, target: str | Target | None = None,
                            *, config: RunConfig | None = None) -> LatencyResult:
    """Time ``invoke()`` of a single-threaded target by thread CPU time: the harness's
    :func:`mhzoo.benchmarks.runner.measure_tflite` with ``clock="thread_cpu"`` (same
    interpreter, inputs, pinning and stopping rule; the budget itself runs on wall time)."""
    t = get_target(target) if target is not None else get_target("cpu_fp32")
    if t.is_simulated:
        raise ValueError(f"target {t.name!r} is simulated: its latency is the simulator's "
                         "(mhzoo.benchmarks.measure_spec), not timed")
    if not t.is_local:
        raise ValueError(f"target {t.name!r} runs on a phone")
    return measure_tflite(model, t, config=config, clock="thread_cpu")
