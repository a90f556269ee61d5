"""Export benchmark: wall time of every quantization mode for Multi-MAX 1.0 at 224x224, and the
fidelity of the integer exports against the float Keras model, measured on LiteRT.

A script, not a test::

    python benchmarks/perf/export_bench.py [--images 16] [--repeats 1] [--qat-steps 10] \
        [--out benchmarks/perf/results/export_bench.md]

Weights are random (with non-trivial batch-norm statistics), so the fidelity figures measure the
conversion, not ImageNet accuracy. Calibration / evaluation images: scikit-image's bundled
photographs plus generated colour fields.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _images(n: int) -> list[np.ndarray]:
    import skimage.data

    names = ["astronaut", "chelsea", "coffee", "rocket", "motorcycle_left", "cat", "hubble",
             "immunohistochemistry"]
    photos = []
    for name in names:
        fn = getattr(skimage.data, name, None)
        if fn is None:
            continue
        img = fn()
        img = img[0] if isinstance(img, tuple) else img
        if img.ndim == 3 and img.shape[-1] == 3:
            photos.append(np.ascontiguousarray(img))
    rng = np.random.default_rng(0)
    while len(photos) < n:
        y, x = np.mgrid[0:224, 0:224] / 224.0
        base = rng.uniform(0, 255, 3)
        img = base + 80 * np.stack([np.sin(6 * x + rng.uniform(0, 6)),
                                    np.cos(5 * y + rng.uniform(0, 6)), np.sin(4 * (x + y))], -1)
        photos.append(np.clip(img, 0, 255).astype(np.uint8))
    return photos[:n]


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import tensorflow as tf

    return (f"{cpu}, {os.cpu_count()} cores visible, Python {platform.python_version()}, "
            f"TensorFlow {tf.__version__}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="multi_max")
    ap.add_argument("--images", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--qat-steps", type=int, default=10)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)

    from mhzoo._quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    import mhzoo
    from mhzoo.export import QUANT_MODES, to_tflite

    model = mhzoo.build(args.model, classifier_activation=None)
    rng = np.random.default_rng(1)
    for layer in model.layers:  # non-trivial BN statistics (random weights otherwise)
        if type(layer).__name__ == "BatchNormalization":
            n = layer.gamma.shape[0]
            layer.gamma.assign(rng.uniform(0.5, 1.5, n).astype("float32"))
            layer.beta.assign(rng.normal(0, 0.1, n).astype("float32"))
            layer.moving_mean.assign(rng.normal(0, 0.1, n).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 1.5, n).astype("float32"))
    images = _images(args.images)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for mode in QUANT_MODES:
            times, res = [], None
            for r in range(args.repeats):
                t0 = time.perf_counter()
                res = to_tflite(model, Path(tmp) / f"{mode}_{r}.tflite", quant=mode,
                                representative_data=images, calibration_steps=args.images,
                                qat_steps=args.qat_steps, qat_batch_size=8,
                                fidelity_images=args.images)
                times.append(time.perf_counter() - t0)
            f = res.fidelity
            rows.append((mode, statistics.median(times), res.size_bytes / 1e6, f,
                         res.inventory.integer_only,
                         all(res.compatibility.fully_supported.values())))
            print(f"{mode:18s} {statistics.median(times):6.1f} s  {f.format().strip()}",
                  file=sys.stderr)
    cmd = "python benchmarks/perf/export_bench.py " + " ".join(argv or sys.argv[1:])
    lines = [
        f"# Export benchmark: {args.model} 1.0, 224x224",
        "",
        f"- Machine: {_machine()}",
        f"- Command: `{cmd.strip()}`",
        f"- Calibration / evaluation: {args.images} images (scikit-image photographs + "
        f"generated), QAT: {args.qat_steps} steps of batch 8; random weights with randomized "
        "batch-norm statistics, logits output (classifier_activation=None).",
        f"- Time: wall seconds of one `to_tflite` call (median of {args.repeats}), including "
        "rebuild at batch 1, calibration / QAT, conversion, LiteRT fidelity run, metadata and "
        "the atomic write.",
        "",
        "| mode | export s | size MB | integer-only | all targets | max abs diff | top-1 agree |"
        " cosine | SQNR dB |",
        "|---|---:|---:|:---:|:---:|---:|---:|---:|---:|",
    ]
    for mode, t, size, f, integer, all_ok in rows:
        lines.append(f"| {mode} | {t:.1f} | {size:.2f} | {'yes' if integer else 'no'} | "
                     f"{'yes' if all_ok else 'no'} | {f.max_abs_diff:.3g} | "
                     f"{f.top1_agreement:.1%} | {f.cosine_similarity:.4f} | "
                     f"{'inf' if f.sqnr_db is None else f'{f.sqnr_db:.1f}'} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        from mhzoo.atomic import atomic_write_text

        atomic_write_text(args.out, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
