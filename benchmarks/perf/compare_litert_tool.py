"""Harness median vs LiteRT's own benchmark tool, measured side by side in one run.

LiteRT ships ``ai_edge_litert/tools/benchmark_litert_model.py`` (CompiledModel API, CPU,
prints median/p5/p95). For each model file this script alternates rounds: the mhzoo harness
(``mhzoo.benchmarks.runner.measure_tflite``, Interpreter API) and the tool in a subprocess pinned
with ``taskset`` to the same CPU, and reports median(harness) / median(tool) per round and
overall. Target: within 5% (ratio in [0.95, 1.05]).

    python benchmarks/perf/compare_litert_tool.py [--models multi_max,mobilenet_v1]
        [--rounds 3] [--runs 200] [--out benchmarks/perf/results/harness_vs_litert_tool.md]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import EXPORTER, load_note, make_tflite


def tool_median(path: Path, runs: int, cpu: int | None) -> float:
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "r.json"
        cmd = [sys.executable, "-m", "ai_edge_litert.tools.benchmark_litert_model",
               f"--model={path}", f"--num_runs={runs}", "--warmup_runs=5", "--num_threads=1",
               f"--result_json={out}"]
        if cpu is not None and shutil.which("taskset"):
            cmd = ["taskset", "-c", str(cpu), *cmd]
        subprocess.run(cmd, check=True, capture_output=True, text=True)
        return float(json.loads(out.read_text())["latency"]["median_ms"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="multi_max,mobilenet_v1")
    ap.add_argument("--quants", default="float32,int8_full")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "mhzoo-perf"))
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"
                                         / "harness_vs_litert_tool.md"))
    args = ap.parse_args()

    from mhzoo._quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    from mhzoo.atomic import atomic_write_text
    from mhzoo.benchmarks.runner import RunConfig, machine_info, measure_tflite

    cfg = RunConfig(warmup_runs=5, warmup_min_s=0.0, min_runs=args.runs, max_runs=args.runs,
                    min_time_s=0.0, max_time_s=600.0, rel_precision=0.0)
    rows, ratios_all = [], []
    for model in args.models.split(","):
        for quant in args.quants.split(","):
            path = make_tflite(model, 1.0, quant, Path(args.workdir))
            for rnd in range(args.rounds):
                h = measure_tflite(path, "cpu_fp32", config=cfg)
                cpu = h.pinned_cpus[0] if h.pinned_cpus else None
                t = tool_median(path, args.runs, cpu)
                ratio = h.median_ms / t
                ratios_all.append(ratio)
                rows.append((model, quant, rnd + 1, h.median_ms, t, ratio, cpu))
                print(f"{model:14s} {quant:9s} round {rnd + 1}: harness {h.median_ms:.3f} ms, "
                      f"tool {t:.3f} ms, ratio {ratio:.3f}", flush=True)
    overall = statistics.median(ratios_all)
    within = sum(0.95 <= r <= 1.05 for r in ratios_all)
    info = machine_info()
    lines = [
        "# Harness median vs LiteRT's benchmark tool (same run, same CPU)", "",
        f"- date: {time.strftime('%Y-%m-%d %H:%M:%S')}",
        f"- machine: {info['cpu_model']} ({info['arch']}), {info['cpus_allowed']} CPUs "
        f"allowed, {info['os']}; LiteRT {info['runtime_version']}, Python {info['python']}",
        f"- models: built with mhzoo.build (random weights, 224x224), exported with "
        f"{EXPORTER['used']}",
        f"- {load_note()}.",
        f"- command: `python benchmarks/perf/compare_litert_tool.py --models {args.models} "
        f"--quants {args.quants} --rounds {args.rounds} --runs {args.runs}`",
        "- harness: `mhzoo.benchmarks.runner.measure_tflite` (Interpreter, XNNPACK, 1 thread, "
        f"pinned), {args.runs} timed runs; tool: `python -m ai_edge_litert.tools."
        f"benchmark_litert_model --num_runs={args.runs} --warmup_runs=5 --num_threads=1` "
        "(CompiledModel, CPU accelerator) under `taskset -c <same CPU>`", "",
        "| model | quant | round | harness median (ms) | tool median (ms) | ratio |",
        "|---|---|---:|---:|---:|---:|"]
    lines += [f"| {m} | {q} | {r} | {h:.3f} | {t:.3f} | {x:.3f} |"
              for m, q, r, h, t, x, _ in rows]
    lines += ["", f"**Median ratio harness/tool: {overall:.3f}**; {within} of {len(ratios_all)} "
              "rounds within 5% (target: ratio in [0.95, 1.05])."]
    atomic_write_text(args.out, "\n".join(lines) + "\n")
    print(f"median ratio {overall:.3f}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
