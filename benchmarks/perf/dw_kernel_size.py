"""Latency vs depthwise kernel size on two CPU kernel libraries (XNNPACK vs TFLite built-ins).

Run: python benchmarks/perf/dw_kernel_size.py [-o results.md]

A tiny network (3x3 stem, two inverted bottlenecks with kernel k, e6, 40 channels, 56x56 input)
is exported float32 and int8_full with mhzoo.export and timed with the harness
(mhzoo.benchmarks.runner.measure_tflite, 1 thread, pinned) with XNNPACK and with the built-in
kernels (delegate "none"). It shows why the paper's multi-hardware search space leaves 7x7 out:
a kernel size that one backend handles well can fall off a cliff on another.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import load_note

import mhzoo
from mhzoo.benchmarks.exporting import captured_output
from mhzoo.benchmarks.runner import machine_info, measure_tflite
from mhzoo.export import to_tflite
from mhzoo.models import table
from mhzoo.spec import ArchSpec


def tiny(k: int) -> ArchSpec:
    return ArchSpec(f"dw_k{k}", table("conv_k3_s1_c40_relu6", f"ib_k{k}_s1_e6_c40_relu6",
                                      f"ib_k{k}_s1_e6_c40_relu6", "conv_k1_s1_c64_relu6"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", help="also write the markdown report here")
    args = ap.parse_args()
    info = machine_info()
    calib = np.random.default_rng(0).uniform(0, 255, (8, 56, 56, 3)).astype("float32")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in (3, 5, 7):
            with captured_output():
                model = mhzoo.build(tiny(k), input_shape=(56, 56, 3), num_classes=10)
            for quant in ("float32", "int8_full"):
                path = Path(tmp) / f"k{k}_{quant}.tflite"
                with captured_output():
                    to_tflite(model, path, quant=quant, representative_data=calib,
                              fidelity_images=1)
                ms = {d: measure_tflite(path, "cpu_fp32", delegate=d).median_ms
                      for d in ("xnnpack", "none")}
                rows.append((k, quant, ms["xnnpack"], ms["none"]))
                print(f"k{k} {quant:9s} xnnpack {ms['xnnpack']:8.2f} ms  built-in "
                      f"{ms['none']:8.2f} ms", flush=True)
    lines = [
        "# Depthwise kernel size vs CPU kernel library",
        "",
        f"- date: {time.strftime('%Y-%m-%d %H:%M:%S')}",
        f"- machine: {info['cpu_model']} ({info['arch']}); LiteRT {info['runtime_version']}",
        f"- {load_note()}",
        "- command: `python benchmarks/perf/dw_kernel_size.py`; network: 3x3 stem, 2 x "
        "inverted bottleneck (k, e6, 40 ch), 56x56 input, random weights; 1 thread, median",
        "",
        "| depthwise k | model | XNNPACK (ms) | built-in kernels (ms) | XNNPACK / built-in |",
        "|---|---|---:|---:|---:|",
    ]
    lines += [f"| {k}x{k} | {q} | {x:.2f} | {b:.2f} | {x / b:.2f} |" for k, q, x, b in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.output:
        from mhzoo.atomic import atomic_write_text

        atomic_write_text(args.output, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
