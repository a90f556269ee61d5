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
import time

from mhzoo.benchmarks.runner import (
    LatencyResult,
    RunConfig,
    _fill_inputs,
    _median_ci_width,
    load_interpreter,
    runtime_version,
)
from mhzoo.benchmarks.targets import Target, get_target

__all__ = ["measure_tflite_cpu_time"]


def measure_tflite_cpu_time(model: str | os.PathLike | bytes, target: str | Target | None = None,
                            *, config: RunConfig | None = None) -> LatencyResult:
    """Time ``invoke()`` of a single-threaded target by thread CPU time (same budget rules as
    :func:`mhzoo.benchmarks.runner.measure_tflite`; the budget itself runs on wall time)."""
    t = get_target(target) if target is not None else get_target("cpu_fp32")
    if not t.is_local:
        raise ValueError(f"target {t.name!r} runs on a phone")
    if t.threads != 1:
        raise ValueError(f"target {t.name!r} uses {t.threads} threads; the CPU-time clock only "
                         "measures single-threaded targets (use clock='wall')")
    cfg = config or RunConfig()
    start = time.perf_counter()
    interp = load_interpreter(model, threads=1, delegate=t.delegate)
    _fill_inputs(interp)
    invoke, clock = interp.invoke, time.thread_time_ns
    warm: list[float] = []
    t_end = time.perf_counter() + cfg.warmup_min_s
    while len(warm) < cfg.warmup_runs or time.perf_counter() < t_end:
        c0 = clock()
        invoke()
        warm.append((clock() - c0) / 1e6)
        if len(warm) >= 10_000:
            break
    samples: list[float] = []
    t0 = time.perf_counter()
    min_end, max_end = t0 + cfg.min_time_s, t0 + cfg.max_time_s
    while True:
        c0 = clock()
        invoke()
        samples.append(max((clock() - c0) / 1e6, 1e-6))
        n, now = len(samples), time.perf_counter()
        if n >= cfg.max_runs or now >= max_end:
            break
        if n >= cfg.min_runs and now >= min_end:
            s = sorted(samples)
            if _median_ci_width(s) <= cfg.rel_precision * s[n // 2]:
                break
    return LatencyResult(samples_ms=samples, warmup_ms=warm, threads=1, delegate=t.delegate,
                         pinned_cpus=None, runtime_version=runtime_version(),
                         config={**cfg.to_dict(), "clock": "thread_cpu_time"},
                         wall_s=time.perf_counter() - start)
