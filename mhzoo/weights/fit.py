"""Shared converter core: upstream tensors grouped per block -> exact concrete spec + weights.

Each converter (TF Model Garden, keras.applications, timm) reads its format and hands over one
*unit* per weight-carrying block, in order, with arrays already in Keras layout under these roles:

* conv block: ``conv`` (k, k, cin, f), optional ``conv_bias``, optional ``bn``;
* depthwise-separable (V1): ``dw`` (k, k, c, 1), ``dw_bn``, ``pw`` (1, 1, c, f), ``pw_bn``;
* inverted bottleneck: optional ``expand`` + ``expand_bn``, optional ``dw`` + ``dw_bn``,
  optional ``se_reduce`` / ``se_expand`` (kernel, bias), ``project`` + ``project_bn``;

where a ``bn`` value is ``(gamma, beta, moving_mean, moving_variance)``. :func:`fit_units` walks
the registry spec next to the units: the spec fixes the structure (kernel sizes, strides,
activations), the tensors fix every width, so any upstream width rule converts exactly and the
resulting concrete spec is stored in ``config.json``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mhzoo.names import model_slug
from mhzoo.spec import ArchSpec, Conv, DepthwiseSeparable, GlobalPool, InvertedBottleneck
from mhzoo.widths import scale_spec, se_filters

__all__ = ["COMMON_WIDTHS", "Converted", "check_num_classes", "fit_classifier", "fit_units",
           "infer_width",
           "minimalistic", "progress", "write_converted"]

Unit = dict[str, Any]

#: Width multipliers published by keras.applications, timm and the TF Model Garden.
COMMON_WIDTHS = (0.25, 0.35, 0.5, 0.75, 1.0, 1.25, 1.3, 1.4, 1.5, 2.0)


def progress(iterable: Sequence[Any], desc: str) -> Any:
    """A tqdm progress bar on stderr (silent when stderr is not a terminal unless forced)."""
    from tqdm.auto import tqdm

    disable = os.environ.get("MHZOO_PROGRESS", "auto") == "0"
    return tqdm(iterable, desc=desc, unit="block", leave=False, disable=disable or None)


@dataclass
class Converted:
    """A converted checkpoint, before it is written."""

    architecture: str  # registry name that build() resolves
    spec: ArchSpec  # exact concrete spec
    base: ArchSpec  # base spec (registry spec with the source's padding / BN epsilon)
    width: float
    width_exact: bool  # scale_spec(base, width) == spec
    layers: dict[str, list[np.ndarray]]  # mhzoo layer name -> arrays in Keras weight order
    num_classes: int | None
    pretrained_cfg: dict[str, Any] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)
    label_offset: int | None = None


def check_num_classes(what: str, classes: int | None, expected: int | None) -> None:
    """``ValueError`` when the converted classifier size differs from ``--num-classes``.

    Args:
        what: the source, for the message (``"timm checkpoint"``, ``"Keras weights"`` ...).
        classes: classifier size found in the tensors (``None``: no classifier).
        expected: the size the caller asked for (``None``: not checked).
    """
    if expected is None or expected == classes:
        return
    if classes is None:
        raise ValueError(f"the {what} has no classifier (a feature extractor), so it cannot give "
                         f"{expected} classes; drop --num-classes, and build the converted "
                         "checkpoint with include_top=False")
    raise ValueError(f"the {what} has {classes} classes, not {expected}; pass --num-classes "
                     f"{classes} (or leave it out)")


def fit_classifier(spec: ArchSpec, layers: dict[str, list[np.ndarray]],
                   head: tuple[Any, Any] | None, what: str, expected: int | None) -> int | None:
    """Add a Dense classifier ``head`` (kernel ``(features, classes)``, bias) to ``layers``
    after checking it against the fitted ``spec`` and ``expected`` (see
    :func:`check_num_classes`); returns the class count (``None``: no classifier)."""
    classes = None
    if head is not None:
        kernel, bias = head
        if kernel.shape[0] != spec.blocks[-1].filters:
            raise ValueError(f"classifier kernel {kernel.shape} does not fit the backbone's "
                             f"{spec.blocks[-1].filters} features")
        classes = int(kernel.shape[1])
        layers["classifier"] = [np.asarray(kernel, np.float32), np.asarray(bias, np.float32)]
    check_num_classes(what, classes, expected)
    return classes


def minimalistic(spec: ArchSpec) -> ArchSpec:
    """The MobileNetV3 "minimalistic" variant of a spec (slim / Keras): relu everywhere, no
    squeeze-excite, 3x3 depthwise kernels."""
    blocks = []
    for b in spec.blocks:
        if isinstance(b, InvertedBottleneck):
            b = dataclasses.replace(b, kernel=3, se_ratio=None, activation="relu")
        elif isinstance(b, Conv | DepthwiseSeparable):
            b = dataclasses.replace(b, activation="relu")
        blocks.append(b)
    return dataclasses.replace(spec, name=f"{spec.name}_minimalistic", blocks=tuple(blocks),
                               description=f"{spec.description} (minimalistic)".strip())


def _shape(a: Any) -> tuple[int, ...]:
    return tuple(np.shape(a))


def _bn(unit: Unit, role: str, channels: int, where: str) -> list[np.ndarray]:
    vals = unit.get(role)
    if vals is None:
        raise ValueError(f"{where}: batch norm {role!r} missing")
    vals = [np.asarray(v, np.float32) for v in vals]
    for v in vals:
        if _shape(v) != (channels,):
            raise ValueError(f"{where}: batch norm {role!r} has shape {_shape(v)}, expected "
                             f"({channels},)")
    return vals


def _kernel(unit: Unit, role: str, where: str, *, k: int | None = None, cin: int | None = None,
            depthwise: bool = False) -> np.ndarray:
    a = np.asarray(unit[role], np.float32)
    if a.ndim != 4 or (depthwise and a.shape[3] != 1):
        raise ValueError(f"{where}: {role} kernel has shape {a.shape}, expected a "
                         f"{'depthwise (k, k, c, 1)' if depthwise else '(k, k, cin, cout)'} kernel")
    if k is not None and a.shape[:2] != (k, k):
        raise ValueError(f"{where}: {role} kernel has shape {a.shape} but the spec block has "
                         f"kernel size {k} (a checkpoint of another architecture?)")
    if cin is not None and a.shape[2] != cin:
        raise ValueError(f"{where}: {role} kernel has shape {a.shape}, expected {cin} input "
                         "channels (a checkpoint of another architecture?)")
    return a


def fit_units(base: ArchSpec, units: Sequence[Unit], *, in_channels: int = 3,
              desc: str = "fitting") -> tuple[ArchSpec, dict[str, list[np.ndarray]]]:
    """Concrete spec and mhzoo layer arrays from per-block ``units`` (see module docstring).

    Raises:
        ValueError: naming the block, the upstream tensor and both shapes when the checkpoint
            does not fit ``base``'s structure.
    """
    structure = scale_spec(base, 1.0)
    weighted = [(i, b) for i, b in enumerate(structure.blocks) if not isinstance(b, GlobalPool)]
    blocks: list[Any] = list(structure.blocks)
    layers: dict[str, list[np.ndarray]] = {}
    cin = in_channels
    # walk the common prefix first, so a wrong architecture names its first misfit tensor
    for (i, b), u in progress(list(zip(weighted, units, strict=False)), desc):
        where = f"block {i} of {base.name} ({b.to_string()}) <- {u.get('name', '?')}"
        p = f"block{i}"
        roles = set(u) - {"name"}
        if isinstance(b, Conv):
            if not {"conv"} <= roles <= {"conv", "conv_bias", "bn"}:
                raise ValueError(f"{where}: expected a conv block, got tensors {sorted(roles)}")
            k = _kernel(u, "conv", where, k=b.kernel, cin=cin)
            f = k.shape[3]
            if ("bn" in u) != b.batch_norm or ("conv_bias" in u) != b.bias:
                raise ValueError(f"{where}: batch norm / bias layout differs from the spec "
                                 f"(checkpoint has {sorted(roles)})")
            layers[f"{p}_conv"] = [k] + ([np.asarray(u["conv_bias"], np.float32)]
                                         if b.bias else [])
            if b.batch_norm:
                layers[f"{p}_conv_bn"] = _bn(u, "bn", f, where)
            blocks[i] = dataclasses.replace(b, filters=f)
        elif isinstance(b, DepthwiseSeparable):
            if roles != {"dw", "dw_bn", "pw", "pw_bn"}:
                raise ValueError(f"{where}: expected a depthwise-separable block, got tensors "
                                 f"{sorted(roles)}")
            dw = _kernel(u, "dw", where, k=b.kernel, cin=cin, depthwise=True)
            pw = _kernel(u, "pw", where, k=1, cin=cin)
            f = pw.shape[3]
            layers[f"{p}_dw"] = [dw]
            layers[f"{p}_dw_bn"] = _bn(u, "dw_bn", cin, where)
            layers[f"{p}_pw"] = [pw]
            layers[f"{p}_pw_bn"] = _bn(u, "pw_bn", f, where)
            blocks[i] = dataclasses.replace(b, filters=f)
        elif isinstance(b, InvertedBottleneck):
            allowed = {"expand", "expand_bn", "dw", "dw_bn", "se_reduce", "se_expand", "project",
                       "project_bn"}
            if not roles <= allowed or "project" not in roles:
                raise ValueError(f"{where}: expected an inverted bottleneck, got tensors "
                                 f"{sorted(roles)}")
            inner = cin
            if ("expand" in u) != (b.expansion_filters is not None):
                raise ValueError(f"{where}: the checkpoint {'has' if 'expand' in u else 'lacks'}"
                                 " an expansion conv, the spec does not (another architecture?)")
            if b.fused == ("dw" in u):
                raise ValueError(f"{where}: the checkpoint {'has' if 'dw' in u else 'lacks'} a "
                                 "depthwise conv, the spec does not (another architecture?)")
            if "expand" in u:
                ek = b.kernel if b.fused else 1
                e = _kernel(u, "expand", where, k=ek, cin=cin)
                inner = e.shape[3]
                layers[f"{p}_expand"] = [e]
                layers[f"{p}_expand_bn"] = _bn(u, "expand_bn", inner, where)
            if "dw" in u:
                layers[f"{p}_dw"] = [_kernel(u, "dw", where, k=b.kernel, cin=inner,
                                             depthwise=True)]
                layers[f"{p}_dw_bn"] = _bn(u, "dw_bn", inner, where)
            if ("se_reduce" in u) != (b.se_ratio is not None):
                raise ValueError(f"{where}: squeeze-excite presence differs from the spec "
                                 "(another architecture or the minimalistic variant?)")
            if b.se_ratio is not None:
                rk, rb = (np.asarray(a, np.float32) for a in u["se_reduce"])
                xk, xb = (np.asarray(a, np.float32) for a in u["se_expand"])
                want = se_filters(inner, b.se_ratio)
                if rk.shape != (1, 1, inner, want) or xk.shape != (1, 1, want, inner):
                    raise ValueError(f"{where}: squeeze-excite kernels {rk.shape} / {xk.shape} "
                                     f"do not fit (1, 1, {inner}, {want}) / (1, 1, {want}, "
                                     f"{inner})")
                layers[f"{p}_se_reduce"] = [rk, rb]
                layers[f"{p}_se_expand"] = [xk, xb]
            pr = _kernel(u, "project", where, k=1, cin=inner)
            f = pr.shape[3]
            layers[f"{p}_project"] = [pr]
            layers[f"{p}_project_bn"] = _bn(u, "project_bn", f, where)
            blocks[i] = dataclasses.replace(
                b, filters=f, expansion=1.0,
                expansion_filters=inner if "expand" in u else None)
        cin = blocks[i].filters
    if len(units) != len(weighted):
        raise ValueError(f"the checkpoint has {len(units)} blocks with weights but {base.name} "
                         f"has {len(weighted)}: is it a checkpoint of another architecture?")
    return dataclasses.replace(structure, blocks=tuple(blocks)), layers


def _estimate_width(base: ArchSpec, spec: ArchSpec) -> float:
    """Width estimated from the last non-head block (stems and heads follow special rules)."""
    idx = [i for i, b in enumerate(base.blocks)
           if isinstance(b, InvertedBottleneck | DepthwiseSeparable)]
    i = idx[-1] if idx else 0
    return round(spec.blocks[i].filters / base.blocks[i].filters, 2)


def infer_width(base: ArchSpec, spec: ArchSpec, given: float | None = None
                ) -> tuple[float, bool]:
    """Width of a fitted ``spec`` of ``base``: ``(width, exact)``.

    ``exact`` is True when ``scale_spec(base, width)`` reproduces ``spec``. A ``given`` width
    that disagrees with the tensors raises ``ValueError``.
    """
    est = _estimate_width(base, spec)
    cands = [given] if given is not None else sorted({*COMMON_WIDTHS, est},
                                                      key=lambda w: abs(w - est))
    for w in cands:
        if scale_spec(base, w) == spec:
            return float(w), True
    if given is not None:
        if abs(est - given) > 0.05 * given:
            raise ValueError(f"the checkpoint looks like {base.name} at width {est:g}, not "
                             f"{given:g}; pass --width {est:g} (width={est:g})")
        return float(given), False
    return float(est), False


def write_converted(conv: Converted, out: str | os.PathLike, *, build: Callable[..., Any],
                    framework: str = "tf_keras", card: bool = True) -> Path:
    """Build the converted model, assign every tensor (strict), write the checkpoint folder.

    ``build`` is the model builder (:func:`mhzoo.build`, called with ``weights=None``); it is
    passed in so that the weights package never imports the builder that imports it.
    """
    from mhzoo.preprocessing import Preprocessing
    from mhzoo.variables import assign_named_weights, named_weights
    from mhzoo.weights.checkpoint import layer_arrays_to_named, model_config, write_checkpoint

    include_top = conv.num_classes is not None
    pcfg = dict(conv.pretrained_cfg)
    prep = Preprocessing(pcfg["mean"], pcfg["std"]) if "mean" in pcfg else None
    model = build(conv.spec, 1.0, num_classes=conv.num_classes or 1000, include_top=include_top,
                  include_preprocessing=False, preprocessing=prep, framework=framework,
                  name=model_slug(conv.architecture, conv.width))
    named = layer_arrays_to_named(model, conv.layers)
    assign_named_weights(model, named, strict=True)
    cfg = model_config(model, architecture=conv.architecture, width=conv.width,
                       base_spec=conv.base if conv.width_exact else None,
                       pretrained_cfg=pcfg, source=conv.source)
    if conv.label_offset is not None:
        cfg["label_offset"] = conv.label_offset
    text = None
    if card:
        from mhzoo.weights.card import model_card

        text = model_card(model, cfg)
    return write_checkpoint(out, named_weights(model), cfg, card=text)
