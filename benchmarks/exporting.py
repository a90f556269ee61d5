"""Build a model from its spec and export it for a target, through ``mhzoo.export.to_tflite``.

Only latency is measured from these files, so int8 calibration uses a few random images in
[0, 255] (the exported models carry their preprocessing); the quantized graph, and so its
speed, does not depend on the calibration values.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["CALIBRATED_MODES", "captured_output", "export_tflite", "representative_images"]

#: quant modes that need representative data.
CALIBRATED_MODES = ("int8", "int8_full", "int8_full_int8_io", "int8_full_fp32_io")


@contextlib.contextmanager
def captured_output() -> Iterator[Path]:
    """Send file descriptors 1 and 2 (Python and native output) to a temp file for the block.

    TensorFlow's converter prints pages of tensor listings; they would bury the progress bars.
    Exceptions raised in the block pass through unchanged.
    """
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    fd, name = tempfile.mkstemp(prefix="mhzoo-bench-", suffix=".log")
    saved = [os.dup(1), os.dup(2)]
    try:
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        yield Path(name)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for s in saved:
            os.close(s)
        os.close(fd)
        Path(name).unlink(missing_ok=True)


def representative_images(input_shape: tuple[int, int, int], n: int = 4,
                          seed: int = 0) -> np.ndarray:
    """``n`` random RGB images in [0, 255], float32, shaped ``(n, h, w, c)``."""
    rng = np.random.default_rng(seed)
    return rng.uniform(0.0, 255.0, (n, *input_shape)).astype(np.float32)


def _to_tflite() -> Any:
    try:
        from mhzoo.export import to_tflite
    except ImportError as exc:  # pragma: no cover - depends on the export layer being present
        raise ValueError(f"mhzoo.export.to_tflite is unavailable ({exc}); the benchmark needs "
                         "the export layer to build .tflite files") from None
    return to_tflite


def export_tflite(model: Any, path: str | os.PathLike, quant: str, *,
                  calibration_steps: int = 4) -> Path:
    """Export a Keras model built with ``batch_size=1`` to ``path`` (atomically).

    The file appears complete or not at all, also when the process is killed.
    """
    to_tflite = _to_tflite()
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmpdir = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent))
    try:
        out = tmpdir / dest.name
        kwargs: dict[str, Any] = {"quant": quant}
        if quant in CALIBRATED_MODES:
            shape = tuple(int(s) for s in model.input_shape[1:])
            kwargs["representative_data"] = representative_images(shape, calibration_steps)
            kwargs["calibration_steps"] = calibration_steps
        import inspect

        if "fidelity_images" in inspect.signature(to_tflite).parameters:
            kwargs["fidelity_images"] = 1  # the fidelity report is not what we measure here
        with captured_output():
            to_tflite(model, out, **kwargs)
        if not out.is_file():
            raise ValueError(f"export to {quant} wrote no file")
        os.replace(out, dest)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return dest
