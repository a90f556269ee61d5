"""Latency of a .tflite on this machine with LiteRT (``ai_edge_litert.interpreter``).

Protocol (the paper's, section 7.1): batch 1, one thread unless the target says otherwise,
random input of the model's own dtype set once, warm-up runs, then timed ``invoke()`` calls
until an iteration/time budget is met and the median is known to a relative precision.
The latency is the median (robust to the outliers a shared machine produces); p10/p90 and the
raw samples are kept. The calling thread (and so the interpreter's worker threads, created
from it) is pinned to ``threads`` CPUs with ``os.sched_setaffinity`` where the OS allows.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mhzoo.benchmarks.targets import Target, get_target

__all__ = ["CLOCKS", "LatencyResult", "RunConfig", "load_interpreter", "machine_id", "machine_info",
           "measure_tflite", "runtime_version", "summarize"]


#: timing clocks of :func:`measure_tflite`: wall time (the paper's protocol) or the calling
#: thread's CPU time (robust to other processes on a shared machine; one thread only)
CLOCKS = {"wall": time.perf_counter_ns, "thread_cpu": time.thread_time_ns}


@dataclass(frozen=True)
class RunConfig:
    """Iteration / time budget of one measurement.

    The timed loop runs at least ``min_runs`` times and ``min_time_s`` seconds, then stops as
    soon as the 95% confidence interval of the median is narrower than ``rel_precision`` of the
    median, or at ``max_runs`` / ``max_time_s``, whichever comes first.
    """

    warmup_runs: int = 3
    warmup_min_s: float = 0.2
    min_runs: int = 20
    min_time_s: float = 1.0
    max_runs: int = 2000
    max_time_s: float = 10.0
    rel_precision: float = 0.01
    pin: bool = True

    def __post_init__(self) -> None:
        for name in ("warmup_runs", "min_runs", "max_runs"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < (0 if name == "warmup_runs"
                                                                      else 1):
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if self.max_runs < self.min_runs:
            raise ValueError(f"max_runs ({self.max_runs}) must be >= min_runs ({self.min_runs})")
        for name in ("warmup_min_s", "min_time_s", "max_time_s", "rel_precision"):
            v = getattr(self, name)
            if not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
                raise ValueError(f"{name} must be a number >= 0, got {v!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (stored with each result)."""
        return asdict(self)


def summarize(samples_ms: Sequence[float]) -> dict[str, float | int]:
    """Median, p10/p90, mean, min/max, MAD and the number of outliers of latency samples.

    Outliers are samples above ``median + 5 * 1.4826 * MAD`` (a robust z-score of 5); they are
    counted, not dropped, since the median already ignores them.
    """
    a = np.asarray(samples_ms, dtype=np.float64)
    if a.size == 0:
        raise ValueError("no latency samples")
    if not np.all(np.isfinite(a)) or np.any(a <= 0):
        raise ValueError("latency samples must be finite and > 0 ms")
    med = float(np.median(a))
    mad = float(np.median(np.abs(a - med)))
    limit = med + 5 * 1.4826 * mad
    p10, p90 = (float(v) for v in np.percentile(a, [10, 90]))
    return {"median_ms": med, "p10_ms": p10, "p90_ms": p90, "mean_ms": float(a.mean()),
            "min_ms": float(a.min()), "max_ms": float(a.max()), "mad_ms": mad,
            "n": int(a.size), "n_outliers": int(np.sum(a > limit)) if mad > 0 else 0}


def _median_ci_width(sorted_ms: list[float]) -> float:
    """Width of the ~95% distribution-free confidence interval of the median."""
    n = len(sorted_ms)
    half = 1.96 * math.sqrt(n) / 2
    lo = max(0, math.floor(n / 2 - half))
    hi = min(n - 1, math.ceil(n / 2 + half))
    return sorted_ms[hi] - sorted_ms[lo]


@dataclass
class LatencyResult:
    """One measurement: raw samples plus how they were taken."""

    samples_ms: list[float]
    warmup_ms: list[float]
    threads: int
    delegate: str
    pinned_cpus: list[int] | None
    runtime: str = "ai_edge_litert"
    runtime_version: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    wall_s: float = 0.0

    @property
    def stats(self) -> dict[str, float | int]:
        """:func:`summarize` of the samples."""
        return summarize(self.samples_ms)

    @property
    def median_ms(self) -> float:
        """The latency: median of the timed runs, in milliseconds."""
        return float(self.stats["median_ms"])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (stats included)."""
        d = asdict(self)
        d.update(self.stats)
        return d


def runtime_version() -> str:
    """Version of the installed ``ai-edge-litert``."""
    try:
        from importlib.metadata import version

        return version("ai-edge-litert")
    except Exception:  # pragma: no cover - metadata missing in odd installs
        import ai_edge_litert

        return str(getattr(ai_edge_litert, "__version__", "unknown"))


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def machine_info() -> dict[str, Any]:
    """What a local latency figure depends on: CPU model, cores, OS, Python and LiteRT."""
    try:
        allowed = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        allowed = os.cpu_count() or 1
    return {
        "machine": machine_id(),
        "cpu_model": _cpu_model(),
        "arch": platform.machine(),
        "cpu_count": os.cpu_count() or 1,
        "cpus_allowed": allowed,
        "os": platform.platform(),
        "python": platform.python_version(),
        "runtime": "ai_edge_litert",
        "runtime_version": runtime_version(),
    }


def machine_id() -> str:
    """Stable key of this kind of machine in the results store: CPU model, arch and LiteRT.

    The host name is left out on purpose: a container rebuilt on the same hardware keeps its
    finished results.
    """
    return f"{_cpu_model()} | {platform.machine()} | litert {runtime_version()}"


def _choose_cpus(n: int) -> list[int] | None:
    try:
        allowed = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None
    if len(allowed) < n:
        return None
    # CPU 0 usually takes most interrupts: take the last CPUs.
    return allowed[-n:]


def load_interpreter(model: str | os.PathLike | bytes, *, threads: int = 1,
                     delegate: str = "xnnpack") -> Any:
    """An allocated ``ai_edge_litert`` interpreter; ``ValueError`` for a file that is not a
    valid .tflite model."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    kwargs: dict[str, Any] = {"num_threads": threads}
    if delegate == "none":
        kwargs["experimental_op_resolver_type"] = (
            OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    elif delegate != "xnnpack":
        raise ValueError(f"delegate {delegate!r} is not available on this machine "
                         "(phone delegates run through `mhzoo bench --adb`)")
    if isinstance(model, bytes | bytearray):
        kwargs["model_content"] = bytes(model)
        label = "model bytes"
    else:
        path = Path(model)
        if not path.is_file():
            raise FileNotFoundError(f"model file not found: {path}")
        kwargs["model_path"] = str(path)
        label = str(path)
    from mhzoo.export._quiet import captured_output

    try:
        with captured_output():  # LiteRT prints an INFO line on stderr when it loads XNNPACK
            interp = Interpreter(**kwargs)
            interp.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"cannot load {label}: not a valid .tflite model ({first})") from None
    return interp


def _fill_inputs(interp: Any, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for d in interp.get_input_details():
        shape = [1 if s < 0 else int(s) for s in d["shape"]]
        dtype = np.dtype(d["dtype"])
        if np.issubdtype(dtype, np.floating):
            x = rng.uniform(0.0, 255.0, shape).astype(dtype)  # models take RGB in [0, 255]
        elif np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            x = rng.integers(max(info.min, -128), min(info.max, 255), shape,
                             endpoint=True).astype(dtype)
        elif dtype == np.bool_:
            x = rng.integers(0, 2, shape).astype(bool)
        else:
            raise ValueError(f"unsupported input dtype {dtype} in model")
        interp.set_tensor(d["index"], x)


def measure_tflite(model: str | os.PathLike | bytes, target: str | Target | None = None, *,
                   threads: int | None = None, delegate: str | None = None,
                   config: RunConfig | None = None, clock: str = "wall") -> LatencyResult:
    """Time one .tflite model on this machine.

    Args:
        model: path to a .tflite file (or its bytes).
        target: a local target (its threads and delegate are used); default ``cpu_fp32``'s
            settings: 1 thread, XNNPACK.
        threads, delegate: override the target's settings.
        config: iteration / time budget.
        clock: ``"wall"`` (the paper's protocol) or ``"thread_cpu"``: per-invocation CPU time of
            the calling thread, for shared machines (single-threaded targets only, since
            XNNPACK's extra threads would go uncounted; see
            :mod:`mhzoo.search.latency.cputime`). The budget itself always runs on wall time.

    Returns:
        A :class:`LatencyResult` whose ``median_ms`` is the latency.
    """
    t = get_target(target) if target is not None else get_target("cpu_fp32")
    if not t.is_local:
        raise ValueError(f"target {t.name!r} runs on a phone; use `mhzoo bench --adb`")
    threads = t.threads if threads is None else threads
    delegate = t.delegate if delegate is None else delegate
    cfg = config or RunConfig()
    if clock not in CLOCKS:
        raise ValueError(f"unknown clock {clock!r}; expected one of {', '.join(CLOCKS)}")
    if clock == "thread_cpu" and threads != 1:
        raise ValueError(f"target {t.name!r} uses {threads} threads; the CPU-time clock only "
                         "measures single-threaded targets (use clock='wall')")
    start_wall = time.perf_counter()

    pinned: list[int] | None = None
    saved_affinity = None
    if cfg.pin:
        pinned = _choose_cpus(threads)
        if pinned is not None:
            try:
                saved_affinity = os.sched_getaffinity(0)
                os.sched_setaffinity(0, pinned)
            except OSError:
                pinned, saved_affinity = None, None
    try:
        interp = load_interpreter(model, threads=threads, delegate=delegate)
        _fill_inputs(interp)
        invoke = interp.invoke
        now_ns = CLOCKS[clock]

        warm: list[float] = []
        t_end = time.perf_counter() + cfg.warmup_min_s
        while len(warm) < cfg.warmup_runs or time.perf_counter() < t_end:
            t0 = now_ns()
            invoke()
            warm.append((now_ns() - t0) / 1e6)
            if len(warm) >= 10_000:
                break

        samples: list[float] = []
        t_start = time.perf_counter()
        min_end, max_end = t_start + cfg.min_time_s, t_start + cfg.max_time_s
        while True:
            t0 = now_ns()
            invoke()
            # floor at 1 ns: a thread clock's tick can be coarser than a tiny model's run
            samples.append(max((now_ns() - t0) / 1e6, 1e-6))
            n = len(samples)
            now = time.perf_counter()
            if n >= cfg.max_runs or now >= max_end:
                break
            if n >= cfg.min_runs and now >= min_end and n % 10 == 0:
                s = sorted(samples)
                if _median_ci_width(s) <= cfg.rel_precision * s[n // 2]:
                    break
    finally:
        if saved_affinity is not None:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(0, saved_affinity)
    return LatencyResult(samples_ms=samples, warmup_ms=warm, threads=threads, delegate=delegate,
                         pinned_cpus=pinned, runtime_version=runtime_version(),
                         config=cfg.to_dict() if clock == "wall" else
                         {**cfg.to_dict(), "clock": "thread_cpu_time"},
                         wall_s=time.perf_counter() - start_wall)
