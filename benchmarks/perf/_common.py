"""Shared helpers of the perf scripts (plain scripts; not part of the package)."""

from __future__ import annotations

import os
from pathlib import Path

from mhzoo.names import model_slug

#: how the files were made (recorded in the results).
EXPORTER = {"used": "mhzoo.export.to_tflite"}


def make_tflite(model: str, width: float, quant: str, out_dir: Path,
                input_size: int = 224) -> Path:
    """Export ``model`` (random weights) with mhzoo.export.to_tflite, once per file name."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{model_slug(model, width)}_{input_size}_{quant}.tflite"
    if path.is_file():
        return path
    import mhzoo
    from mhzoo.benchmarks.exporting import captured_output, export_tflite

    with captured_output():
        m = mhzoo.build(model, width, input_shape=(input_size, input_size, 3), batch_size=1)
    export_tflite(m, path, quant)
    return path


def load_summary() -> str:
    """Load average of the machine (1/5/15 min) for the report."""
    try:
        return " / ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def load_note() -> str:
    """Load average plus what it means on this machine, for the report header."""
    try:
        busy = os.getloadavg()[0] > 1.5
    except OSError:
        return "load average n/a"
    if busy:
        return (f"load average (1/5/15 min) {load_summary()}: the machine was shared with other "
                "busy processes, so absolute latencies are noisy; compare ratios")
    return (f"load average (1/5/15 min) {load_summary()}: no other heavy process ran (the "
            "benchmark itself keeps one of the 2 cores busy)")
