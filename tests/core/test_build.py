"""Every registered model builds at several widths in both frameworks, with the right shapes,
the counts the profiler predicts, and identical logits across Keras 3 and tf_keras."""

from __future__ import annotations

import numpy as np
import pytest

import mhzoo
from mhzoo.variables import assign_named_weights, named_weights

MODELS = mhzoo.list_models()
WIDTHS = (0.5, 0.75, 1.0, 1.25)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", MODELS)
def test_builds_in_both_frameworks_with_same_logits(name, width, randomize_bn):
    kw = dict(input_shape=(None, None, 3), num_classes=10, classifier_activation=None)
    k3 = mhzoo.build(name, width, **kw)
    k2 = mhzoo.build(name, width, framework="tf_keras", **kw)

    # Same variable names, order and shapes in both frameworks.
    w3, w2 = named_weights(k3), named_weights(k2)
    assert list(w3) == list(w2)
    assert [v.shape for v in w3.values()] == [v.shape for v in w2.values()]

    # The profiler's spec-derived counts equal Keras' own.
    prof = mhzoo.profile(k3)
    assert prof.verified and prof.keras_params == k3.count_params() == k2.count_params()

    randomize_bn(k3, seed=int(width * 100))
    assign_named_weights(k2, named_weights(k3))
    rng = np.random.default_rng(0)
    for h, w in ((224, 224), (160, 192)):
        x = rng.uniform(0, 255, (2, h, w, 3)).astype("float32")
        y3 = np.asarray(k3(x, training=False))
        y2 = np.asarray(k2(x, training=False))
        assert y3.shape == y2.shape == (2, 10)
        np.testing.assert_allclose(y3, y2, atol=1e-5, rtol=0)
        assert np.abs(y3).max() > 1e-3  # a real signal, not all zeros


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


def test_preprocessing_inside_equals_outside(randomize_bn):
    inside = mhzoo.build("multi_max", classifier_activation=None)
    outside = mhzoo.build("multi_max", classifier_activation=None, include_preprocessing=False)
    randomize_bn(inside)
    assign_named_weights(outside, named_weights(inside))
    img = np.random.default_rng(1).integers(0, 256, (1, 224, 224, 3)).astype("float32")
    np.testing.assert_allclose(inside(img), outside(inside.preprocessing.apply(img)), atol=1e-5)
    assert inside.get_layer("preprocessing") is not None


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
