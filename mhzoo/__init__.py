"""mhzoo: multi-hardware mobile models (Multi-AVG, Multi-MAX and the MobileNet baselines).

Front door::

    import mhzoo
    mhzoo.list_models("multi_*")
    model = mhzoo.build("multi_max", width=1.0)
    mhzoo.profile("multi_max").params_m

Heavy dependencies (TensorFlow) load only when a model is built.
"""

from __future__ import annotations

from typing import Any

from mhzoo._version import __version__
from mhzoo.build_record import BuildConfig, build_config
from mhzoo.preprocessing import Preprocessing
from mhzoo.registry import list_models, register_model
from mhzoo.spec import ArchSpec, Conv, DepthwiseSeparable, GlobalPool, InvertedBottleneck
from mhzoo.widths import make_divisible, scale_spec

__all__ = [
    "ArchSpec",
    "BuildConfig",
    "Conv",
    "DepthwiseSeparable",
    "GlobalPool",
    "InvertedBottleneck",
    "Preprocessing",
    "__version__",
    "build",
    "build_config",
    "list_models",
    "load_model",
    "make_divisible",
    "model_info",
    "profile",
    "push_to_hub",
    "register_model",
    "save_pretrained",
    "scale_spec",
]

_LAZY = {
    "build": ("mhzoo.builder", "build"),
    "load_model": ("mhzoo.builder", "load_model"),
    "profile": ("mhzoo.profiler", "profile"),
    "model_info": ("mhzoo.info", "model_info"),
    "save_pretrained": ("mhzoo.weights", "save_pretrained"),
    "push_to_hub": ("mhzoo.weights", "push_to_hub"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'mhzoo' has no attribute {name!r}")
