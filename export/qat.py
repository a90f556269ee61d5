"""Quantization-aware training export: tfmot ``quantize_model`` on the tf_keras build.

tensorflow-model-optimization only wraps tf_keras (Keras 2) models, so the same concrete spec
is built with ``framework="tf_keras"`` and the Keras 3 weights are copied by name. The
normalization layer (a ``Rescaling``, which tfmot cannot quantize) becomes an equivalent frozen
1x1 depthwise convolution, so the whole graph, normalization included, is integer. Fake-quant
ranges start from the float model's activation ranges on the given images (instead of tfmot's
[-6, 6] defaults), the input range is pinned to [0, 255] so uint8 pixels go in unchanged, and a
short fine-tune distils the float model's outputs on the given images (no labels needed).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

from mhzoo.spec import ArchSpec

__all__ = ["HARD_ACTIVATIONS", "check_qat_supported", "qat_concrete_function"]

HARD_ACTIVATIONS = ("hard_swish", "hard_sigmoid", "hard_sigmoid_tfm")


def check_qat_supported(spec: ArchSpec) -> None:
    """``ValueError`` when ``spec`` uses activations that tfmot cannot wrap."""
    acts = {getattr(b, "activation", None) for b in spec.blocks}
    if any(getattr(b, "se_ratio", None) for b in spec.blocks):
        acts.add(spec.se_gate)
    bad = sorted(a for a in acts if a in HARD_ACTIVATIONS)
    if bad:
        raise ValueError(
            f"QAT is not available for {spec.name}: tensorflow-model-optimization cannot wrap "
            f"hard-swish/hard-sigmoid activations ({', '.join(bad)} used here); export it with "
            "post-training quantization instead (--quant int8_full)")


def _import_tfmot() -> Any:
    """Import tfmot without leaving its process-wide ``TF_USE_LEGACY_KERAS=1`` behind.

    tfmot sets that variable when imported (to pick tf_keras for itself); left set, it would
    switch ``tf.keras`` to Keras 2 in every process started from this one. ``tf.keras`` is
    resolved first, so this process keeps what it had too.
    """
    import tensorflow as tf

    getattr(tf.keras, "version", None)  # resolve the lazy alias under the caller's environment
    before = os.environ.get("TF_USE_LEGACY_KERAS")
    try:
        import tensorflow_model_optimization as tfmot
    except ImportError:
        raise ValueError("QAT needs tensorflow-model-optimization: pip install 'mhzoo[qat]'"
                         ) from None
    finally:
        if before is None:
            os.environ.pop("TF_USE_LEGACY_KERAS", None)
        else:
            os.environ["TF_USE_LEGACY_KERAS"] = before
    return tfmot


def _replace_rescaling(tk_model: Any) -> Any:
    """Clone with the ``preprocessing`` Rescaling replaced by a frozen 1x1 depthwise conv."""
    import tf_keras

    from mhzoo.variables import assign_named_weights, named_weights

    def clone(layer: Any) -> Any:
        if isinstance(layer, tf_keras.layers.Rescaling):
            return tf_keras.layers.DepthwiseConv2D(1, use_bias=True, trainable=False,
                                                   name=layer.name)
        return layer.__class__.from_config(layer.get_config())

    out = tf_keras.models.clone_model(tk_model, clone_function=clone)
    missing = assign_named_weights(out, named_weights(tk_model), strict=False)
    if any(not name.startswith("preprocessing/") for name in missing):
        raise RuntimeError(f"weights not copied into the QAT model: {missing}")
    return out


def _pin_input_range(layer: Any) -> None:
    """Input fake-quant range [0, 255]: the pixel range, so uint8 input has scale 1, zp 0."""
    for v in layer.weights:
        if not v.dtype.is_floating:
            continue
        short = v.name.split("/")[-1].split(":")[0]
        if short.endswith("_min"):
            v.assign(0.0)
        elif short.endswith("_max"):
            v.assign(255.0)


def _pin_normalized_range(q: Any, preprocessing: Any, channels: int) -> None:
    """Output range of the normalization: exactly its image of [0, 255]."""
    scale, offset = preprocessing.scale_offset(channels)
    ends = np.stack([offset, 255.0 * scale + offset])
    for v in q.get_layer("quant_preprocessing").weights:
        short = v.name.split("/")[-1].split(":")[0]
        if short == "output_min":
            v.assign(min(float(ends.min()), 0.0))
        elif short == "output_max":
            v.assign(max(float(ends.max()), 0.0))


def _init_ranges(q: Any, float_model: Any, images: np.ndarray, batch: int) -> None:
    """Set each output fake-quant range to the float activation range on ``images``."""
    import tf_keras

    targets: dict[str, tuple[Any, Any]] = {}
    for layer in q.layers:
        name = layer.name
        mins = [v for v in layer.weights if v.name.split("/")[-1].startswith("output_min")]
        maxs = [v for v in layer.weights if v.name.split("/")[-1].startswith("output_max")]
        if name.startswith("quant_") and mins and maxs:
            targets[name[len("quant_"):]] = (mins[0], maxs[0])
        if name.startswith("quantize_layer"):
            _pin_input_range(layer)
    names = [n for n in targets if n in {lay.name for lay in float_model.layers}]
    probe = tf_keras.Model(float_model.inputs,
                           [float_model.get_layer(n).output for n in names])
    lo = {n: np.inf for n in names}
    hi = {n: -np.inf for n in names}
    for i in range(0, len(images), batch):
        outs = probe(images[i:i + batch], training=False)
        outs = outs if isinstance(outs, list) else [outs]
        for n, o in zip(names, outs):
            a = o.numpy()
            lo[n], hi[n] = min(lo[n], float(a.min())), max(hi[n], float(a.max()))
    for n in names:
        vmin, vmax = targets[n]
        vmin.assign(min(lo[n], 0.0))
        vmax.assign(max(hi[n], 0.0) if hi[n] > lo[n] else lo[n] + 1e-3)


def qat_concrete_function(
    spec: ArchSpec, build_kwargs: dict[str, Any], weights: dict[str, np.ndarray],
    images: np.ndarray, *, steps: int = 10, batch_size: int = 8, learning_rate: float = 1e-4,
    progress: Callable[[int], None] | None = None,
) -> Any:
    """Quantization-aware fine-tune; returns a frozen batch-1 concrete function to convert.

    Args:
        spec: the concrete spec of the model (width already applied).
        build_kwargs: ``mhzoo.build`` keywords of the export model (input shape, head, ...).
        weights: ``mhzoo.variables.named_weights`` of the float Keras 3 model.
        images: fine-tuning images, float32 (N, H, W, C) pixels in [0, 255].
        steps: fine-tuning steps (>= 1; the weight quantizer ranges are set by a training step).
        batch_size: images per step.
        learning_rate: SGD (momentum 0.9) learning rate.
        progress: called with 1 after each step.
    """
    check_qat_supported(spec)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"qat_steps must be an integer >= 1, got {steps!r}")
    tfmot = _import_tfmot()
    import tensorflow as tf
    import tf_keras

    from mhzoo.builder import build
    from mhzoo.variables import assign_named_weights

    kwargs = dict(build_kwargs, batch_size=None, framework="tf_keras")
    tk = build(spec, 1.0, **kwargs)
    assign_named_weights(tk, weights)
    float_model = _replace_rescaling(tk)
    pre = float_model.get_layer("preprocessing")
    scale, offset = build_kwargs["preprocessing"].scale_offset(images.shape[-1])
    pre.set_weights([scale.reshape(1, 1, -1, 1), offset])
    try:
        q = tfmot.quantization.keras.quantize_model(float_model)
    except (ValueError, RuntimeError, AttributeError, TypeError) as exc:
        raise ValueError(f"tensorflow-model-optimization cannot quantize {spec.name}: "
                         f"{str(exc).splitlines()[0]}") from None
    batch = max(1, min(batch_size, len(images)))
    _init_ranges(q, float_model, images, batch)
    _pin_normalized_range(q, build_kwargs["preprocessing"], images.shape[-1])
    softmax_out = build_kwargs.get("classifier_activation") is not None

    def probs(y: Any) -> Any:
        return y if softmax_out else tf.nn.softmax(y)

    # batch-norm statistics stay those of the float model: a short fine-tune on a few images
    # must not re-estimate them (standard QAT practice freezes BN statistics)
    bn_stats = [v for v in q.weights if any(k in v.name for k in ("moving_mean",
                                                                    "moving_variance"))]
    saved = [v.numpy() for v in bn_stats]
    # the normalization is fixed: keep it out of training, its range exact
    train_vars = [v for v in q.trainable_variables if "preprocessing" not in v.name]
    opt = tf_keras.optimizers.SGD(learning_rate, momentum=0.9)
    rng = np.random.default_rng(0)
    for _ in range(steps):
        idx = rng.choice(len(images), size=batch, replace=len(images) < batch)
        x = tf.constant(images[idx])
        teacher = probs(float_model(x, training=False))
        with tf.GradientTape() as tape:
            student = probs(q(x, training=True))
            loss = -tf.reduce_mean(tf.reduce_sum(teacher * tf.math.log(student + 1e-8), -1))
        grads = tape.gradient(loss, train_vars)
        opt.apply_gradients([(g, v) for g, v in zip(grads, train_vars) if g is not None])
        if progress:
            progress(1)
    for v, value in zip(bn_stats, saved):
        v.assign(value)
    _pin_normalized_range(q, build_kwargs["preprocessing"], images.shape[-1])
    for layer in q.layers:  # uint8 pixels stay exact: input scale 1, zero point 0
        if layer.name.startswith("quantize_layer"):
            _pin_input_range(layer)
    h, w, c = images.shape[1:]
    fn = tf.function(lambda image: q(image, training=False)).get_concrete_function(
        tf.TensorSpec((1, h, w, c), tf.float32, name="image"))
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    return convert_variables_to_constants_v2(fn)
