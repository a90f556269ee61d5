"""Three repeated harness runs on one target: max/min of the medians (target <= 1.05).

Each run is a fresh interpreter and a full measurement with the default budget, exactly what
`mhzoo bench` does per row.

    python benchmarks/perf/repeatability.py [--models multi_max] [--target cpu_fp32]
        [--repeats 3] [--out benchmarks/perf/results/repeatability.md]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import EXPORTER, load_note, make_tflite


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="multi_max,mobilenet_v1")
    ap.add_argument("--targets", default="cpu_fp32,cpu_int8")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "mhzoo-perf"))
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"
                                         / "repeatability.md"))
    args = ap.parse_args()

    from mhzoo._quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    from mhzoo.atomic import atomic_write_text
    from mhzoo.benchmarks.runner import RunConfig, machine_info, measure_tflite
    from mhzoo.benchmarks.targets import get_target

    cfg = RunConfig()
    rows = []
    for model in args.models.split(","):
        for tname in args.targets.split(","):
            t = get_target(tname)
            path = make_tflite(model, 1.0, t.quant, Path(args.workdir))
            meds, p10s, p90s, ns = [], [], [], []
            for _ in range(args.repeats):
                r = measure_tflite(path, t, config=cfg)
                st = r.stats
                meds.append(st["median_ms"])
                p10s.append(st["p10_ms"])
                p90s.append(st["p90_ms"])
                ns.append(st["n"])
            spread = max(meds) / min(meds)
            rows.append((model, tname, meds, p10s, p90s, ns, spread))
            print(f"{model:14s} {tname:9s} medians "
                  + ", ".join(f"{m:.3f}" for m in meds) + f" ms; max/min {spread:.3f}",
                  flush=True)
    info = machine_info()
    lines = [
        "# Repeatability: three runs of the harness on one target", "",
        f"- date: {time.strftime('%Y-%m-%d %H:%M:%S')}",
        f"- machine: {info['cpu_model']} ({info['arch']}), {info['cpus_allowed']} CPUs "
        f"allowed, {info['os']}; LiteRT {info['runtime_version']}",
        f"- models: built with mhzoo.build (random weights, 224x224), exported with "
        f"{EXPORTER['used']}",
        f"- {load_note()}.",
        f"- command: `python benchmarks/perf/repeatability.py --models {args.models} "
        f"--targets {args.targets} --repeats {args.repeats}`",
        f"- budget per run: the default RunConfig ({cfg.to_dict()})", "",
        "| model | target | medians (ms) | p10 / p90 of run 1 (ms) | runs | max/min |",
        "|---|---|---|---|---|---:|"]
    for m, t, meds, p10s, p90s, ns, spread in rows:
        lines.append(f"| {m} | {t} | {', '.join(f'{x:.3f}' for x in meds)} | "
                     f"{p10s[0]:.3f} / {p90s[0]:.3f} | {', '.join(map(str, ns))} | "
                     f"{spread:.3f} |")
    ok = sum(r[-1] <= 1.05 for r in rows)
    lines += ["", f"{ok} of {len(rows)} (model, target) pairs have max/min of the medians "
              "<= 1.05 (target on an idle machine)."]
    atomic_write_text(args.out, "\n".join(lines) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
