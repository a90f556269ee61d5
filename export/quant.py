"""Quantization modes and the converter settings of each (names of the TF Model Garden exporter).

| mode                | converter settings (official/vision/serving/export_tflite_lib.py)        |
|---------------------|--------------------------------------------------------------------------|
| float32             | none                                                                     |
| fp16                | Optimize.DEFAULT, supported_types=[float16]                              |
| dynamic             | Optimize.DEFAULT (dynamic-range weight quantization); "default" upstream |
| int8                | Optimize.DEFAULT + representative data; float fallback, float I/O        |
| int8_full           | + supported_ops=[TFLITE_BUILTINS_INT8], uint8 input and output           |
| int8_full_int8_io   | + supported_ops=[TFLITE_BUILTINS_INT8], int8 input and output            |
| int8_full_fp32_io   | + supported_ops=[TFLITE_BUILTINS_INT8], float input and output           |
| qat                 | tfmot quantize_model + fine-tune; Optimize.DEFAULT, uint8 input/output   |
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

__all__ = ["DATA_MODES", "INTEGER_ONLY_MODES", "QUANT_MODES", "check_mode", "make_converter"]

QUANT_MODES = ("float32", "fp16", "dynamic", "int8", "int8_full", "int8_full_int8_io",
               "int8_full_fp32_io", "qat")
#: modes that need representative (calibration or fine-tuning) data
DATA_MODES = ("int8", "int8_full", "int8_full_int8_io", "int8_full_fp32_io", "qat")
#: modes whose model has only integer ops between its inputs and outputs
INTEGER_ONLY_MODES = ("int8_full", "int8_full_int8_io", "int8_full_fp32_io", "qat")


def check_mode(mode: Any) -> str:
    """Validate a quantization mode name; ``ValueError`` listing the modes otherwise."""
    if mode not in QUANT_MODES:
        raise ValueError(f"unknown quantization mode {mode!r}; choose one of "
                         f"{', '.join(QUANT_MODES)}")
    return mode


def io_dtype(mode: str) -> str:
    """The input/output tensor type of an export in ``mode``."""
    if mode in ("int8_full", "qat"):
        return "uint8"
    if mode == "int8_full_int8_io":
        return "int8"
    return "float32"


def make_converter(concrete_fn: Any, mode: str,
                   representative: Callable[[], Iterator[list[np.ndarray]]] | None) -> Any:
    """A ``tf.lite.TFLiteConverter`` for a frozen concrete function, set up for ``mode``."""
    import tensorflow as tf

    mode = check_mode(mode)
    conv = tf.lite.TFLiteConverter.from_concrete_functions([concrete_fn])
    if mode == "float32":
        return conv
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "fp16":
        conv.target_spec.supported_types = [tf.float16]
    elif mode.startswith("int8"):
        if representative is None:
            raise ValueError(f"quantization mode {mode!r} needs representative data "
                             "(representative_data= / --calib DIR)")
        conv.representative_dataset = representative
        # per-tensor FULLY_CONNECTED weights: the Hexagon delegate rejects per-channel ones
        # (LiteRT tflite/delegates/hexagon/utils.cc, IsNodeSupportedByHexagon)
        conv._experimental_disable_per_channel_quantization_for_dense_layers = True
        if mode.startswith("int8_full"):
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    io = io_dtype(mode)
    if io != "float32":
        conv.inference_input_type = getattr(tf, io)
        conv.inference_output_type = getattr(tf, io)
    return conv
