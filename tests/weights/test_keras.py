"""keras.applications converter: equivalence for every supported pair on Keras models whose
logits depend on the input (calibrated batch norms); broken variants fail the comparison."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from live_models import (
    assert_close,
    calibrate,
    compare,
    perturbed_early_layer,
    smooth_images,
    swap_channels,
)

import mhzoo
from mhzoo.weights import convert, read_safetensors
from mhzoo.weights.convert_keras import KERAS_MODELS
from mhzoo.weights.fit import minimalistic

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
SHAPE = (96, 96, 3)
#: converted vs Keras logits, as a fraction of the logit scale
KERAS_RTOL = 1e-4


def calibrated(src, name: str, seed: int = 0):
    """``src`` (a keras.applications model) with live weights: batch norms calibrated on
    images in the model's own input convention (V3 rescales inside: [0, 255]; V1 / V2 take
    keras' "tf" preprocessing, [-1, 1])."""
    x = smooth_images(8, SHAPE[:2], seed=seed)
    return calibrate(src, x if "v3" in name else x / 127.5 - 1.0, seed=seed)


def keras_app(k, name: str, alpha: float, **kw):
    ctor, extra = KERAS_MODELS[name]
    return getattr(k.applications, ctor)(input_shape=SHAPE, alpha=alpha, weights=None,
                                         classifier_activation=None, **extra, **kw)


PAIRS = [("mobilenet_v1", 1.0), ("mobilenet_v1", 0.5), ("mobilenet_v2", 1.0),
         ("mobilenet_v2", 1.3), ("mobilenet_v3_large", 1.0), ("mobilenet_v3_large", 0.5),
         ("mobilenet_v3_large_minimalistic", 1.0), ("mobilenet_v3_small", 1.0),
         ("mobilenet_v3_small", 0.75), ("mobilenet_v3_small_minimalistic", 1.0)]


def test_pairs_cover_every_keras_model():
    assert {p[0] for p in PAIRS} == set(KERAS_MODELS)


def _converted(tmp_path, name, alpha):
    import keras

    src = calibrated(keras_app(keras, name, alpha), name)
    out = convert("keras", src, tmp_path / "ck", model=name, width=alpha)
    build_name = "mobilenet_v3_small" if name == "mobilenet_v3_small_minimalistic" else name
    model = mhzoo.build(build_name, input_shape=SHAPE, classifier_activation=None, weights=out)
    x = smooth_images(2, SHAPE[:2], seed=1)
    # V3 rescales inside the model; V1 / V2 expect keras' "tf" preprocessing ([-1, 1]);
    # the mhzoo model takes [0, 255] and normalizes inside (include_preprocessing=True).
    x_keras = x if "v3" in name else x / 127.5 - 1.0
    return out, model, x, np.asarray(src(x_keras, training=False))


@pytest.mark.parametrize(("name", "alpha"), PAIRS)
def test_keras_applications_equivalence(tmp_path, name, alpha):
    """Converted logits equal the Keras model's within 1e-4 of their scale, on weights whose
    logits depend on the image (``assert_close`` also checks the two images differ)."""
    out, model, x, ref = _converted(tmp_path, name, alpha)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["width"] == alpha
    got = np.asarray(model(x, training=False))
    assert_close(got, ref, KERAS_RTOL, what=f"{name} at {alpha}")
    if (name, alpha) == ("mobilenet_v3_large", 0.5):
        # Keras keeps the V3 stem at 16 filters (Model Garden: 8 at 0.5): stored spec rules
        assert model.arch_spec.blocks[0].filters == 16 and cfg["base_spec"] is None


@pytest.mark.parametrize("variant", ["channels_swapped", "normalization_off",
                                     "early_layer_perturbed"])
@pytest.mark.parametrize("name", ["mobilenet_v2", "mobilenet_v3_small"])
def test_broken_conversion_fails_the_keras_comparison(tmp_path, name, variant):
    """A test for the test: BGR pixels, pixels normalized before the model's own
    normalization, or a stem kernel off by 1% fail the comparison above."""
    _, model, x, ref = _converted(tmp_path, name, 1.0)
    if variant == "channels_swapped":
        got = model(swap_channels(x), training=False)
    elif variant == "normalization_off":
        got = model(model.preprocessing.apply(x), training=False)
    else:
        with perturbed_early_layer(model, scale=0.01):
            got = model(x, training=False)
    res = compare(np.asarray(got), ref, KERAS_RTOL)
    assert not res.ok, f"{name} {variant}: {res}"


def test_weight_files_tf_keras_h5_and_keras3_weights_h5(tmp_path):
    """The published format (legacy .h5 by layer name, written by tf_keras with its
    'expanded_conv/depthwise/BatchNorm' names), Keras 3 .weights.h5 and .keras files give the
    same tensors as the in-memory conversion."""
    import keras
    import tf_keras

    k3 = calibrated(keras_app(keras, "mobilenet_v3_small", 1.0), "mobilenet_v3_small", seed=5)
    k3.save_weights(tmp_path / "k3.weights.h5")
    a = read_safetensors(convert("keras", k3, tmp_path / "mem", model="mobilenet_v3_small")
                         / "model.safetensors")
    b = read_safetensors(convert("keras", tmp_path / "k3.weights.h5", tmp_path / "file",
                                 model="mobilenet_v3_small") / "model.safetensors")
    assert set(a) == set(b) and all(np.array_equal(a[k], b[k]) for k in a)
    k3.save(tmp_path / "k3.keras")
    d = read_safetensors(convert("keras", tmp_path / "k3.keras", tmp_path / "full",
                                 model="mobilenet_v3_small") / "model.safetensors")
    assert set(a) == set(d) and all(np.array_equal(a[k], d[k]) for k in a)

    tk = keras_app(tf_keras, "mobilenet_v3_small", 1.0)
    assert any("/" in la.name for la in tk.layers)  # tf_keras' slim-style names
    tk.set_weights(k3.get_weights())
    tk.save_weights(str(tmp_path / "legacy.h5"))
    c = read_safetensors(convert("keras", str(tmp_path / "legacy.h5"), tmp_path / "legacy",
                                 model="mobilenet_v3_small") / "model.safetensors")
    assert set(a) == set(c) and all(np.array_equal(a[k], c[k]) for k in a)


def test_minimalistic_transform_matches_registry():
    large = minimalistic(mhzoo.registry.get_spec("mobilenet_v3_large"))
    assert large.blocks == mhzoo.registry.get_spec("mobilenet_v3_large_minimalistic").blocks


def test_keras_variant_mismatches_are_clear(tmp_path):
    import keras

    src = keras_app(keras, "mobilenet_v3_large_minimalistic", 1.0)
    with pytest.raises(ValueError, match="pass --model mobilenet_v3_large_minimalistic"):
        convert("keras", src, tmp_path / "a", model="mobilenet_v3_large")
    with pytest.raises(ValueError, match="v3 large model, not mobilenet_v2"):
        convert("keras", src, tmp_path / "b", model="mobilenet_v2")
    with pytest.raises(ValueError, match=r"no keras\.applications counterpart"):
        convert("keras", src, tmp_path / "c", model="multi_max")
    with pytest.raises(ValueError, match="1000 classes, not 10; pass --num-classes 1000"):
        convert("keras", src, tmp_path / "d", model="mobilenet_v3_large_minimalistic",
                num_classes=10)
    (tmp_path / "bad.h5").write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match=r"cannot read .*bad\.h5"):
        convert("keras", str(tmp_path / "bad.h5"), tmp_path / "e", model="mobilenet_v2")


def test_num_classes_against_keras_weights_without_top(tmp_path):
    import keras

    src = keras_app(keras, "mobilenet_v3_small", 1.0, include_top=False)
    with pytest.raises(ValueError) as err:
        convert("keras", src, tmp_path / "a", model="mobilenet_v3_small", num_classes=10)
    msg = str(err.value)
    assert msg.startswith("the Keras checkpoint has no classifier (a feature extractor), so it "
                          "cannot give 10 classes; drop --num-classes")
    assert "include_top=False" in msg and "None" not in msg
