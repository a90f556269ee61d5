"""timm checkpoints (as published on the Hub: ``model.safetensors`` + ``config.json``) -> mhzoo.

Read with numpy only (``safetensors.numpy``; neither torch nor timm is needed). PyTorch layouts
become Keras layouts: conv OIHW -> HWIO, depthwise (C, 1, kh, kw) -> (kh, kw, C, 1), linear
(out, in) -> (in, out); BN ``weight / bias / running_mean / running_var`` -> gamma / beta /
moving statistics.

timm's native models pad like PyTorch (k // 2 on both sides) and use BN epsilon 1e-5; its
``tf_`` ports pad like TF 'same' and use epsilon 1e-3 (timm ``BN_ARGS_TF``). The converted spec
records both (``padding="symmetric"``, ``bn_epsilon``), so the mhzoo model is exact.

Block layouts (timm ``_efficientnet_blocks.py``): ``DepthwiseSeparableConv`` (conv_dw, bn1, se,
conv_pw, bn2), ``InvertedResidual`` (conv_pw, bn1, conv_dw, bn2, se, conv_pwl, bn3),
``EdgeResidual`` (conv_exp, bn1, se, conv_pwl, bn2), ``ConvBnAct`` (conv, bn1); SE is
``se.conv_reduce`` / ``se.conv_expand`` with biases.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from mhzoo.registry import get_spec
from mhzoo.spec import ArchSpec
from mhzoo.weights.checkpoint import read_safetensors
from mhzoo.weights.fit import (
    Converted,
    check_num_classes,
    fit_units,
    infer_width,
    minimalistic,
)

__all__ = ["TIMM_FAMILIES", "convert_timm", "parse_timm_architecture"]

#: timm architecture family -> (mhzoo registry name, minimalistic variant, timm-native).
TIMM_FAMILIES = {
    "mobilenetv2": ("mobilenet_v2", False, True),
    "mobilenetv3_large": ("mobilenet_v3_large", False, True),
    "mobilenetv3_small": ("mobilenet_v3_small", False, True),
    "tf_mobilenetv3_large": ("mobilenet_v3_large", False, False),
    "tf_mobilenetv3_large_minimal": ("mobilenet_v3_large_minimalistic", False, False),
    "tf_mobilenetv3_small": ("mobilenet_v3_small", False, False),
    "tf_mobilenetv3_small_minimal": ("mobilenet_v3_small", True, False),
}
_ARCH_RE = re.compile(r"^(?P<family>[a-z0-9_]+?)_(?P<width>\d{3})$")
TORCH_BN_EPS = 1e-5  # torch.nn.BatchNorm2d default, timm native models
TF_BN_EPS = 1e-3  # timm BN_ARGS_TF for the tf_ ports


def parse_timm_architecture(arch: str) -> tuple[str, float, bool, bool]:
    """``"tf_mobilenetv3_large_075"`` -> ``(registry name, width, minimalistic, native)``."""
    m = _ARCH_RE.match(arch or "")
    if not m or m.group("family") not in TIMM_FAMILIES:
        raise ValueError(
            f"timm architecture {arch!r} is not supported; supported: "
            f"{', '.join(f + '_<width>' for f in TIMM_FAMILIES)} (e.g. mobilenetv3_large_100)")
    name, minimal, native = TIMM_FAMILIES[m.group("family")]
    return name, int(m.group("width")) / 100, minimal, native


def _hwio(w: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.transpose(w, (2, 3, 1, 0)))


def _dw(w: np.ndarray) -> np.ndarray:
    if w.ndim != 4 or w.shape[1] != 1:
        raise ValueError(f"depthwise weight of shape {w.shape} is not (C, 1, kh, kw)")
    return np.ascontiguousarray(np.transpose(w, (2, 3, 0, 1)))


class _Reader:
    """Pops tensors from a state dict so that leftovers can be reported."""

    def __init__(self, sd: dict[str, np.ndarray]) -> None:
        self.sd = {k: v for k, v in sd.items() if not k.endswith("num_batches_tracked")}
        self.used: set[str] = set()

    def has(self, key: str) -> bool:
        return key in self.sd

    def get(self, key: str) -> np.ndarray:
        if key not in self.sd:
            raise ValueError(f"timm checkpoint lacks {key!r}")
        self.used.add(key)
        return np.asarray(self.sd[key], np.float32)

    def bn(self, p: str) -> tuple[np.ndarray, ...]:
        return tuple(self.get(f"{p}.{v}") for v in ("weight", "bias", "running_mean",
                                                    "running_var"))

    def se(self, p: str) -> dict[str, Any]:
        if not self.has(f"{p}.se.conv_reduce.weight"):
            return {}
        return {"se_reduce": (_hwio(self.get(f"{p}.se.conv_reduce.weight")),
                              self.get(f"{p}.se.conv_reduce.bias")),
                "se_expand": (_hwio(self.get(f"{p}.se.conv_expand.weight")),
                              self.get(f"{p}.se.conv_expand.bias"))}


def _block_unit(r: _Reader, p: str, as_ds: bool) -> dict[str, Any]:
    u: dict[str, Any] = {"name": p}
    if r.has(f"{p}.conv_pwl.weight") and r.has(f"{p}.conv_dw.weight"):  # InvertedResidual
        u.update(expand=_hwio(r.get(f"{p}.conv_pw.weight")), expand_bn=r.bn(f"{p}.bn1"),
                 dw=_dw(r.get(f"{p}.conv_dw.weight")), dw_bn=r.bn(f"{p}.bn2"), **r.se(p),
                 project=_hwio(r.get(f"{p}.conv_pwl.weight")), project_bn=r.bn(f"{p}.bn3"))
    elif r.has(f"{p}.conv_exp.weight"):  # EdgeResidual (fused)
        u.update(expand=_hwio(r.get(f"{p}.conv_exp.weight")), expand_bn=r.bn(f"{p}.bn1"),
                 **r.se(p), project=_hwio(r.get(f"{p}.conv_pwl.weight")),
                 project_bn=r.bn(f"{p}.bn2"))
    elif r.has(f"{p}.conv_dw.weight"):  # DepthwiseSeparableConv
        dw, dw_bn = _dw(r.get(f"{p}.conv_dw.weight")), r.bn(f"{p}.bn1")
        pw, pw_bn = _hwio(r.get(f"{p}.conv_pw.weight")), r.bn(f"{p}.bn2")
        if as_ds:
            u.update(dw=dw, dw_bn=dw_bn, pw=pw, pw_bn=pw_bn)
        else:  # an inverted bottleneck without expansion
            u.update(dw=dw, dw_bn=dw_bn, **r.se(p), project=pw, project_bn=pw_bn)
    elif r.has(f"{p}.conv.weight"):  # ConvBnAct
        u.update(conv=_hwio(r.get(f"{p}.conv.weight")), bn=r.bn(f"{p}.bn1"))
    else:
        raise ValueError(f"unknown timm block layout under {p!r}")
    return u


def _block_prefixes(sd: dict[str, np.ndarray]) -> list[str]:
    idx = set()
    for k in sd:
        m = re.match(r"^blocks\.(\d+)\.(\d+)\.", k)
        if m:
            idx.add((int(m.group(1)), int(m.group(2))))
    return [f"blocks.{s}.{j}" for s, j in sorted(idx)]


def _read_source(src: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any], str]:
    p = Path(src)
    folder = p.parent if p.is_file() else p
    weights = p if p.is_file() else p / "model.safetensors"
    if not weights.is_file():
        if (folder / "pytorch_model.bin").is_file():
            raise ValueError(f"{folder} has only pytorch_model.bin; mhzoo reads timm's "
                             "model.safetensors (no torch needed): use a safetensors export")
        raise ValueError(f"timm checkpoint not found: {weights}")
    cfg_file = folder / "config.json"
    if not cfg_file.is_file():
        raise ValueError(f"{folder} lacks timm's config.json (its 'architecture' decides padding "
                         "and batch-norm epsilon); download it next to model.safetensors")
    try:
        cfg = json.loads(cfg_file.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"malformed {cfg_file}: {exc}") from None
    if not isinstance(cfg, dict) or "architecture" not in cfg:
        raise ValueError(f"{cfg_file} is not a timm config (no 'architecture')")
    return read_safetensors(weights), cfg, str(src)


def convert_timm(src: str | os.PathLike, *, model: str | None = None,
                 width: float | None = None, num_classes: int | None = None,
                 origin: str | None = None) -> Converted:
    """Convert a timm MobileNetV2 / V3 checkpoint folder (``model.safetensors`` + config).

    Args:
        src: folder with timm's ``model.safetensors`` and ``config.json`` (or the file).
        model: expected mhzoo name (checked against the timm architecture; inferred if None).
        width: expected width (checked; inferred from the architecture name if None).
        num_classes: expected classifier size (checked).
        origin: where the files came from (e.g. ``hf-hub:timm/mobilenetv2_100.ra_in1k``).
    """
    sd, cfg, label = _read_source(src)
    arch = cfg["architecture"]
    name, arch_width, minimal, native = parse_timm_architecture(arch)
    shown = f"mobilenet_v3_small_minimalistic (build name {name})" if minimal else name
    if model is not None and model not in (name, f"{name}_minimalistic" if minimal else name):
        raise ValueError(f"the timm checkpoint is {arch}, i.e. mhzoo {shown}, not {model}; "
                         f"pass --model {name}")
    if width is not None and abs(width - arch_width) > 1e-9:
        raise ValueError(f"the timm checkpoint is {arch} (width {arch_width:g}), not width "
                         f"{width:g}; pass --width {arch_width:g}")
    base: ArchSpec = get_spec(name)
    if minimal:
        base = minimalistic(base)
    base = base.replace(padding="symmetric" if native else "same",
                        bn_epsilon=TORCH_BN_EPS if native else TF_BN_EPS,
                        description=f"{base.description}; converted from timm {arch}")
    r = _Reader(sd)
    units = [{"name": "conv_stem", "conv": _hwio(r.get("conv_stem.weight")), "bn": r.bn("bn1")}]
    units += [_block_unit(r, p, as_ds=False) for p in _block_prefixes(r.sd)]
    if r.has("conv_head.weight"):
        head: dict[str, Any] = {"name": "conv_head", "conv": _hwio(r.get("conv_head.weight"))}
        if r.has("conv_head.bias"):
            head["conv_bias"] = r.get("conv_head.bias")
        if r.has("bn2.weight"):
            head["bn"] = r.bn("bn2")
        units.append(head)
    spec, layers = fit_units(base, units, desc=f"converting {arch}")
    w, exact = infer_width(base, spec, arch_width)
    classes = None
    if r.has("classifier.weight"):
        k = r.get("classifier.weight")
        layers["classifier"] = [np.ascontiguousarray(k.T), r.get("classifier.bias")]
        classes = int(k.shape[0])
    left = sorted(set(r.sd) - r.used)
    if left:
        raise ValueError(f"timm checkpoint {label} has tensors this converter does not map "
                         f"(e.g. {left[0]!r}); is it a {arch}?")
    check_num_classes("timm checkpoint", classes, num_classes)
    tcfg = dict(cfg.get("pretrained_cfg") or {})
    pcfg: dict[str, Any] = {}
    if "mean" in tcfg and "std" in tcfg:  # timm: 0-1 units; mhzoo: 0-255
        pcfg["mean"] = [round(float(v) * 255.0, 6) for v in tcfg["mean"]]
        pcfg["std"] = [round(float(v) * 255.0, 6) for v in tcfg["std"]]
    if "input_size" in tcfg:
        c, h, wd = tcfg["input_size"]
        pcfg["input_size"] = [h, wd, c]
    for key in ("interpolation", "crop_pct", "crop_mode", "license", "label_names"):
        if key in tcfg:
            pcfg[key] = tcfg[key]
    tag = tcfg.get("tag")
    return Converted(architecture=name, spec=spec, base=base, width=w, width_exact=exact,
                     layers=layers, num_classes=classes, pretrained_cfg=pcfg,
                     source={"format": "timm", "architecture": arch, "tag": tag,
                             "path": origin or label})
