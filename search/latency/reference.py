"""The MN-Norm factors ``C_i`` measured here: the reference model's latency (MobileNetV1 1.0 by
default, paper section 6.2) on each local target, timed like the latency collection, or on a
simulated target, simulated (its layer table, no clock), stored in the same results database."""

from __future__ import annotations

import os
from collections.abc import Sequence

from mhzoo.benchmarks import measure_spec, normalization_factors
from mhzoo.benchmarks.runner import machine_id, measure_tflite
from mhzoo.benchmarks.store import LatencyStore, arch_hash
from mhzoo.benchmarks.targets import get_target
from mhzoo.registry import get_spec
from mhzoo.search.latency.collection import FAST_CONFIG, extra_pass
from mhzoo.search.latency.cputime import measure_tflite_cpu_time
from mhzoo.widths import scale_spec

__all__ = ["reference_factors"]


def reference_factors(targets: Sequence[str], store: str | os.PathLike, *,
                      reference: str = "mobilenet_v1", width: float = 1.0,
                      input_size: int = 224, num_classes: int = 1000,
                      writer: str = "direct", clock: str = "cpu",
                      passes: int = 1) -> dict[str, float]:
    """``C_i``: the reference model's latency on each local target, timed like the collection
    (``clock`` ``"cpu"``: thread CPU time, or ``"wall"``; ``passes`` separate timings, each with
    a new interpreter, the median of their medians, as ``collect(passes=...)`` stores), or
    simulated on a simulated target (its latency even where the target's rule set refuses the
    model, Table 1's "x"); stored once (a rerun with more passes adds the missing ones)."""
    if isinstance(passes, bool) or not isinstance(passes, int) or passes < 1:
        raise ValueError(f"passes must be an integer >= 1, got {passes!r}")
    spec = scale_spec(get_spec(reference), width)
    timer = measure_tflite_cpu_time if clock == "cpu" else measure_tflite
    ms: dict[str, float] = {}
    for t in targets:
        rec = measure_spec(spec, t, store, input_size=input_size, num_classes=num_classes,
                           writer=writer, config=FAST_CONFIG, model=reference,
                           timer=timer, info={"clock": clock, "passes": 1}).record
        target = get_target(t)
        if passes > 1 and not target.is_simulated:
            key, mid = arch_hash(spec, input_size, num_classes), machine_id()
            with LatencyStore(store) as s:
                for p in range(2, passes + 1):
                    extra_pass(s, spec, target, key, mid, p, input_size, num_classes,
                               FAST_CONFIG, writer, timer)
                rec = s.get(key, 1.0, target.name, mid) or rec
        v = rec.median_ms if rec.median_ms is not None else (rec.info or {}).get("simulated_ms")
        if v is None:
            raise ValueError(f"{reference} has no latency on {t}")
        ms[t] = float(v)
    return normalization_factors(ms)
