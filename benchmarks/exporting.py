"""Build a model from its spec and export it for a target, through ``mhzoo.export.to_tflite``.

Only latency is measured from these files, so int8 calibration uses a few random images in
[0, 255] (the exported models carry their preprocessing); the quantized graph, and so its
speed, does not depend on the calibration values.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from mhzoo.export._quiet import captured_output
from mhzoo.export.quant import DATA_MODES

__all__ = ["CALIBRATED_MODES", "captured_output", "export_tflite", "representative_images"]

#: post-training modes that need representative data (mhzoo.export's DATA_MODES less qat).
CALIBRATED_MODES = tuple(m for m in DATA_MODES if m != "qat")


def representative_images(input_shape: tuple[int, int, int], n: int = 4,
                          seed: int = 0) -> np.ndarray:
    """``n`` random RGB images in [0, 255], float32, shaped ``(n, h, w, c)``."""
    rng = np.random.default_rng(seed)
    return rng.uniform(0.0, 255.0, (n, *input_shape)).astype(np.float32)


def export_tflite(model: Any, path: str | os.PathLike, quant: str, *,
                  calibration_steps: int = 4) -> Path:
    """Export a Keras model built with ``batch_size=1`` to ``path``, replacing what is there.

    ``mhzoo.export.to_tflite`` writes atomically (through :mod:`mhzoo.atomic`): the file
    appears complete or not at all, also when the process is killed, and the pid-tagged
    temporaries of a killed writer are removed by the next export to the same path.
    """
    from mhzoo.export import to_tflite

    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, Any] = {"quant": quant, "force": True,
                              "fidelity_images": 1}  # the fidelity is not what we measure here
    if quant in CALIBRATED_MODES:
        shape = tuple(int(s) for s in model.input_shape[1:])
        kwargs["representative_data"] = representative_images(shape, calibration_steps)
        kwargs["calibration_steps"] = calibration_steps
    with captured_output():
        to_tflite(model, dest, **kwargs)
    return dest
