"""keras.applications converter: equivalence on random weights for every supported pair."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from weights_helpers import max_rel_err

import mhzoo
from mhzoo.weights import convert, read_safetensors
from mhzoo.weights.convert_keras import KERAS_MODELS
from mhzoo.weights.fit import minimalistic

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
SHAPE = (96, 96, 3)


def randomize(model, seed: int = 0) -> None:
    """Random BN statistics / affine parameters and biases (kernels keep their random init)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        ws = layer.get_weights()
        if not ws:
            continue
        if type(layer).__name__ == "BatchNormalization":
            n = ws[0].shape
            ws = [rng.uniform(0.5, 1.5, n), rng.normal(0, 0.2, n), rng.normal(0, 0.2, n),
                  rng.uniform(0.5, 1.5, n)]
        else:
            ws = [w if w.ndim > 1 else rng.normal(0, 0.1, w.shape) for w in ws]
        layer.set_weights([np.asarray(w, np.float32) for w in ws])


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


@pytest.mark.parametrize(("name", "alpha"), PAIRS)
def test_keras_applications_equivalence(tmp_path, name, alpha):
    import keras

    src = keras_app(keras, name, alpha)
    randomize(src)
    out = convert("keras", src, tmp_path / "ck", model=name, width=alpha)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["width"] == alpha
    build_name = "mobilenet_v3_small" if name == "mobilenet_v3_small_minimalistic" else name
    model = mhzoo.build(build_name, input_shape=SHAPE, classifier_activation=None, weights=out)
    x = np.random.default_rng(1).uniform(0, 255, (2, *SHAPE)).astype("float32")
    # V3 rescales inside the model; V1 / V2 expect keras' "tf" preprocessing ([-1, 1]);
    # the mhzoo model takes [0, 255] and normalizes inside (include_preprocessing=True).
    x_keras = x if "v3" in name else x / 127.5 - 1.0
    ref = np.asarray(src(x_keras, training=False))
    got = np.asarray(model(x, training=False))
    assert max_rel_err(got, ref) <= 1e-4
    if (name, alpha) == ("mobilenet_v3_large", 0.5):
        # Keras keeps the V3 stem at 16 filters (Model Garden: 8 at 0.5): stored spec rules
        assert model.arch_spec.blocks[0].filters == 16 and cfg["base_spec"] is None


def test_weight_files_tf_keras_h5_and_keras3_weights_h5(tmp_path):
    """The published format (legacy .h5 by layer name, written by tf_keras with its
    'expanded_conv/depthwise/BatchNorm' names), Keras 3 .weights.h5 and .keras files give the
    same tensors as the in-memory conversion."""
    import keras
    import tf_keras

    k3 = keras_app(keras, "mobilenet_v3_small", 1.0)
    randomize(k3, seed=5)
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
