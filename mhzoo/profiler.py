"""``mhzoo.profile``: parameter and multiply-add counts, from the spec and from Keras.

Counting convention of the paper's Table 1 (architectures.md section 2): ``params`` are the
conv / depthwise / SE / dense *kernels* including a 1001-way classifier, without batch norm and
biases; ``madds`` are the multiply-adds of conv, depthwise, SE 1x1 and dense layers. The Keras
counts (trainable, total incl. BN statistics, backbone only) are derived from the same layer
inventory and, with ``verify=True`` or when a model is passed, cross-checked against
``model.count_params()``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from mhzoo.builder import resolve_spec
from mhzoo.counting import count_layers
from mhzoo.spec import ArchSpec
from mhzoo.widths import check_width, scale_spec

__all__ = ["Profile", "profile"]

TABLE1_CLASSES = 1001  # Table 1 counts a 1001-way classifier (TF slim / Model Garden ImageNet)


@dataclass(frozen=True)
class Profile:
    """Counts of one model at one width and input size."""

    model: str
    width: float
    input_size: tuple[int, int]
    num_classes: int
    params: int  # Table-1 convention (kernels only, incl. classifier)
    madds: int
    keras_trainable_params: int
    keras_params: int  # Keras count_params of the classifier model (incl. BN statistics)
    backbone_params: int  # Keras count_params of the feature extractor alone
    verified: bool  # True when the counts were checked against a built Keras model

    @property
    def params_m(self) -> float:
        return self.params / 1e6

    @property
    def madds_m(self) -> float:
        return self.madds / 1e6

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["input_size"] = list(self.input_size)
        d["params_m"] = round(self.params_m, 4)
        d["madds_m"] = round(self.madds_m, 1)
        return d


def _input_hw(input_size: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    if isinstance(input_size, int) and not isinstance(input_size, bool):
        hw = (input_size, input_size)
    else:
        try:
            hw = tuple(int(v) for v in input_size)[:2]  # type: ignore[union-attr]
        except (TypeError, ValueError):
            raise ValueError(f"input_size must be an int or (height, width), got {input_size!r}"
                             ) from None
    if len(hw) != 2 or min(hw) < 32:
        raise ValueError(f"input size must be at least 32 px, got {input_size!r}")
    return hw  # type: ignore[return-value]


def _spec_counts(spec: ArchSpec, hw: tuple[int, int], channels: int, num_classes: int
                 ) -> dict[str, int]:
    layers = count_layers(spec, hw, channels, num_classes)
    body = [lc for lc in layers if lc.block >= 0]
    return {
        "params": sum(lc.weights for lc in layers),
        "madds": sum(lc.madds for lc in layers),
        "keras_trainable_params": sum(lc.weights + lc.biases + 2 * lc.bn_channels for lc in layers),
        "keras_params": sum(lc.weights + lc.biases + 4 * lc.bn_channels for lc in layers),
        "backbone_params": sum(lc.weights + lc.biases + 4 * lc.bn_channels for lc in body),
    }


def profile(
    model_or_name: Any,
    width: float = 1.0,
    input_size: int | tuple[int, int] = 224,
    *,
    num_classes: int = TABLE1_CLASSES,
    divisible_by: int | None = None,
    verify: bool = False,
) -> Profile:
    """Count params and MAdds of a model.

    Args:
        model_or_name: a registered name, an ``ArchSpec``, a spec JSON path, or a model built by
            :func:`mhzoo.build` (then its own width, input size and classes are used and the
            counts are checked against it).
        width: width multiplier (names and specs only).
        input_size: ``224`` or ``(height, width)``.
        num_classes: classifier size for the counts (Table 1 uses 1001).
        divisible_by: width rule, as in :func:`mhzoo.build`.
        verify: also build the Keras models and check every count against ``count_params``.

    Raises:
        ValueError: on bad arguments; ``RuntimeError`` if spec and Keras counts disagree.
    """
    model = None
    cfg = getattr(model_or_name, "mhzoo_config", None)
    if cfg is not None:
        model = model_or_name
        spec = cfg.spec
        width = cfg.width
        hw = _input_hw((cfg.input_shape[0] or 224, cfg.input_shape[1] or 224))
        channels = cfg.input_shape[2]
        if cfg.include_top:
            num_classes = cfg.num_classes
    else:
        width = check_width(width)
        hw = _input_hw(input_size)
        channels = 3
        spec = scale_spec(resolve_spec(model_or_name), width, divisible_by)
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be an integer >= 1, got {num_classes!r}")
    counts = _spec_counts(spec, hw, channels, num_classes)
    verified = False
    if model is not None:
        if cfg.include_top:
            key = "keras_params"
        elif cfg.features_only:
            key = None  # feature extractors stop at the last endpoint
        else:
            key = "backbone_params"
        _check(model, counts, key)
        verified = key is not None
    elif verify:
        from mhzoo.builder import build

        full = build(spec, 1.0, input_shape=(*hw, channels), num_classes=num_classes)
        _check(full, counts, "keras_params")
        trainable = sum(int(v.numpy().size) for v in full.trainable_weights)
        if trainable != counts["keras_trainable_params"]:
            raise RuntimeError(f"trainable count mismatch: spec {counts['keras_trainable_params']}"
                               f" vs Keras {trainable}")
        backbone = build(spec, 1.0, input_shape=(*hw, channels), include_top=False,
                         include_preprocessing=False)
        _check(backbone, counts, "backbone_params")
        verified = True
    return Profile(model=spec.name, width=width, input_size=hw, num_classes=num_classes,
                   verified=verified, **counts)


def _check(model: Any, counts: dict[str, int], key: str | None) -> None:
    if key is None:
        return
    got = int(model.count_params())
    if got != counts[key]:
        raise RuntimeError(f"{model.name}: spec-derived {key} {counts[key]} != Keras {got}")
