"""Core report: build time per model (both frameworks) and the profiler's agreement with Keras.

Run: python benchmarks/perf/core_bench.py [--widths 1.0,0.75] [--repeats 3] [-o results.md]

Build time is wall time of ``mhzoo.build`` (graph construction, no weights download), median of
``--repeats`` builds after one warm-up build of the same model. Agreement compares the spec-derived
counts of ``mhzoo.profile`` with ``count_params()`` of the built Keras 3 / tf_keras models.
This is a report, not a test: it prints figures and never fails on speed.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time

import mhzoo
from mhzoo._quiet import import_tensorflow_quietly
from mhzoo.benchmarks.runner import machine_info


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--widths", default="1.0")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("-o", "--output", help="also write the markdown report here")
    args = ap.parse_args()
    import_tensorflow_quietly()
    import tensorflow as tf

    widths = [float(w) for w in args.widths.split(",")]
    lines = [
        "# Core report: build time and count agreement",
        "",
        f"Machine: {machine_info()['cpu_model']}, {platform.machine()}, "
        f"Python {platform.python_version()}, "
        f"TensorFlow {tf.__version__}. Command: `python {' '.join(sys.argv)}`",
        "",
        "| model | width | build keras (s, median) | build tf_keras (s, median) | "
        "params (Table-1, M) | MAdds (M) | Keras params | spec == Keras (keras / tf_keras) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    all_ok = True
    for name in mhzoo.list_models():
        for width in widths:
            row = [name, f"{width:g}"]
            counts = []
            for fw in ("keras", "tf_keras"):
                mhzoo.build(name, width, framework=fw)  # warm-up
                times = []
                for _ in range(args.repeats):
                    t0 = time.perf_counter()
                    model = mhzoo.build(name, width, framework=fw, num_classes=1001)
                    times.append(time.perf_counter() - t0)
                row.append(f"{statistics.median(times):.2f}")
                counts.append(model.count_params())
            prof = mhzoo.profile(name, width)
            ok = [c == prof.keras_params for c in counts]
            all_ok &= all(ok)
            row += [f"{prof.params_m:.4f}", f"{prof.madds_m:.1f}", f"{prof.keras_params:,}",
                    " / ".join("yes" if o else "NO" for o in ok)]
            lines.append("| " + " | ".join(row) + " |")
            print(lines[-1], flush=True)
    lines += ["", f"All counts agree: {'yes' if all_ok else 'NO'}"]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.output:
        from mhzoo.atomic import atomic_write_text

        atomic_write_text(args.output, text)
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
