"""Noise ceiling of a timed target: the same architectures re-timed in interleaved passes.

The held-out architectures of a committed collection (rows ``--rows`` of the CSV) are timed
``--passes`` times each with latency collection's own timer and budget (thread CPU time,
``FAST_CONFIG``, direct-writer .tflite); every pass visits them in a new seeded random order,
so slow drifts of the machine spread over all of them. The report gives the share of
architectures whose two single-pass timings agree within 5 % / 10 % (the ceiling any cost model
scored on one-pass labels meets), the same for medians of two passes each, and the agreement
with the committed labels (timed on another day). A cost model cannot beat these shares on
labels of the same protocol.

    python benchmarks/perf/noise_ceiling.py --target cpu_fp32 --passes 4 \
        [--data benchmarks/data/multi_hardware_cpu_latency_idle.csv] [--rows 1000:]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from collection_agreement import agreement

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[0] / "data" / "multi_hardware_cpu_latency_idle.csv"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--rows", default="1000:")
    ap.add_argument("--target", default="cpu_fp32")
    ap.add_argument("--passes", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    if args.passes < 2:
        ap.error("--passes must be >= 2")

    from mhzoo._quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    from mhzoo.benchmarks.measure import spec_tflite_bytes
    from mhzoo.benchmarks.runner import machine_info
    from mhzoo.benchmarks.targets import get_target
    from mhzoo.search import decode_genotype
    from mhzoo.search.latency.collection import FAST_CONFIG
    from mhzoo.search.latency.cputime import measure_tflite_cpu_time

    with args.data.open(newline="") as f:
        rows = list(csv.DictReader(f))
    lo, _, hi = args.rows.partition(":")
    rows = rows[int(lo or 0):int(hi) if hi else None]
    target = get_target(args.target)
    flats = [spec_tflite_bytes(decode_genotype(r["genotype"]), target.quant, input_size=224,
                               num_classes=1000, writer="direct") for r in rows]
    timings = np.zeros((args.passes, len(rows)))
    start = time.time()
    rng = random.Random(args.seed)
    for p in range(args.passes):
        order = list(range(len(rows)))
        rng.shuffle(order)
        for i in order:
            lat = measure_tflite_cpu_time(flats[i], target, config=FAST_CONFIG)
            timings[p, i] = lat.stats["median_ms"]
        print(f"pass {p + 1}/{args.passes} done, {time.time() - start:.0f} s", flush=True)
    labels = np.array([float(r[f"{args.target}_ms"]) for r in rows])
    pairs = [agreement(timings[p], timings[q]) for p in range(args.passes)
             for q in range(p + 1, args.passes)]
    single = {k: statistics.median(d[k] for d in pairs) for k in pairs[0] if k != "n"}
    half = args.passes // 2
    two = agreement(np.median(timings[:half], 0), np.median(timings[half:2 * half], 0)) \
        if half >= 2 else None
    vs_label = agreement(np.median(timings, 0), labels)
    info = machine_info()
    res = {"target": args.target, "rows": args.rows, "n": len(rows), "passes": args.passes,
           "seconds": round(time.time() - start, 1), "machine": info.get("cpu_model"),
           "single_pass_pairs_median": single, "median_of_halves": two,
           "median_vs_committed_label": vs_label,
           "median_ratio_vs_label": float(np.median(np.median(timings, 0) / labels))}
    out = args.out or HERE / "results" / f"noise_ceiling_{args.target}.md"
    lines = [
        f"# Noise ceiling: {args.target}, {len(rows)} held-out architectures x {args.passes} "
        "interleaved passes", "",
        f"`python benchmarks/perf/noise_ceiling.py --target {args.target} --passes "
        f"{args.passes} --rows {args.rows}` on {res['machine']}, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {res['seconds']:.0f} s; "
        "collection's timer (thread CPU time, FAST_CONFIG, direct-writer files), each pass in "
        "a new random order.", "",
        "| comparison | within 5 % | within 10 % | median diff % | max diff % |",
        "|---|---:|---:|---:|---:|"]
    def row(name: str, d: dict[str, float]) -> str:
        return (f"| {name} | {100 * d['within_5pct']:.1f} | {100 * d['within_10pct']:.1f} | "
                f"{100 * d['median_rel_diff']:.1f} | {100 * d['max_rel_diff']:.1f} |")
    lines.append(row("one pass vs another (median over pass pairs)", single))
    if two is not None:
        lines.append(row(f"median of {half} passes vs median of the other {half}", two))
    lines.append(row("median of all passes vs the committed label", vs_label))
    lines += ["", f"Median ratio now / committed label: {res['median_ratio_vs_label']:.3f}.", "",
              "```json", json.dumps(res, indent=1), "```", ""]
    from mhzoo.atomic import atomic_write_text

    atomic_write_text(out, "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
