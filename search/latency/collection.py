"""Latency collection for cost models: many architectures of a space, measured and stored.

``collect`` measures every genotype of a list (seeded samples of a space, or given) on local
targets through :func:`mhzoo.benchmarks.measure_spec`, and takes simulated targets
(``sim_edgetpu``, ...) the same way: their latency is the simulator's layer table, not timed, so
no clock, timing budget or extra pass applies to them and their rows say ``simulated``. One
SQLite row per (concrete spec, target, machine) with the genotype string in the row's
``info``. Every row is its own transaction, so a run killed at any point (even SIGKILL) keeps
only finished rows and a rerun measures only what is missing. ``shard=(i, n)`` keeps the
architectures whose store key hashes to ``i`` modulo ``n`` (:mod:`mhzoo.search.latency.shards`),
so several machines split one collection and
:func:`~mhzoo.search.latency.shards.merge_stores` joins their databases.

Collection timing budget (:data:`FAST_CONFIG`): one warm-up run, then at least 7 timed runs
and 0.2 s, stopping when the 95% interval of the median is within 3% or at 1 s (the latency is
the median). With the direct .tflite writer (0.02-0.7 s per file) a 224-px multi_hardware
architecture costs about 1 s per target; see benchmarks/perf/results/costmodel.md for the
measured throughput. Latency is thread CPU time by default
(:mod:`mhzoo.search.latency.cputime`): on a shared machine the wall time of the same model
varied 4x with the load of other processes.
"""

from __future__ import annotations

import os
import random
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from tqdm import tqdm

from mhzoo.benchmarks.measure import WRITERS, measure_spec, spec_tflite_bytes
from mhzoo.benchmarks.runner import RunConfig, machine_id, measure_tflite
from mhzoo.benchmarks.store import LatencyStore, arch_hash
from mhzoo.benchmarks.targets import Target, get_target, parse_targets
from mhzoo.search.latency.cputime import measure_tflite_cpu_time
from mhzoo.search.latency.shards import shard_of
from mhzoo.search.space import Genotype, Space

__all__ = ["CLOCKS", "FAST_CONFIG", "CollectSummary", "collect", "extra_pass", "sample_genotypes"]

#: latency clocks: thread CPU time (default) or wall time
CLOCKS = ("cpu", "wall")

#: the timing budget of collection runs (see the module docstring)
FAST_CONFIG = RunConfig(warmup_runs=1, warmup_min_s=0.0, min_runs=7, min_time_s=0.2,
                        max_runs=200, max_time_s=1.0, rel_precision=0.03)


@dataclass
class CollectSummary:
    """What one :func:`collect` call did."""

    architectures: int  # in this shard
    measured: int  # rows written now
    cached: int  # rows already in the store
    seconds: float
    measured_archs: int = 0  # architectures with at least one row measured now

    @property
    def archs_per_hour(self) -> float:
        """Architectures (all targets) finished per hour of this run, store hits excluded."""
        return 0.0 if self.seconds <= 0 else 3600.0 * self.measured_archs / self.seconds

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form."""
        return {"architectures": self.architectures, "measured": self.measured,
                "cached": self.cached, "measured_archs": self.measured_archs,
                "seconds": round(self.seconds, 2), "archs_per_hour": round(self.archs_per_hour)}


def sample_genotypes(space: Space, n: int, seed: int = 0) -> list[Genotype]:
    """``n`` uniform samples of ``space`` from one seeded generator (same seed, same list)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"number of architectures must be an integer >= 1, got {n!r}")
    rng = random.Random(seed)
    return [space.sample(rng) for _ in range(n)]


def _num_classes(space: Space) -> int:
    return int(getattr(space, "num_classes", 1000))


def collect(space: Space, genotypes: Sequence[Genotype], targets: str | Iterable[str | Target],
            db: str | os.PathLike, *, input_size: int | None = None,
            num_classes: int | None = None, writer: str = "direct",
            config: RunConfig | None = None, shard: tuple[int, int] = (0, 1),
            progress: bool = True, machine: str | None = None, clock: str = "cpu",
            passes: int = 1, timer: Callable[..., Any] | None = None) -> CollectSummary:
    """Measure ``genotypes`` of ``space`` on local (or simulated) ``targets`` into ``db``.

    Args:
        space: the space the genotypes belong to (its options: input size, strides, width).
        genotypes: the architectures; all are decoded and checked before anything is measured.
        targets: local or simulated target names (``"cpu_fp32,sim_edgetpu"``) or
            :class:`Target` values.
        db: the SQLite results database (created if missing).
        input_size: image size (default the space's ``input_size`` option, else 224).
        num_classes: classifier size (default the space's, else 1000).
        writer: ``"direct"`` (flatbuffer writer, fast) or ``"converter"`` (TF converter).
        config: timing budget (default :data:`FAST_CONFIG`).
        shard: ``(i, n)``: measure only architectures of shard ``i`` of ``n``.
        progress: show a tqdm progress bar (with ETA) on stderr.
        machine: store key of the machine (default :func:`machine_id`).
        clock: ``"cpu"`` (thread CPU time, :mod:`mhzoo.search.latency.cputime`: robust to other
            processes on a shared machine; single-threaded targets) or ``"wall"`` (the
            benchmark harness's wall clock, the paper's protocol on a dedicated device).
        passes: measure every (architecture, target) this many times, in separate passes over
            the whole list (so that a burst of load on a shared machine hits one pass, not all);
            the stored latency is the median of the pass medians, the row keeps every pass's
            median in ``info["pass_medians"]``. A rerun with more passes adds the missing ones.
        timer: the measuring function (default: the one of ``clock``; replaceable in tests).

    Returns:
        A :class:`CollectSummary`.
    """
    ts = parse_targets(targets) if isinstance(targets, str) else [get_target(t) for t in targets]
    if not ts:
        raise ValueError("no targets given")
    remote = [t.name for t in ts if not (t.is_local or t.is_simulated)]
    if remote:
        raise ValueError(f"target(s) {', '.join(remote)} run on a phone; collect them with "
                         "`mhzoo bench --adb` and import the results")
    if writer not in WRITERS:
        raise ValueError(f"unknown writer {writer!r}; expected one of {', '.join(WRITERS)}")
    if isinstance(passes, bool) or not isinstance(passes, int) or passes < 1:
        raise ValueError(f"passes must be an integer >= 1, got {passes!r}")
    if clock not in CLOCKS:
        raise ValueError(f"unknown clock {clock!r}; expected one of {', '.join(CLOCKS)}")
    if timer is None:
        timer = measure_tflite_cpu_time if clock == "cpu" else measure_tflite
        if clock == "cpu":
            multi = [t.name for t in ts if not t.is_simulated and t.threads != 1]
            if multi:
                raise ValueError(f"target(s) {', '.join(multi)} use several threads; measure "
                                 "them with clock 'wall'")
    i_shard, n_shard = shard
    size = input_size or int(space.options.get("input_size") or 224)
    classes = num_classes or _num_classes(space)
    # decode everything first: a bad genotype fails before any measurement
    jobs: list[tuple[Genotype, Any, str]] = []
    seen: set[str] = set()
    for g in genotypes:
        spec = space.decode(g)
        key = arch_hash(spec, size, classes)
        if key in seen or shard_of(key, n_shard) != i_shard:
            continue
        seen.add(key)
        jobs.append((space.genotype(g.indices), spec, key))
    if writer == "converter":
        from mhzoo._quiet import import_tensorflow_quietly  # lazy: no TensorFlow at import time

        import_tensorflow_quietly()
    cfg = config or FAST_CONFIG
    mid = machine or machine_id()
    measured = cached = measured_archs = 0
    t0 = time.perf_counter()
    with LatencyStore(db) as store:
        bar = None
        if progress:
            bar = tqdm(total=len(jobs) * passes, unit="arch", desc=f"collect {space.name}",
                       dynamic_ncols=True, smoothing=0.05)
        new_archs: set[str] = set()
        try:
            for p in range(1, passes + 1):
                for g, spec, key in jobs:
                    for t in ts:
                        if p == 1:
                            res = measure_spec(
                                spec, t, store, input_size=size, num_classes=classes,
                                config=cfg, writer=writer, machine=mid, timer=timer,
                                info={"genotype": g.to_string(), "space": space.name,
                                      "clock": clock, "passes": 1,
                                      "pass_medians": None})
                            done = not res.cached
                            if (done and not t.is_simulated
                                    and res.record.info.get("pass_medians") is None):
                                _fix_first_pass(store, res.record)
                        elif t.is_simulated:  # deterministic: one pass is every pass
                            done = False
                        else:
                            done = extra_pass(store, spec, t, key, mid, p, size, classes,
                                               cfg, writer, timer)
                        if done:
                            measured += 1
                            new_archs.add(key)
                        else:
                            cached += 1
                    if bar is not None:
                        bar.update(1)
        finally:
            if bar is not None:
                bar.close()
    measured_archs = len(new_archs)
    return CollectSummary(len(jobs), measured, cached, time.perf_counter() - t0, measured_archs)


def _fix_first_pass(store: LatencyStore, rec: Any) -> None:
    """Record the first pass's median in a row just written by ``measure_spec``."""
    rec.info["pass_medians"] = [float(rec.median_ms)]
    store.put(rec, replace=True)


def extra_pass(store: LatencyStore, spec: Any, t: Target, key: str, machine: str, p: int,
                size: int, classes: int, cfg: RunConfig, writer: str,
                timer: Callable[..., Any]) -> bool:
    """Pass ``p`` (>= 2) of one stored row: measure again unless the row has ``p`` passes
    already; the row's latency becomes the median of its pass medians. True when measured."""
    rec = store.get(key, 1.0, t.name, machine)
    if rec is None:
        raise ValueError(f"pass {p} found no first-pass row for {key} on {t.name}")
    medians = list(rec.info.get("pass_medians") or [float(rec.median_ms)])
    if len(medians) >= p:
        return False
    flat = spec_tflite_bytes(spec, t.quant, input_size=size, num_classes=classes, writer=writer)
    lat = timer(flat, t, config=cfg)
    medians.append(float(lat.stats["median_ms"]))
    rec.samples_ms = list(rec.samples_ms) + list(lat.samples_ms)
    rec.median_ms = float(statistics.median(medians))
    rec.info["pass_medians"] = medians
    rec.info["passes"] = len(medians)
    store.put(rec, replace=True)
    return True


