"""Shared helpers of the perf scripts (plain scripts; not part of the package)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: how the last file was made (recorded in the results).
EXPORTER = {"used": "mhzoo.export.to_tflite"}


def make_tflite(model: str, width: float, quant: str, out_dir: Path,
                input_size: int = 224) -> Path:
    """Export ``model`` with mhzoo.export.to_tflite (the package's exporter); fall back to
    tf.lite.TFLiteConverter when the export layer is not installed."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{model}_{round(width * 100):03d}_{input_size}_{quant}.tflite"
    if path.is_file():
        return path
    from mhzoo.benchmarks.exporting import captured_output, export_tflite

    import mhzoo

    with captured_output():
        m = mhzoo.build(model, width, input_shape=(input_size, input_size, 3), batch_size=1)
    try:
        export_tflite(m, path, quant)
    except ValueError as exc:
        if "unavailable" not in str(exc):
            raise
        import numpy as np
        import tensorflow as tf

        conv = tf.lite.TFLiteConverter.from_keras_model(m)
        if quant == "int8_full":
            rng = np.random.default_rng(0)
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
            conv.representative_dataset = lambda: (
                [rng.uniform(0, 255, (1, input_size, input_size, 3)).astype("float32")]
                for _ in range(4))
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            conv.inference_input_type = tf.uint8
            conv.inference_output_type = tf.uint8
        elif quant != "float32":
            raise
        with captured_output():
            path.write_bytes(conv.convert())
        EXPORTER["used"] = "tf.lite.TFLiteConverter (mhzoo.export unavailable)"
        print("note: mhzoo.export unavailable; converted with tf.lite.TFLiteConverter",
              file=sys.stderr)
    return path


def load_summary() -> str:
    """Load average of the machine (1/5/15 min) for the report."""
    try:
        return " / ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"
