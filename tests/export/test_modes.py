"""Every quantization mode converts, runs on LiteRT and has the I/O types of its name."""

from __future__ import annotations

import numpy as np
import pytest
from mhzoo.export import QUANT_MODES, to_saved_model, to_tflite
from mhzoo.export.fidelity import run_tflite
from mhzoo.export.op_inventory import inventory

EXPECTED_IO = {"float32": "FLOAT32", "fp16": "FLOAT32", "dynamic": "FLOAT32", "int8": "FLOAT32",
               "int8_full": "UINT8", "int8_full_int8_io": "INT8", "int8_full_fp32_io": "FLOAT32"}


@pytest.fixture(scope="module")
def small_model(randomize_bn):
    import mhzoo

    model = mhzoo.build("multi_max", input_shape=(64, 64, 3), num_classes=7)
    randomize_bn(model, seed=4)
    return model


def test_mode_names():
    assert QUANT_MODES == ("float32", "fp16", "dynamic", "int8", "int8_full",
                           "int8_full_int8_io", "int8_full_fp32_io", "qat")


@pytest.mark.parametrize("quant", list(EXPECTED_IO))
def test_ptq_modes(quant, small_model, calib_images, tmp_path, capfd):
    data = calib_images if quant.startswith("int8") else None
    capfd.readouterr()
    res = to_tflite(small_model, tmp_path / f"{quant}.tflite", quant=quant,
                    representative_data=data, calibration_steps=4, fidelity_images=3)
    # no converter / interpreter chatter on stdout or stderr (absl trackable_obj warning,
    # "fully_quantize: 0, ...", "Created TensorFlow Lite XNNPACK delegate")
    out, err = capfd.readouterr()
    for noise in ("trackable_obj", "fully_quantize", "XNNPACK", "function_node"):
        assert noise not in out + err, (noise, out + err)
    flat = res.path.read_bytes()
    inv = inventory(flat)
    assert inv.inputs[0].dtype == EXPECTED_IO[quant] == inv.outputs[0].dtype
    assert inv.static_shapes and inv.inputs[0].shape == (1, 64, 64, 3)
    # int8 allows float fallback, but every op of these models has an int8 kernel
    assert inv.integer_only == quant.startswith("int8")
    if quant == "fp16":
        assert "DEQUANTIZE" in inv.op_names()  # fp16 weights dequantized at load
    # dequantized weights are not activations: no 4-D tensor with a leading dimension > 1
    assert inv.max_leading_dim == 1
    assert not any("leading dimension" in p for p in res.compatibility.targets["edgetpu"].problems)
    x = np.stack([np.full((64, 64, 3), v, np.float32) for v in (30.0, 200.0)])
    out = run_tflite(flat, x)
    ref = small_model(x, training=False).numpy()
    tol = {"float32": 1e-5, "fp16": 0.02, "dynamic": 0.05}.get(quant, 0.1)
    np.testing.assert_allclose(out, ref, atol=tol)
    assert res.fidelity.mode == quant


def test_saved_model(small_model, tmp_path):
    import tensorflow as tf

    out = to_saved_model(small_model, tmp_path / "sm")
    loaded = tf.saved_model.load(str(out))
    x = np.full((1, 64, 64, 3), 99.0, np.float32)
    got = loaded.signatures["serving_default"](image=tf.constant(x))["output"].numpy()
    np.testing.assert_allclose(got, small_model(x, training=False).numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="exists"):
        to_saved_model(small_model, out)


def test_label_count_must_match(small_model, tmp_path):
    out = tmp_path / "m.tflite"
    with pytest.raises(ValueError, match="3 labels given for a 7-class model"):
        to_tflite(small_model, out, labels=["a", "b", "c"])
    assert not out.exists()


def test_plain_keras_model_rejected(tmp_path):
    import keras

    inp = keras.Input((32, 32, 3))
    m = keras.Model(inp, keras.layers.Conv2D(2, 3)(inp))
    with pytest.raises(ValueError, match=r"mhzoo\.build"):
        to_tflite(m, tmp_path / "m.tflite")
