"""``measure_spec``: build, export, measure and store the latency of one architecture.

The search side's latency collection calls this thousands of times, so it takes the lean
export path (no fidelity report, no metadata, no file kept) and is keyed by a hash of the
*concrete* spec (every channel count resolved, so the rounding rule is part of the key), the
input size and the classifier size. A second call for the same key is a store hit and measures
nothing.

::

    from mhzoo.benchmarks import LatencyStore, measure_spec
    with LatencyStore("latency.sqlite") as store:
        rec, cached = measure_spec(spec, "cpu_int8", store)
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from mhzoo.benchmarks.runner import RunConfig, machine_id, machine_info, measure_tflite
from mhzoo.benchmarks.store import LatencyRecord, LatencyStore, arch_hash
from mhzoo.benchmarks.targets import Target, get_target
from mhzoo.spec import ArchSpec

__all__ = ["WRITERS", "MeasureResult", "measure_spec", "sim_row_is_current", "simulated_record",
           "spec_tflite_bytes"]

#: how the .tflite of a spec is made: the TF converter (lean path of mhzoo.export) or, where
#: available, the direct flatbuffer writer (mhzoo.export.direct)
WRITERS = ("converter", "direct")


class MeasureResult(tuple):
    """``(record, cached)``: the stored row and whether it was already in the store."""

    __slots__ = ()

    def __new__(cls, record: LatencyRecord, cached: bool) -> MeasureResult:
        return super().__new__(cls, (record, cached))

    @property
    def record(self) -> LatencyRecord:
        """The stored row."""
        return self[0]

    @property
    def cached(self) -> bool:
        """True when the row came from the store (nothing was measured)."""
        return self[1]


def spec_tflite_bytes(spec: ArchSpec, quant: str, *, input_size: int = 224,
                      num_classes: int = 1000, writer: str = "converter") -> bytes:
    """The latency-only .tflite of a concrete spec, made by ``writer`` (see :data:`WRITERS`)."""
    if writer == "converter":
        from mhzoo.export.tflite import tflite_bytes

        return tflite_bytes(spec, quant, input_size=input_size, num_classes=num_classes)
    if writer == "direct":
        from mhzoo.export.direct import spec_to_tflite_bytes

        return spec_to_tflite_bytes(spec, quant=quant, input_size=input_size,
                                    num_classes=num_classes)
    raise ValueError(f"unknown writer {writer!r}; expected one of {', '.join(WRITERS)}")


def simulated_record(spec: ArchSpec, target: Target, *, key: str, width: float, machine: str,
                     model: str, input_size: int = 224, num_classes: int = 1000,
                     info: dict[str, Any] | None = None) -> LatencyRecord:
    """The stored row of a concrete spec on a simulated target: its latency from the layer
    lookup table (:mod:`mhzoo.benchmarks.simulated`), or unsupported (Table 1's "x") when the
    target's compatibility rule set does not run the whole int8 model; the simulated latency is
    then kept in ``info["simulated_ms"]``. ``source`` says it was simulated."""
    from mhzoo.benchmarks.simulated import (
        SIM_SOURCE,
        get_sim_target,
        sim_compatible,
        simulate_spec,
    )
    from mhzoo.benchmarks.simulated.engine import zigzag_version

    st = get_sim_target(target.name)
    res = simulate_spec(spec, st, input_size=input_size, num_classes=num_classes)
    ok, why = sim_compatible(spec, st, input_size=input_size, num_classes=num_classes)
    ms = res.ms
    return LatencyRecord(
        arch_hash=key, width=width, target=target.name, machine=machine, model=model,
        median_ms=ms if ok else None, samples_ms=[], p10_ms=ms if ok else None,
        p90_ms=ms if ok else None, mean_ms=ms if ok else None, supported=ok,
        input_size=input_size, source=SIM_SOURCE, created_at=time.time(),
        info={"simulated": True, "target": target.to_dict(), "sim_target": st.to_dict(),
              "zigzag_version": zigzag_version(), "cycles": res.cycles,
              "simulated_ms": ms, "layers": len(res.layers), "rule_set": st.rule_set,
              "unsupported_because": why, "num_classes": num_classes, **(info or {})})


def sim_row_is_current(rec: LatencyRecord, target: Target) -> bool:
    """Whether a stored simulated row was made with the installed ZigZag and the target's
    current files (a row that was not is simulated again, never reused silently)."""
    if not target.is_simulated:
        return True
    from mhzoo.benchmarks.simulated import get_sim_target
    from mhzoo.benchmarks.simulated.engine import zigzag_version

    info = rec.info or {}
    return (info.get("zigzag_version") == zigzag_version() and
            (info.get("sim_target") or {}).get("target_sha256")
            == get_sim_target(target.name).sha256)


def measure_spec(spec: ArchSpec, target: str | Target, store: LatencyStore | str | os.PathLike,
                 *, input_size: int = 224, num_classes: int = 1000,
                 config: RunConfig | None = None, writer: str = "converter",
                 model: str | None = None, info: dict[str, Any] | None = None,
                 machine: str | None = None,
                 timer: Callable[..., Any] = measure_tflite) -> MeasureResult:
    """Latency of one concrete spec on a local or simulated target, stored once.

    A simulated target (``sim_*``) is not timed: its latency is the sum of the spec's layer
    cycles from the lookup table over the target's clock (milliseconds, deterministic), and
    ``config``, ``writer`` and ``timer`` do not apply.

    Args:
        spec: a concrete ``ArchSpec`` (e.g. ``scale_spec(base, width, divisible_by)`` or a
            search space's ``decode(genotype)``), built at width 1.0.
        target: a local or simulated target name or :class:`Target` (``cpu_fp32``,
            ``cpu_int8``, ``sim_edgetpu``, ...).
        store: an open :class:`LatencyStore` or a database path.
        input_size: square input resolution.
        num_classes: classifier size.
        config: timing budget.
        writer: ``"converter"`` (TF converter, lean path) or ``"direct"`` (flatbuffer writer).
        model: the row's model label (default the spec's name).
        info: extra facts stored with the row (e.g. the genotype).
        machine: store key of the machine (default this one's :func:`machine_id`).
        timer: the measuring function (the LiteRT harness; replaceable in tests).

    Returns:
        :class:`MeasureResult` ``(record, cached)``.
    """
    if not isinstance(spec, ArchSpec):
        raise ValueError(f"measure_spec needs a concrete ArchSpec, got {type(spec).__name__}")
    t = target if isinstance(target, Target) else get_target(target)
    if not (t.is_local or t.is_simulated):
        raise ValueError(f"target {t.name!r} runs on a phone; measure_spec times local targets")
    if isinstance(input_size, bool) or not isinstance(input_size, int) or input_size < 32:
        raise ValueError(f"input size must be an integer >= 32, got {input_size!r}")
    if writer not in WRITERS:
        raise ValueError(f"unknown writer {writer!r}; expected one of {', '.join(WRITERS)}")
    own = not isinstance(store, LatencyStore)
    db = LatencyStore(store) if own else store
    try:
        key = arch_hash(spec, input_size, num_classes)
        mid = machine or machine_id()
        rec = db.get(key, 1.0, t.name, mid)
        if rec is not None and sim_row_is_current(rec, t):
            return MeasureResult(rec, True)
        if t.is_simulated:
            rec = simulated_record(spec, t, key=key, width=1.0, machine=mid,
                                   model=model or spec.name, input_size=input_size,
                                   num_classes=num_classes, info=info)
            db.put(rec, replace=True)
            return MeasureResult(rec, False)
        t0 = time.perf_counter()
        flat = spec_tflite_bytes(spec, t.quant, input_size=input_size, num_classes=num_classes,
                                 writer=writer)
        export_s = time.perf_counter() - t0
        lat = timer(flat, t, config=config or RunConfig())
        st = lat.stats
        rec = LatencyRecord(
            arch_hash=key, width=1.0, target=t.name, machine=mid, model=model or spec.name,
            median_ms=float(st["median_ms"]), samples_ms=list(lat.samples_ms),
            p10_ms=float(st["p10_ms"]), p90_ms=float(st["p90_ms"]),
            mean_ms=float(st["mean_ms"]), supported=True, input_size=input_size,
            source="litert", created_at=time.time(),
            info={"machine_info": machine_info(), "target": t.to_dict(), "writer": writer,
                  "export_seconds": round(export_s, 4), "tflite_bytes": len(flat),
                  "num_classes": num_classes, "spec": spec.to_dict(), **(info or {})})
        db.put(rec)
        return MeasureResult(rec, False)
    finally:
        if own:
            db.close()
