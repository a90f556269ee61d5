"""Test models whose outputs depend on their input, and comparisons relative to the output scale.

A freshly built model (Keras initializers, unit batch-norm statistics) answers the same thing
whatever the image: the signal dies in the depth of the network and only the head's bias
reaches the output, so an equivalence test on it checks the classifier head only.
:func:`calibrate` gives a model "live" weights instead: He-scaled kernels, random biases,
random batch-norm gamma / beta, and every batch norm's moving statistics measured on random
images (one training-mode pass with momentum 0, the way the Model Garden fixtures in
``../shared/data/tf-model-garden-fixtures`` were made), so each layer's activations keep their
scale and the outputs of two different images differ at the scale of the outputs themselves.
It then checks that, and fails the test when they do not (:func:`check_input_dependence`).

Comparisons are relative to the reference's scale (:func:`compare`, :func:`compare_logits`) and
return a report, so a test can also show that a deliberately broken variant (channels swapped,
normalization off, an early layer perturbed, other padding) fails the same comparison.

Used through the root ``conftest.py`` fixture ``calibrate_weights`` or
imported by test modules: ``from live_models import compare`` (``tests/`` is on ``sys.path``
because it holds the root ``conftest.py``; the module name is unique for that reason).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Size of the default calibration images when the model takes any input size.
DEFAULT_SIZE = 64
#: Default tolerance of float comparisons, as a fraction of the reference's largest |value|.
FLOAT_RTOL = 1e-4
#: Two different images must give outputs at least this many tolerances apart.
GUARD_MARGIN = 10.0
_KERNEL_LAYERS = ("Conv2D", "DepthwiseConv2D", "Dense")


# ---------------------------------------------------------------- images
def smooth_images(n: int, size: int | tuple[int, int], seed: int = 0) -> np.ndarray:
    """``n`` smooth random RGB images, float32 pixels in [0, 255] (bicubic-upsampled 8 x 8
    noise: neighbouring pixels correlate and the three channels differ, as in photographs)."""
    import tensorflow as tf

    h, w = (size, size) if isinstance(size, int) else size
    small = np.random.default_rng(seed).uniform(0, 255, (n, 8, 8, 3)).astype("float32")
    return tf.image.resize(small, (h, w), method="bicubic").numpy().clip(0, 255)


def swap_channels(images: np.ndarray) -> np.ndarray:
    """RGB <-> BGR (a broken variant: the wrong channel order)."""
    return np.ascontiguousarray(np.asarray(images)[..., ::-1])


def _has_preprocessing(model: Any) -> bool:
    return any(layer.name == "preprocessing" for layer in model.layers)


def default_images(model: Any, n: int = 8, seed: int = 0) -> np.ndarray:
    """Images that fit ``model``: its fixed input size (else :data:`DEFAULT_SIZE`), pixels in
    [0, 255] when the model normalizes inside, else already normalized to [-1, 1]."""
    shape = tuple(model.inputs[0].shape[1:3])
    size = shape if None not in shape else (DEFAULT_SIZE, DEFAULT_SIZE)
    x = smooth_images(n, size, seed)
    if model.inputs[0].shape[-1] == 1:
        x = x.mean(-1, keepdims=True)
    return x if _has_preprocessing(model) else x / 127.5 - 1.0


# ---------------------------------------------------------------- weights
def _flat_outputs(y: Any) -> np.ndarray:
    """Every output of a model call as one (N, -1) float64 array (dicts sorted by key)."""
    if isinstance(y, dict):
        parts = [y[k] for k in sorted(y)]
    elif isinstance(y, list | tuple):
        parts = list(y)
    else:
        parts = [y]
    arrays = [np.asarray(p, np.float64) for p in parts]
    return np.concatenate([a.reshape(len(a), -1) for a in arrays], axis=1)


def calibrate(model: Any, images: np.ndarray | None = None, seed: int = 0, *,
              residual_gain: float = 0.3, var_floor: float = 0.1,
              beta: tuple[float, float] = (1.0, 1.5),
              tol: float = FLOAT_RTOL) -> Any:
    """Give ``model`` (Keras 3 or tf_keras) weights whose outputs depend on the input.

    Kernels are He-normal (fan-in), biases N(0, 0.1), batch-norm gamma U(0.7, 1.3) and beta
    U(``beta``) (gamma and beta x ``residual_gain`` on projection batch norms, so residual
    branches stay smaller than the shortcut, as in a trained network). The default beta of
    1 to 1.5 standard deviations keeps most units in the linear part of ReLU / hard-swish: a
    random network with centred batch norms is chaotic (1% noise on the stem kernel moved
    the logits by 11% of their scale; 4% with this beta), which no trained network is and
    which would make int8 fidelity meaningless (13 dB SQNR; 16 dB with this beta). Then every
    batch norm's
    moving mean / variance are set to the statistics of its input on ``images`` (default
    :func:`default_images`) by one training-mode pass with momentum 0; moving variances are
    floored at ``var_floor`` x their layer's mean, so that a channel nearly constant on these
    images does not blow up on others (which would also ruin int8 calibration ranges).

    Finally the guard (:func:`check_input_dependence`) runs on two of the images: the model is
    returned only if their outputs differ by more than ``GUARD_MARGIN * tol`` of the output
    scale. Returns ``model`` (changed in place).
    """
    rng = np.random.default_rng(seed)
    bns = []
    for layer in model.layers:
        kind = type(layer).__name__
        ws = layer.get_weights()
        if not ws:
            continue
        if kind == "BatchNormalization":
            gain = residual_gain if "project" in layer.name else 1.0
            g, b, mean, var = ws
            layer.set_weights([(gain * rng.uniform(0.7, 1.3, g.shape)).astype("float32"),
                               (gain * rng.uniform(*beta, b.shape)).astype("float32"),
                               mean, var])
            bns.append(layer)
        elif kind in _KERNEL_LAYERS:
            k = ws[0]
            fan = int(np.prod(k.shape[:2]) if kind == "DepthwiseConv2D" else
                      np.prod(k.shape[:-1]))
            layer.set_weights([rng.normal(0, np.sqrt(2.0 / fan), k.shape).astype("float32")] +
                              [rng.normal(0, 0.1, w.shape).astype("float32") for w in ws[1:]])
    x = default_images(model, seed=seed) if images is None else np.asarray(images, "float32")
    if bns:
        momenta = [la.momentum for la in bns]
        for la in bns:
            la.momentum = 0.0
        try:
            model(x, training=True)
        finally:
            for la, m in zip(bns, momenta, strict=True):
                la.momentum = m
        for la in bns:  # channels nearly constant on the images must not blow up on others
            g, b, mean, var = la.get_weights()
            la.set_weights([g, b, mean, np.maximum(var, var_floor * var.mean()).astype(var.dtype)])
    y = _flat_outputs(model(x[:2], training=False))
    check_input_dependence(y[0], y[1], tol, what=f"{model.name} after calibrate()")
    return model


def check_input_dependence(out_a: Any, out_b: Any, tol: float = FLOAT_RTOL, *,
                           margin: float = GUARD_MARGIN, what: str = "the model") -> float:
    """The guard: fail (``AssertionError``) when the outputs of two different inputs differ by
    less than ``margin * tol`` of their scale, i.e. when a comparison at tolerance ``tol``
    could not tell one input from the other. Returns the relative difference."""
    a = np.asarray(out_a, np.float64).ravel()
    b = np.asarray(out_b, np.float64).ravel()
    scale = max(float(np.abs(a).max()), float(np.abs(b).max()))
    rel = float(np.abs(a - b).max()) / scale if scale > 0 else 0.0
    if not np.isfinite(rel) or rel < margin * tol:
        raise AssertionError(
            f"{what}: two different inputs give outputs {rel:.3g} apart (relative to the output "
            f"scale {scale:.3g}), below {margin:g} x the tolerance {tol:g}: an equivalence test "
            "on these outputs would not see the input")
    return rel


@contextlib.contextmanager
def perturbed_early_layer(model: Any, scale: float = 0.01, seed: int = 0) -> Iterator[str]:
    """Inside the block, the first convolution's kernel has relative noise of ``scale`` added
    (``scale=None``: replaced by a fresh random kernel of the same spread); restored on exit.
    Yields the layer name."""
    layer = next(la for la in model.layers if type(la).__name__ in _KERNEL_LAYERS)
    saved = layer.get_weights()
    k = saved[0]
    rng = np.random.default_rng(seed)
    noise = rng.normal(0, float(k.std()), k.shape)
    new = noise if scale is None else k + scale * noise
    layer.set_weights([new.astype(k.dtype), *saved[1:]])
    try:
        yield layer.name
    finally:
        layer.set_weights(saved)


# ---------------------------------------------------------------- comparisons
@dataclass(frozen=True)
class Comparison:
    """``got`` against ``ref``: largest |difference| relative to the reference's scale."""

    max_abs: float
    scale: float
    rel: float
    tol: float

    @property
    def ok(self) -> bool:
        """Within the tolerance."""
        return bool(np.isfinite(self.rel) and self.rel <= self.tol)

    def __str__(self) -> str:
        return (f"max |diff| {self.max_abs:.3g} at output scale {self.scale:.3g}: "
                f"{self.rel:.3g} of the scale ({'<=' if self.ok else '>'} tolerance "
                f"{self.tol:g})")


def compare(got: Any, ref: Any, tol: float = FLOAT_RTOL) -> Comparison:
    """Compare ``got`` with ``ref`` at ``tol`` x max |ref| (shapes must agree)."""
    g = np.asarray(got, np.float64)
    r = np.asarray(ref, np.float64)
    if g.shape != r.shape:
        raise AssertionError(f"shapes differ: {g.shape} vs {r.shape}")
    scale = float(np.abs(r).max())
    max_abs = float(np.abs(g - r).max())
    rel = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else float("inf"))
    return Comparison(max_abs=max_abs, scale=scale, rel=rel, tol=tol)


def assert_close(got: Any, ref: Any, tol: float = FLOAT_RTOL, what: str = "") -> Comparison:
    """:func:`compare`, failing the test when it is not ok; also runs the guard on the first
    two reference rows when there are two (different inputs must give different outputs)."""
    res = compare(got, ref, tol)
    assert res.ok, f"{what}: {res}" if what else str(res)
    r = np.asarray(ref)
    if r.ndim >= 1 and len(r) >= 2:
        check_input_dependence(r[0], r[1], tol, what=what or "the reference")
    return res


@dataclass(frozen=True)
class LogitComparison:
    """Quantized against float logits: top-1 agreement and the smallest per-image cosine."""

    top1_agreement: float
    min_cosine: float
    min_top1: float
    cosine_threshold: float

    @property
    def ok(self) -> bool:
        """Both figures at or above their thresholds."""
        return self.top1_agreement >= self.min_top1 and self.min_cosine >= self.cosine_threshold

    def __str__(self) -> str:
        return (f"top-1 agreement {self.top1_agreement:.0%} (need {self.min_top1:.0%}), "
                f"smallest cosine {self.min_cosine:.4f} (need {self.cosine_threshold})")


def compare_logits(got: Any, ref: Any, *, cosine: float, top1: float = 1.0) -> LogitComparison:
    """Compare (N, classes) logits on a scale that means something for a quantized model: the
    share of images whose top-1 class agrees, and the cosine of each image's logit vector
    *centred on the reference's mean over the images* (the image-independent part, e.g. the
    head's bias, is taken out, so the cosine measures how the input-dependent part agrees)."""
    g = np.asarray(got, np.float64).reshape(len(got), -1)
    r = np.asarray(ref, np.float64).reshape(len(ref), -1)
    centre = r.mean(0, keepdims=True) if len(r) > 1 else 0.0
    gc, rc = g - centre, r - centre
    den = np.linalg.norm(gc, axis=1) * np.linalg.norm(rc, axis=1)
    cos = np.where(den > 0, np.sum(gc * rc, 1) / np.maximum(den, 1e-300), 0.0)
    return LogitComparison(top1_agreement=float(np.mean(g.argmax(1) == r.argmax(1))),
                           min_cosine=float(cos.min()), min_top1=top1, cosine_threshold=cosine)


def logit_model(model: Any) -> Callable[[np.ndarray], np.ndarray]:
    """``images -> logits`` of an mhzoo classifier (the ``classifier`` Dense layer's output)."""
    import keras

    probe = keras.Model(model.inputs[0], model.get_layer("classifier").output)
    return lambda x: np.asarray(probe(np.asarray(x, "float32"), training=False))


#: the broken twins of an export comparison (see :func:`broken_export_outputs`)
BROKEN_VARIANTS = ("channels_swapped", "normalization_off", "early_layer_perturbed")


def broken_export_outputs(variant: str, model: Any, flat: bytes,
                          images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(got, ref)`` of a deliberately broken export comparison: the .tflite ``flat`` fed BGR
    images or already-normalized pixels (its pipeline normalizes twice), or the Keras reference
    computed with a fresh random stem kernel; a fidelity check must report a mismatch."""
    from mhzoo.export.fidelity import run_tflite

    ref = logit_model(model)(images)
    if variant == "channels_swapped":
        return run_tflite(flat, swap_channels(images), logits=True), ref
    if variant == "normalization_off":
        return run_tflite(flat, model.preprocessing.apply(images), logits=True), ref
    if variant != "early_layer_perturbed":
        raise ValueError(f"unknown broken variant {variant!r}")
    got = run_tflite(flat, images, logits=True)
    with perturbed_early_layer(model, scale=None):
        ref = logit_model(model)(images)
    return got, ref
