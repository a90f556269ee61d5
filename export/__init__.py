"""mhzoo.export: TFLite export (float, PTQ, QAT), metadata, fidelity and hardware compatibility.

::

    import mhzoo
    from mhzoo.export import to_tflite

    model = mhzoo.build("multi_max")
    result = to_tflite(model, "multi_max_int8.tflite", quant="int8_full",
                       representative_data="calib_images/", labels="labels.txt")
    print(result.summary())
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "QUANT_MODES",
    "RULE_SETS",
    "ExportResult",
    "check_compatibility",
    "inspect_tflite",
    "inventory",
    "labels_and_classes",
    "read_labels",
    "read_metadata",
    "to_saved_model",
    "to_tflite",
]

from mhzoo.export.compat import RULE_SETS
from mhzoo.export.quant import QUANT_MODES

_LAZY = {
    "to_tflite": ("mhzoo.export.tflite", "to_tflite"),
    "to_saved_model": ("mhzoo.export.tflite", "to_saved_model"),
    "ExportResult": ("mhzoo.export.tflite", "ExportResult"),
    "read_labels": ("mhzoo.export.tflite", "read_labels"),
    "labels_and_classes": ("mhzoo.export.tflite", "labels_and_classes"),
    "check_compatibility": ("mhzoo.export.compat", "check_compatibility"),
    "inventory": ("mhzoo.export.op_inventory", "inventory"),
    "read_metadata": ("mhzoo.export.metadata", "read_metadata"),
    "inspect_tflite": ("mhzoo.export.inspect", "inspect_tflite"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'mhzoo.export' has no attribute {name!r}")
