"""Every registered model builds at several widths in both frameworks, with the right shapes,
the counts the profiler predicts, and the same logits across Keras 3 and tf_keras on weights
whose logits depend on the image (``calibrate_weights``); broken twins must fail that check."""

from __future__ import annotations

import numpy as np
import pytest
from live_models import (
    assert_close,
    compare,
    perturbed_early_layer,
    smooth_images,
    swap_channels,
)

import mhzoo
from mhzoo.variables import assign_named_weights, named_weights

MODELS = mhzoo.list_models()
WIDTHS = (0.5, 0.75, 1.0, 1.25)


#: Keras 3 vs tf_keras logits: largest difference as a fraction of the logit scale.
FRAMEWORK_RTOL = 1e-4
SIZES = ((96, 96), (64, 80))


def _pair(name, width, calibrate_weights, spec_changes=None, **kw):
    """A calibrated Keras 3 logit model and its tf_keras twin holding the same weights (the twin
    built from the spec with ``spec_changes`` applied: a broken variant)."""
    kw = dict(input_shape=(None, None, 3), num_classes=10, classifier_activation=None, **kw)
    k3 = mhzoo.build(name, width, **kw)
    spec = mhzoo.registry.get_spec(name)
    k2 = mhzoo.build(spec.replace(**spec_changes) if spec_changes else name, width,
                     framework="tf_keras", **kw)
    calibrate_weights(k3, seed=int(width * 100))
    assign_named_weights(k2, named_weights(k3))
    return k3, k2


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", MODELS)
def test_builds_in_both_frameworks_with_same_logits(name, width, calibrate_weights):
    k3, k2 = _pair(name, width, calibrate_weights)

    # Same variable names, order and shapes in both frameworks.
    w3, w2 = named_weights(k3), named_weights(k2)
    assert list(w3) == list(w2)
    assert [v.shape for v in w3.values()] == [v.shape for v in w2.values()]

    # The profiler's spec-derived counts equal Keras' own.
    prof = mhzoo.profile(k3)
    assert prof.verified and prof.keras_params == k3.count_params() == k2.count_params()

    # Same logits on live weights (outputs that depend on the image; assert_close checks that
    # the two images' logits differ by far more than the tolerance)
    for i, (h, w) in enumerate(SIZES):
        x = smooth_images(2, (h, w), seed=10 + i)
        y3 = np.asarray(k3(x, training=False))
        y2 = np.asarray(k2(x, training=False))
        assert y3.shape == y2.shape == (2, 10)
        assert_close(y2, y3, FRAMEWORK_RTOL, what=f"{name} at {width}, {h}x{w}")


@pytest.mark.parametrize("variant", ["channels_swapped", "normalization_off",
                                     "early_layer_perturbed", "symmetric_padding"])
def test_broken_twin_fails_the_framework_comparison(variant, calibrate_weights):
    """A test for the test: the comparison above reports a mismatch when the tf_keras side is
    fed BGR, is fed normalized pixels (normalized twice), has its stem kernel off by 1%, or pads
    strided convolutions symmetrically (PyTorch) instead of 'same'."""
    k3, k2 = _pair("mobilenet_v3_small", 1.0, calibrate_weights,
                   {"padding": "symmetric"} if variant == "symmetric_padding" else None)
    x = smooth_images(2, SIZES[0], seed=10)
    ref = np.asarray(k3(x, training=False))
    if variant == "channels_swapped":
        got = k2(swap_channels(x), training=False)
    elif variant == "normalization_off":
        got = k2(k3.preprocessing.apply(x), training=False)
    elif variant == "early_layer_perturbed":
        with perturbed_early_layer(k2, scale=0.01):
            got = k2(x, training=False)
    else:
        got = k2(x, training=False)
    res = compare(np.asarray(got), ref, FRAMEWORK_RTOL)
    assert not res.ok, f"{variant}: {res}"


@pytest.mark.parametrize("name", MODELS)
def test_feature_endpoints(name):
    model = mhzoo.build(name, features_only=True, input_shape=(160, 192, 3))
    x = np.zeros((1, 160, 192, 3), "float32")
    out = model(x)
    assert sorted(out, key=lambda k: int(k.split("_")[1])) == [
        "stride_4", "stride_8", "stride_16", "stride_32"]
    for key, t in out.items():
        s = int(key.split("_")[1])
        assert t.shape[1:3] == (-(-160 // s), -(-192 // s))


@pytest.mark.parametrize(("pooling", "shape"), [(None, (1, 7, 7, 1280)), ("avg", (1, 1280)),
                                                ("max", (1, 1280))])
def test_include_top_false_pooling(pooling, shape):
    model = mhzoo.build("mobilenet_v2", include_top=False, pooling=pooling)
    assert model(np.zeros((1, 224, 224, 3), "float32")).shape == shape


PREPROCESSING_RTOL = 1e-5


def _inside_outside(calibrate_weights):
    kw = dict(classifier_activation=None, input_shape=(96, 96, 3), num_classes=10)
    inside = mhzoo.build("multi_max", **kw)
    outside = mhzoo.build("multi_max", include_preprocessing=False, **kw)
    calibrate_weights(inside)
    assign_named_weights(outside, named_weights(inside))
    img = np.random.default_rng(1).integers(0, 256, (2, 96, 96, 3)).astype("float32")
    return inside, outside, img


def test_preprocessing_inside_equals_outside(calibrate_weights):
    inside, outside, img = _inside_outside(calibrate_weights)
    assert inside.get_layer("preprocessing") is not None
    assert_close(np.asarray(outside(inside.preprocessing.apply(img))), np.asarray(inside(img)),
                 PREPROCESSING_RTOL, what="preprocessing inside vs outside")


@pytest.mark.parametrize("variant", ["channels_swapped", "normalization_off",
                                     "imagenet_normalization", "early_layer_perturbed"])
def test_broken_preprocessing_fails_the_comparison(variant, calibrate_weights):
    """A test for the test: BGR pixels, no normalization, the ImageNet normalization instead
    of the model's [-1, 1], or a perturbed stem each fail the comparison above."""
    inside, outside, img = _inside_outside(calibrate_weights)
    pre = inside.preprocessing
    if variant == "channels_swapped":
        got = outside(pre.apply(swap_channels(img)))
    elif variant == "normalization_off":
        got = outside(img)
    elif variant == "imagenet_normalization":
        assert pre != mhzoo.preprocessing.IMAGENET
        got = outside(mhzoo.preprocessing.IMAGENET.apply(img))
    else:
        with perturbed_early_layer(outside, scale=0.01):
            got = outside(pre.apply(img))
    res = compare(np.asarray(got), np.asarray(inside(img)), PREPROCESSING_RTOL)
    assert not res.ok, f"{variant}: {res}"


def test_imagenet_normalization_per_channel():
    model = mhzoo.build("multi_max", preprocessing=mhzoo.preprocessing.IMAGENET,
                        include_top=False, input_shape=(32, 32, 3))
    layer = model.get_layer("preprocessing")
    x = np.full((1, 32, 32, 3), 255.0, "float32")
    expected = (255.0 - np.array([123.675, 116.28, 103.53])) / np.array([58.395, 57.12, 57.375])
    np.testing.assert_allclose(np.asarray(layer(x))[0, 0, 0], expected, rtol=1e-5)


def test_fixed_batch_and_softmax():
    model = mhzoo.build("multi_avg", batch_size=1, input_shape=(96, 96, 3))
    assert model.input_shape == (1, 96, 96, 3)
    probs = np.asarray(model(np.zeros((1, 96, 96, 3), "float32")))
    assert probs.shape == (1, 1000)
    assert probs.sum() == pytest.approx(1.0, abs=1e-4)
    assert model.name == "multi_avg_100"


def test_alpha_alias_and_spec_object_and_json_file(tmp_path):
    spec = mhzoo.registry.get_spec("multi_max")
    path = tmp_path / "arch.json"
    path.write_text(spec.to_json())
    a = mhzoo.build("multi_max", alpha=0.75, include_top=False)
    b = mhzoo.build(spec, 0.75, include_top=False)
    c = mhzoo.build(str(path), 0.75, include_top=False)
    assert a.count_params() == b.count_params() == c.count_params()


def test_symmetric_padding_option_changes_strided_convs():
    spec = mhzoo.registry.get_spec("mobilenet_v2").replace(padding="symmetric")
    model = mhzoo.build(spec, include_top=False)
    assert model.get_layer("block0_conv_pad") is not None
    assert model.output_shape == (None, 7, 7, 1280)
