"""``mhzoo.build``: the front door that turns a model name (or spec) into a Keras model."""

from __future__ import annotations

import numbers
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from mhzoo.bounds import check_input_size, check_spec_bounds
from mhzoo.build_record import BuildConfig
from mhzoo.names import model_slug
from mhzoo.preprocessing import Preprocessing
from mhzoo.registry import get_entry
from mhzoo.spec import ArchSpec, GlobalPool
from mhzoo.widths import check_width, scale_spec

__all__ = ["FRAMEWORKS", "build", "get_keras", "load_model", "model_slug", "rebuild",
           "resolve_spec"]

FRAMEWORKS = ("keras", "tf_keras")
MIN_INPUT_SIZE = 32  # smallest spatial size (keras.applications rule)
SUPPORTED_CHANNELS = (1, 3)
POOLINGS = (None, "avg", "max")


def get_keras(framework: str) -> ModuleType:
    """The Keras module for ``framework``: ``"keras"`` (Keras 3) or ``"tf_keras"`` (Keras 2)."""
    if framework == "keras":
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        import keras

        return keras
    if framework == "tf_keras":
        import tf_keras

        return tf_keras
    raise ValueError(f"unknown framework {framework!r}; expected one of {', '.join(FRAMEWORKS)}")


def resolve_spec(name_or_spec: str | os.PathLike | ArchSpec) -> ArchSpec:
    """A base spec from a registered name, an ``ArchSpec`` or a spec JSON file path."""
    if isinstance(name_or_spec, ArchSpec):
        return name_or_spec
    if isinstance(name_or_spec, os.PathLike) or (
        isinstance(name_or_spec, str) and (name_or_spec.endswith(".json") or "/" in name_or_spec
                                           or os.sep in name_or_spec)
    ):
        path = Path(name_or_spec)
        if not path.is_file():
            raise ValueError(f"spec file not found: {path}")
        return ArchSpec.from_file(path)
    if isinstance(name_or_spec, str):
        return get_entry(name_or_spec).fn()
    kind = type(name_or_spec).__name__
    raise ValueError(f"expected a model name, an ArchSpec or a spec JSON path, got {kind}")


def _check_input_shape(input_shape: Any) -> tuple[int | None, int | None, int]:
    try:
        shape = tuple(input_shape)
    except TypeError:
        raise ValueError(f"input_shape must be (height, width, channels), got {input_shape!r}"
                         ) from None
    if len(shape) != 3:
        raise ValueError(f"input_shape must be (height, width, channels), got {input_shape!r}")
    h, w, c = shape
    for label, v in (("height", h), ("width", w)):
        if v is None:
            continue
        check_input_size(v, f"input {label}", MIN_INPUT_SIZE)
    if isinstance(c, bool) or c not in SUPPORTED_CHANNELS:
        raise ValueError(f"unsupported channel count {c!r}; expected 3 (RGB) or 1 (grayscale)")
    return (None if h is None else int(h), None if w is None else int(w), int(c))


def _check_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def build(
    name_or_spec: str | os.PathLike | ArchSpec,
    width: float | None = None,
    *,
    input_shape: Sequence[int | None] = (224, 224, 3),
    include_top: bool = True,
    num_classes: int | None = None,
    weights: str | os.PathLike | None = None,
    pooling: str | None = None,
    dropout_rate: float = 0.2,
    classifier_activation: str | Callable | None = "softmax",
    include_preprocessing: bool = True,
    preprocessing: Preprocessing | None = None,
    batch_size: int | None = None,
    framework: str = "keras",
    divisible_by: int | None = None,
    features_only: bool = False,
    name: str | None = None,
    alpha: float | None = None,
) -> Any:
    """Build a Keras model of a registered architecture (or of any ``ArchSpec``).

    Args:
        name_or_spec: registry name (``mhzoo.list_models()``), an ``ArchSpec``, or a spec JSON
            file.
        width: width multiplier, any positive float (``alpha`` is an alias); default 1.0, or
            the checkpoint's width when ``weights`` is given.
        input_shape: ``(height, width, channels)``; height/width may be ``None``; at least 32 px.
        include_top: add global pooling, dropout and the ``num_classes``-way classifier.
        num_classes: classifier size (default 1000, or the checkpoint's when ``weights`` is set).
        weights: ``None`` (random init), a local checkpoint directory / file, a pretrained tag
            (``"imagenet"``, ``"multi_avg.tag"``) or ``"hf-hub:org/repo[@revision]"``.
        pooling: with ``include_top=False``: ``None`` (4-D features), ``"avg"`` or ``"max"``.
        dropout_rate: dropout before the classifier (TF Model Garden ImageNet config: 0.2).
        classifier_activation: ``"softmax"`` (default), another activation, or ``None`` (logits).
        include_preprocessing: put the normalization inside the model, so it takes RGB values in
            [0, 255]; otherwise inputs must already be normalized.
        preprocessing: normalization to use (default: the checkpoint's, else [-1, 1]).
        batch_size: fixed batch size (use 1 for TFLite export).
        framework: ``"keras"`` (Keras 3) or ``"tf_keras"`` (Keras 2, needed for QAT).
        divisible_by: ``None`` for the TF Model Garden width rule; an integer selects the TuNAS
            rule with that channel base (the paper's search space uses 32).
        features_only: return a feature extractor whose outputs are the endpoints at strides
            4, 8, 16 and 32, as ``{"stride_4": ..., ...}``.
        name: Keras model name (default ``<model>_<width x 100>``).

    Returns:
        A functional Keras model (an ``MhzooModel``) carrying its build config:
        ``mhzoo.build_config(model)`` (or ``model.mhzoo_config``) records the concrete spec,
        width, rounding rule, head, preprocessing and framework, and survives ``model.save`` /
        :func:`load_model`. ``model.arch_spec`` is the concrete spec, ``model.preprocessing``
        the normalization it expects or contains.
    """
    if alpha is not None:
        if width is not None and check_width(width) != check_width(alpha):
            raise ValueError(f"width={width!r} and alpha={alpha!r} disagree; alpha is an alias of "
                             "width, give one of them")
        width = alpha
    requested_width = None if width is None else check_width(width)
    width = 1.0 if requested_width is None else requested_width
    km = get_keras(framework)
    base = resolve_spec(name_or_spec)
    h, w, c = _check_input_shape(input_shape)
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of None, 'avg', 'max', got {pooling!r}")
    if batch_size is not None:
        batch_size = _check_positive_int("batch_size", batch_size)
    if isinstance(dropout_rate, bool) or not isinstance(dropout_rate, int | float) or not (
            0 <= dropout_rate < 1):  # NaN fails the range test too
        raise ValueError(f"dropout_rate must be in [0, 1), got {dropout_rate!r}")
    if preprocessing is not None and not isinstance(preprocessing, Preprocessing):
        raise ValueError("preprocessing must be a mhzoo.Preprocessing(mean=..., std=...), e.g. "
                         f"mhzoo.preprocessing.IMAGENET; got {type(preprocessing).__name__}")

    source = None
    concrete = None  # exact spec stored in a checkpoint (converted variants rebuild exactly)
    if weights is not None:
        from mhzoo.weights.resolve import open_weights

        if divisible_by is not None:
            raise ValueError("divisible_by cannot be combined with weights: a checkpoint fixes "
                             "every channel count (leave divisible_by out)")
        source = open_weights(weights, model=base.name, width=requested_width, build=build)
        if source.spec is not None and not isinstance(name_or_spec, ArchSpec):
            base = source.spec
            concrete = source.concrete_spec
            width = source.width or width
        if num_classes is None and include_top and not features_only:
            num_classes = source.num_classes
        if preprocessing is None:
            preprocessing = source.preprocessing
    if num_classes is None:
        num_classes = 1000
    num_classes = _check_positive_int("num_classes", num_classes)
    preprocessing = preprocessing or Preprocessing()
    preprocessing.check_channels(c)

    spec = concrete if concrete is not None else scale_spec(base, width, divisible_by)
    check_spec_bounds(spec, (h, w, c), num_classes=num_classes if include_top and
                      not features_only else None)  # absurd sizes never reach TensorFlow
    model_name = given_name = name or model_slug(base.name, width)
    if isinstance(classifier_activation, str) or classifier_activation is None:
        activation_name = classifier_activation
    else:
        activation_name = getattr(classifier_activation, "__name__", None)
        if activation_name is None:
            raise ValueError("classifier_activation must be None, an activation name or a named "
                             f"function, got {classifier_activation!r}")
    from mhzoo.model_class import model_class

    model_cls = model_class(km)
    inputs = km.Input(shape=(h, w, c), batch_size=batch_size, name="image")
    x = inputs
    if include_preprocessing:
        x = preprocessing.layer(km, channels=c)(x)

    from mhzoo.layers import decode_body

    x, endpoints = decode_body(km, spec, x)
    if features_only:
        outputs = _endpoint_outputs(spec, endpoints, h, w)
        model_name = f"{model_name}_features"
    else:
        if include_top:
            pooled = any(isinstance(b, GlobalPool) for b in spec.blocks)
            if pooled:
                x = km.layers.Flatten(name="flatten")(x)
            else:
                x = km.layers.GlobalAveragePooling2D(name="avg_pool")(x)
            if dropout_rate > 0:
                x = km.layers.Dropout(dropout_rate, name="dropout")(x)
            x = km.layers.Dense(num_classes, name="classifier")(x)
            if classifier_activation is not None:
                x = km.layers.Activation(classifier_activation, name="predictions")(x)
        elif pooling == "avg":
            x = km.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        elif pooling == "max":
            x = km.layers.GlobalMaxPooling2D(name="max_pool")(x)
        outputs = x

    head = include_top and not features_only
    config = BuildConfig(
        spec=spec, base_spec=base, width=float(width), divisible_by=divisible_by,
        input_shape=(h, w, c), batch_size=batch_size, include_top=head,
        num_classes=num_classes if head else None, pooling=None if head or features_only
        else pooling, dropout_rate=float(dropout_rate) if head else 0.0,
        classifier_activation=activation_name if head else None,
        include_preprocessing=bool(include_preprocessing), preprocessing=preprocessing,
        framework=framework, features_only=bool(features_only), name=given_name,
        weights=None if weights is None else str(weights))
    model = model_cls(inputs, outputs, name=model_name, mhzoo_config=config)
    if source is not None:
        source.load_into(model, include_top=head)
        model.pretrained_cfg = source.config
    return model


def rebuild(config: BuildConfig, **overrides: Any) -> Any:
    """A new model of the graph ``config`` records (fresh weights), with ``overrides`` applied
    (see :meth:`BuildConfig.build_kwargs`)."""
    return build(config.spec, 1.0, **config.build_kwargs(**overrides))


def _endpoint_outputs(spec: ArchSpec, endpoints: dict[int, Any], h: int | None,
                      w: int | None) -> dict[str, Any]:
    """Endpoints keyed by their cumulative stride, ``stride_4`` ... ``stride_32``."""
    outs: dict[str, Any] = {}
    owner: dict[str, int] = {}
    stride = 1
    for i, b in enumerate(spec.blocks):
        stride *= getattr(b, "stride", 1)
        if i in endpoints:
            key = f"stride_{stride}"
            if key in outs:
                raise ValueError(f"{spec.name}: blocks {owner[key]} and {i} are both endpoints at "
                                 f"stride {stride}; flag one block per stride as 'out'")
            outs[key] = endpoints[i]
            owner[key] = i
    if not outs:
        raise ValueError(f"{spec.name} defines no feature endpoints")
    return outs


def load_model(path: str | os.PathLike, *, framework: str = "keras", compile: bool = False
               ) -> Any:
    """Load a model saved with ``model.save(...)`` from an mhzoo build.

    Registers mhzoo's hard-swish / hard-sigmoid activations first, which plain
    ``keras.models.load_model`` needs for MobileNetV3 models (or ``import mhzoo.layers`` and
    call ``mhzoo.layers.register_serializables(keras)`` yourself).
    """
    from mhzoo.layers import register_serializables
    from mhzoo.model_class import model_class

    km = get_keras(framework)
    register_serializables(km)
    model_class(km)  # registers mhzoo>MhzooModel, which carries the build config
    p = Path(path)
    if not p.exists():
        raise ValueError(f"model file not found: {p}")
    return km.models.load_model(str(p), compile=compile)
