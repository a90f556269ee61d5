"""keras.applications MobileNet / MobileNetV2 / MobileNetV3Large / MobileNetV3Small -> mhzoo.

Sources: an in-memory model (Keras 3 or tf_keras), a legacy ``.h5`` weight file (the format of
the published keras-applications weights, read by layer name with h5py), a Keras 3 ``.keras``
file, or a Keras 3 ``.weights.h5`` file (order-based, loaded into a keras.applications skeleton).

Layer names differ between the two Kerases for V3 (tf_keras: ``expanded_conv/depthwise/
BatchNorm``, Keras 3: ``expanded_conv_depthwise_bn``); names are normalized before mapping.
Widths are read from the tensors, so Keras' width quirks (the MobileNetV3 stem stays at 16
filters for every alpha; V1 truncates ``int(f * alpha)``) convert exactly into the stored spec.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from mhzoo.preprocessing import MINUS_ONE_TO_ONE
from mhzoo.registry import get_spec
from mhzoo.spec import ArchSpec, Conv, GlobalPool
from mhzoo.weights.fit import (
    Converted,
    check_num_classes,
    fit_units,
    infer_width,
    minimalistic,
)

__all__ = ["KERAS_MODELS", "convert_keras", "read_keras_weights"]

#: mhzoo name -> keras.applications constructor and keyword arguments.
KERAS_MODELS = {
    "mobilenet_v1": ("MobileNet", {}),
    "mobilenet_v2": ("MobileNetV2", {}),
    "mobilenet_v3_large": ("MobileNetV3Large", {}),
    "mobilenet_v3_large_minimalistic": ("MobileNetV3Large", {"minimalistic": True}),
    "mobilenet_v3_small": ("MobileNetV3Small", {}),
    "mobilenet_v3_small_minimalistic": ("MobileNetV3Small", {"minimalistic": True}),
}


def _norm(name: str) -> str:
    return name.lower().replace("/batchnorm", "_bn").replace("/", "_")


def _from_model(model: Any) -> dict[str, list[np.ndarray]]:
    out = {}
    for layer in model.layers:
        ws = layer.get_weights()
        if ws:
            out[_norm(layer.name)] = [np.asarray(w) for w in ws]
    return out


def _from_legacy_h5(path: Path) -> dict[str, list[np.ndarray]]:
    import h5py

    out = {}
    with h5py.File(path, "r") as f:
        g = f.get("model_weights", f)
        if "layer_names" not in g.attrs:
            raise ValueError(f"{path} is not a legacy Keras weight file (no layer_names)")
        for raw in g.attrs["layer_names"]:
            lname = raw.decode() if isinstance(raw, bytes) else str(raw)
            lg = g[lname]
            wnames = [w.decode() if isinstance(w, bytes) else str(w)
                      for w in lg.attrs.get("weight_names", [])]
            if wnames:
                out[_norm(lname)] = [np.asarray(lg[w][()]) for w in wnames]
    return out


def _skeleton(model: str, width: float, include_top: bool, classes: int) -> Any:
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    ctor, kw = KERAS_MODELS[model]
    return getattr(keras.applications, ctor)(
        input_shape=(224, 224, 3), alpha=width, include_top=include_top, weights=None,
        classes=classes, **kw)


def read_keras_weights(src: Any, *, model: str | None = None, width: float | None = None,
                       num_classes: int | None = None) -> dict[str, list[np.ndarray]]:
    """``{normalized layer name: [arrays]}`` from a model object or a weight file."""
    if hasattr(src, "layers") and hasattr(src, "get_weights"):
        return _from_model(src)
    p = Path(src)
    if not p.is_file():
        raise ValueError(f"Keras weight file not found: {p}")
    name = p.name
    try:
        if name.endswith(".keras"):
            os.environ.setdefault("KERAS_BACKEND", "tensorflow")
            import keras

            return _from_model(keras.models.load_model(p, compile=False))
        if name.endswith(".weights.h5"):
            if model is None:
                raise ValueError("a Keras 3 .weights.h5 file stores no layer names; pass --model")
            errors = []
            for top, classes in ((True, num_classes or 1000), (False, 1000)):
                sk = _skeleton(model, width or 1.0, top, classes)
                try:
                    sk.load_weights(p)
                    return _from_model(sk)
                except Exception as exc:  # keras raises ValueError with long messages
                    errors.append(" ".join(str(exc).split())[:160])
            raise ValueError(f"{p} does not load into keras.applications {model} at alpha "
                             f"{width or 1.0:g} (with or without top): {errors[0]}; check "
                             "--model / --width / --num-classes")
        if name.endswith((".h5", ".hdf5")):
            return _from_legacy_h5(p)
    except OSError as exc:
        raise ValueError(f"cannot read {p} (truncated or not HDF5?): {exc}") from None
    raise ValueError(f"unsupported Keras weight file {p.name}: expected .h5, .weights.h5 or "
                     ".keras")


def _bn(w: dict[str, list[np.ndarray]], name: str) -> tuple[np.ndarray, ...]:
    if name not in w:
        raise ValueError(f"Keras weights lack layer {name!r}")
    return tuple(w[name])


def _detect(w: dict[str, list[np.ndarray]]) -> tuple[str, bool]:
    """(family, has squeeze-excite) of a keras.applications weight set."""
    if "conv_dw_1" in w:
        return "v1", False
    if "bn_conv1" in w:
        return "v2", False
    if "expanded_conv_depthwise" in w and "conv_bn" in w:
        se = any(k.endswith("squeeze_excite_conv") for k in w)
        return ("v3_large" if "expanded_conv_14_project" in w else "v3_small"), se
    raise ValueError("not a keras.applications MobileNet / V2 / V3 weight set (layer names "
                     f"{sorted(w)[:4]} ...)")


def _v3_units(w: dict[str, list[np.ndarray]], n_blocks: int) -> list[dict[str, Any]]:
    units: list[dict[str, Any]] = [{"name": "conv", "conv": w["conv"][0], "bn": _bn(w, "conv_bn")}]
    for j in range(n_blocks):
        p = "expanded_conv_" if j == 0 else f"expanded_conv_{j}_"
        u: dict[str, Any] = {"name": p.rstrip("_")}
        if f"{p}expand" in w:
            u.update(expand=w[f"{p}expand"][0], expand_bn=_bn(w, f"{p}expand_bn"))
        u.update(dw=w[f"{p}depthwise"][0], dw_bn=_bn(w, f"{p}depthwise_bn"))
        if f"{p}squeeze_excite_conv" in w:
            u.update(se_reduce=tuple(w[f"{p}squeeze_excite_conv"]),
                     se_expand=tuple(w[f"{p}squeeze_excite_conv_1"]))
        u.update(project=w[f"{p}project"][0], project_bn=_bn(w, f"{p}project_bn"))
        units.append(u)
    units.append({"name": "conv_1", "conv": w["conv_1"][0], "bn": _bn(w, "conv_1_bn")})
    if "conv_2" in w:
        units.append({"name": "conv_2", "conv": w["conv_2"][0], "conv_bias": w["conv_2"][1]})
    return units


def convert_keras(src: Any, *, model: str, width: float | None = None,
                  num_classes: int | None = None) -> Converted:
    """Convert keras.applications MobileNet weights (a model object or a weight file).

    Args:
        src: a keras.applications model (Keras 3 or tf_keras) or a ``.h5`` / ``.keras`` /
            ``.weights.h5`` file.
        model: ``mobilenet_v1``, ``mobilenet_v2``, ``mobilenet_v3_large``,
            ``mobilenet_v3_large_minimalistic``, ``mobilenet_v3_small`` or
            ``mobilenet_v3_small_minimalistic`` (the last builds as ``mobilenet_v3_small``
            with the converted spec).
        width: Keras ``alpha`` (checked against the tensors; inferred when ``None``).
        num_classes: expected classifier size (checked).
    """
    if model not in KERAS_MODELS:
        raise ValueError(f"{model!r} has no keras.applications counterpart; expected one of "
                         f"{', '.join(KERAS_MODELS)}")
    w = read_keras_weights(src, model=model, width=width, num_classes=num_classes)
    family, has_se = _detect(w)
    want = {"mobilenet_v1": "v1", "mobilenet_v2": "v2"}.get(
        model, "v3_large" if "large" in model else "v3_small")
    minimal = model.endswith("_minimalistic")
    if family != want:
        raise ValueError(f"the Keras weights are a {family.replace('_', ' ')} model, not "
                         f"{model}")
    if family.startswith("v3") and has_se == minimal:
        right = model.removesuffix("_minimalistic") if minimal else f"{model}_minimalistic"
        raise ValueError(f"the Keras weights are {'not ' if has_se else ''}the minimalistic "
                         f"variant (squeeze-excite {'present' if has_se else 'absent'}); "
                         f"pass --model {right}")
    architecture = "mobilenet_v3_small" if model == "mobilenet_v3_small_minimalistic" else model
    base: ArchSpec = (minimalistic(get_spec("mobilenet_v3_small")) if architecture != model
                      else get_spec(model))
    base = base.replace(description=f"{base.description}; converted from keras.applications")
    classes = None
    if family == "v1":
        units = [{"name": "conv1", "conv": w["conv1"][0], "bn": _bn(w, "conv1_bn")}]
        units += [{"name": f"conv_dw_{j}", "dw": w[f"conv_dw_{j}"][0],
                   "dw_bn": _bn(w, f"conv_dw_{j}_bn"), "pw": w[f"conv_pw_{j}"][0],
                   "pw_bn": _bn(w, f"conv_pw_{j}_bn")} for j in range(1, 14)]
        head = w.get("conv_preds")
    elif family == "v2":
        units = [{"name": "Conv1", "conv": w["conv1"][0], "bn": _bn(w, "bn_conv1")},
                 {"name": "expanded_conv", "dw": w["expanded_conv_depthwise"][0],
                  "dw_bn": _bn(w, "expanded_conv_depthwise_bn"),
                  "project": w["expanded_conv_project"][0],
                  "project_bn": _bn(w, "expanded_conv_project_bn")}]
        units += [{"name": f"block_{j}", "expand": w[f"block_{j}_expand"][0],
                   "expand_bn": _bn(w, f"block_{j}_expand_bn"),
                   "dw": w[f"block_{j}_depthwise"][0], "dw_bn": _bn(w, f"block_{j}_depthwise_bn"),
                   "project": w[f"block_{j}_project"][0],
                   "project_bn": _bn(w, f"block_{j}_project_bn")} for j in range(1, 17)]
        units.append({"name": "Conv_1", "conv": w["conv_1"][0], "bn": _bn(w, "conv_1_bn")})
        head = w.get("predictions")
    else:
        units = _v3_units(w, 15 if family == "v3_large" else 11)
        head = w.get("logits")
        if "conv_2" not in w:  # no-top weights end at the 960 / 576 conv: drop pool + 1x1 conv
            blocks = base.blocks
            if isinstance(blocks[-1], Conv) and isinstance(blocks[-2], GlobalPool):
                base = base.replace(blocks=blocks[:-2])
    spec, layers = fit_units(base, units, desc=f"converting keras {model}")
    wd, exact = infer_width(base, spec, width)
    if head is not None:
        kernel, bias = head
        kernel = kernel.reshape(kernel.shape[-2], kernel.shape[-1])  # 1x1 conv -> dense
        classes = int(kernel.shape[1])
        layers["classifier"] = [kernel.astype(np.float32), np.asarray(bias, np.float32)]
    check_num_classes("Keras checkpoint", classes, num_classes)
    pcfg = {**MINUS_ONE_TO_ONE.to_dict(), "input_size": [224, 224, 3],
            "interpolation": "bilinear", "license": "apache-2.0"}  # keras "tf" preprocessing
    label = src if isinstance(src, str | os.PathLike) else f"<{type(src).__name__} object>"
    return Converted(architecture=architecture, spec=spec, base=base, width=wd, width_exact=exact,
                     layers=layers, num_classes=classes, pretrained_cfg=pcfg,
                     source={"format": "keras", "path": str(label), "keras_model": model})
