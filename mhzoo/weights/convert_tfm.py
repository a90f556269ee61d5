"""TF Model Garden checkpoints -> mhzoo (no tf-models-official import).

Reads ``tf.train`` checkpoints of ``official.vision`` ``ClassificationModel`` (or a bare
``MobileNet`` backbone) with ``tf.train.load_checkpoint``. The object graph of a functional
tf_keras model names the k-th layer that owns weights ``layer_with_weights-k``; inside the
classifier model the backbone is ``layer_with_weights-0`` and the Dense head
``layer_with_weights-1``. Inside each backbone block the attribute names of the Model Garden
layers (``official/vision/modeling/layers/nn_blocks.py``, ``backbones/mobilenet.py``) are:

* ``Conv2DBNBlock``: ``_conv0`` (+ bias), ``_norm0``;
* ``DepthwiseSeparableConvBlock`` (V1): ``_dwconv0``, ``_norm0``, ``_conv1``, ``_norm1``;
* ``InvertedBottleneckBlock``: ``_conv0`` / ``_norm0`` (expansion, absent when
  expand_ratio <= 1), ``_conv1`` / ``_norm1`` (depthwise, absent when fused),
  ``_squeeze_excitation/_se_reduce`` and ``/_se_expand``, ``_conv2`` / ``_norm2`` (projection).

Layouts are Keras already (HWIO, depthwise (k, k, C, 1), Dense (in, out)).

Activations: the Model Garden's hard-swish is x * relu6(x + 3) / 6 (as mhzoo's), but its hard
sigmoid, the squeeze-excite gate of MobileNetV3, is relu6(x + 3) * 0.16667
(``official/modeling/activations/sigmoid.py``); converted models with squeeze-excite get
``se_gate="hard_sigmoid_tfm"`` in their spec so that they reproduce the checkpoint's logits.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from mhzoo.preprocessing import IMAGENET
from mhzoo.registry import get_spec
from mhzoo.weights.fit import Converted, fit_classifier, fit_units, infer_width

__all__ = ["TFM_MODEL_IDS", "convert_tfm", "read_tfm_checkpoint"]

#: Model Garden ``model_id`` -> mhzoo registry name (official/vision/modeling/backbones/
#: mobilenet.py SUPPORTED_SPECS_MAP).
TFM_MODEL_IDS = {
    "MobileNetV1": "mobilenet_v1",
    "MobileNetV2": "mobilenet_v2",
    "MobileNetV3Large": "mobilenet_v3_large",
    "MobileNetV3Small": "mobilenet_v3_small",
    "MobileNetV3EdgeTPU": "mobilenet_edgetpu",
    "MobileNetMultiAVG": "multi_avg",
    "MobileNetMultiMAX": "multi_max",
    "MobileNetMultiAVGSeg": "multi_avg_seg",
    "MobileNetMultiMAXSeg": "multi_max_seg",
}
_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"
_BN = ("gamma", "beta", "moving_mean", "moving_variance")
_LWW = re.compile(r"layer_with_weights-(\d+)$")


def _checkpoint_prefix(src: str | os.PathLike) -> str:
    """The checkpoint prefix for a folder, a prefix, or its ``.index`` / ``.data`` file."""
    import tensorflow as tf

    p = Path(src)
    if p.is_dir():
        latest = tf.train.latest_checkpoint(str(p))
        if latest is None:
            idx = sorted(p.glob("*.index"))
            if len(idx) == 1:
                return str(idx[0])[: -len(".index")]
            raise ValueError(f"no TF checkpoint in {p} (expected ckpt-N.index + .data files)")
        return latest
    s = str(p)
    for suffix in (".index",):
        if s.endswith(suffix):
            s = s[: -len(suffix)]
    s = re.sub(r"\.data-\d+-of-\d+$", "", s)
    if not Path(s + ".index").is_file():
        raise ValueError(f"TF checkpoint not found: {src} (expected {s}.index)")
    return s


def read_tfm_checkpoint(src: str | os.PathLike) -> dict[str, np.ndarray]:
    """Every model variable of a TF checkpoint: ``{object path: array}`` (no optimizer slots)."""
    import tensorflow as tf

    prefix = _checkpoint_prefix(src)
    try:
        reader = tf.train.load_checkpoint(prefix)
        shapes = reader.get_variable_to_shape_map()
    except Exception as exc:  # tf raises DataLossError / NotFoundError / OpError
        raise ValueError(f"cannot read TF checkpoint {prefix}: "
                         f"{' '.join(str(exc).split())[:300]}") from None
    out = {}
    for key in shapes:
        if not key.endswith(_SUFFIX) or ".OPTIMIZER_SLOT" in key:
            continue
        try:
            out[key[: -len(_SUFFIX)]] = np.asarray(reader.get_tensor(key))
        except Exception as exc:
            raise ValueError(f"cannot read {key} from {prefix} (truncated data file?): "
                             f"{' '.join(str(exc).split())[:200]}") from None
    if not out:
        raise ValueError(f"{prefix} holds no model variables")
    return out


def _backbone_prefix(tensors: dict[str, np.ndarray]) -> str:
    stems = [k[: -len("/layer_with_weights-0/_conv0/kernel")] for k in tensors
             if k.endswith("/layer_with_weights-0/_conv0/kernel")]
    stems += ["" for k in tensors if k == "layer_with_weights-0/_conv0/kernel"]
    if not stems:
        raise ValueError("not a TF Model Garden MobileNet checkpoint: no backbone stem "
                         "'.../layer_with_weights-0/_conv0/kernel' found")
    return min(stems, key=len)


def _bn(t: dict[str, np.ndarray], p: str) -> tuple[np.ndarray, ...] | None:
    if f"{p}/gamma" not in t:
        return None
    return tuple(t[f"{p}/{v}"] for v in _BN)


def _unit(t: dict[str, np.ndarray], p: str) -> dict[str, Any]:
    """Roles of one backbone block under prefix ``p``."""
    u: dict[str, Any] = {"name": p}
    if f"{p}/_dwconv0/depthwise_kernel" in t:  # DepthwiseSeparableConvBlock
        u.update(dw=t[f"{p}/_dwconv0/depthwise_kernel"], dw_bn=_bn(t, f"{p}/_norm0"),
                 pw=t[f"{p}/_conv1/kernel"], pw_bn=_bn(t, f"{p}/_norm1"))
    elif f"{p}/_conv2/kernel" in t:  # InvertedBottleneckBlock
        if f"{p}/_conv0/kernel" in t:
            u.update(expand=t[f"{p}/_conv0/kernel"], expand_bn=_bn(t, f"{p}/_norm0"))
        if f"{p}/_conv1/depthwise_kernel" in t:
            u.update(dw=t[f"{p}/_conv1/depthwise_kernel"], dw_bn=_bn(t, f"{p}/_norm1"))
        se = f"{p}/_squeeze_excitation"
        if f"{se}/_se_reduce/kernel" in t:
            u.update(se_reduce=(t[f"{se}/_se_reduce/kernel"], t[f"{se}/_se_reduce/bias"]),
                     se_expand=(t[f"{se}/_se_expand/kernel"], t[f"{se}/_se_expand/bias"]))
        u.update(project=t[f"{p}/_conv2/kernel"], project_bn=_bn(t, f"{p}/_norm2"))
    elif f"{p}/_conv0/kernel" in t:  # Conv2DBNBlock
        u["conv"] = t[f"{p}/_conv0/kernel"]
        if f"{p}/_conv0/bias" in t:
            u["conv_bias"] = t[f"{p}/_conv0/bias"]
        if f"{p}/_norm0/gamma" in t:
            u["bn"] = _bn(t, f"{p}/_norm0")
    else:
        raise ValueError(f"unknown Model Garden block layout under {p}: "
                         f"{sorted(k[len(p) + 1:] for k in t if k.startswith(p + '/'))[:6]}")
    return {k: v for k, v in u.items() if v is not None}


def _classifier(t: dict[str, np.ndarray], backbone: str) -> tuple[np.ndarray, np.ndarray] | None:
    heads = [k[: -len("/kernel")] for k, v in t.items()
             if k.endswith("/kernel") and v.ndim == 2 and not k.startswith(backbone + "/")]
    if not heads:
        return None
    if len(heads) > 1:
        raise ValueError(f"ambiguous classifier: several dense layers {heads}")
    h = heads[0]
    extra = [k for k in t if not k.startswith(backbone + "/") and not k.startswith(h + "/")]
    if extra:
        raise ValueError(f"unsupported head layer(s) in the checkpoint (e.g. {extra[0]!r}); "
                         "only ClassificationModel's pooling -> dropout -> dense head converts")
    return t[f"{h}/kernel"], t[f"{h}/bias"]


def resolve_tfm_model(model: str) -> str:
    """Registry name for a registry name or a Model Garden ``model_id``."""
    if model in TFM_MODEL_IDS:
        return TFM_MODEL_IDS[model]
    if model in TFM_MODEL_IDS.values():
        return model
    raise ValueError(f"{model!r} is not a TF Model Garden MobileNet; expected one of "
                     f"{', '.join(TFM_MODEL_IDS.values())} (or the model ids "
                     f"{', '.join(TFM_MODEL_IDS)})")


def convert_tfm(src: str | os.PathLike, *, model: str, width: float | None = None,
                num_classes: int | None = None) -> Converted:
    """Convert a Model Garden MobileNet checkpoint.

    Args:
        src: checkpoint prefix (``.../ckpt-1000``), its ``.index`` file, or a folder.
        model: mhzoo name or Model Garden ``model_id`` (``MobileNetMultiMAX``).
        width: ``filter_size_scale`` (checked against the tensors; inferred when ``None``).
        num_classes: expected classifier size (checked; ``None`` takes the checkpoint's).

    Returns:
        A :class:`~mhzoo.weights.fit.Converted`; write it with
        :func:`~mhzoo.weights.fit.write_converted`.
    """
    name = resolve_tfm_model(model)
    t = read_tfm_checkpoint(src)
    bb = _backbone_prefix(t)
    pre = f"{bb}/" if bb else ""
    units = []
    k = 0
    while any(key.startswith(f"{pre}layer_with_weights-{k}/") for key in t):
        units.append(_unit(t, f"{pre}layer_with_weights-{k}"))
        k += 1
    base = get_spec(name)  # Model Garden defaults: 'same' padding, BN epsilon 1e-3
    if any(getattr(b, "se_ratio", None) for b in base.blocks):
        # the Model Garden's squeeze-excite gate is relu6(x + 3) * 0.16667, not / 6
        base = base.replace(se_gate="hard_sigmoid_tfm")
    spec, layers = fit_units(base, units, desc=f"converting {name}")
    w, exact = infer_width(base, spec, width)
    classes = fit_classifier(spec, layers, _classifier(t, bb), "checkpoint", num_classes)
    pcfg = {**IMAGENET.to_dict(), "input_size": [224, 224, 3], "interpolation": "bilinear",
            "crop_pct": 0.875, "license": "apache-2.0"}  # official/vision classification input
    return Converted(architecture=name, spec=spec, base=base, width=w, width_exact=exact,
                     layers=layers, num_classes=classes, pretrained_cfg=pcfg,
                     source={"format": "tf-model-garden", "path": str(src),
                             "model_id": next(i for i, n in TFM_MODEL_IDS.items() if n == name)},
                     label_offset=1 if classes == 1001 else None)
