"""Every quantization mode converts, runs on LiteRT, has the I/O types of its name, and follows
the Keras logits of a model whose logits depend on the image (float modes within a fraction of
the logit scale, quantized modes by centred cosine and top-1); broken variants fail that."""

from __future__ import annotations

import numpy as np
import pytest
from live_models import (
    BROKEN_VARIANTS,
    assert_close,
    broken_export_outputs,
    check_input_dependence,
    compare,
    compare_logits,
    logit_model,
)

from mhzoo.export import QUANT_MODES, to_saved_model, to_tflite
from mhzoo.export.fidelity import run_tflite
from mhzoo.export.op_inventory import inventory

EXPECTED_IO = {"float32": "FLOAT32", "fp16": "FLOAT32", "dynamic": "FLOAT32", "int8": "FLOAT32",
               "int8_full": "UINT8", "int8_full_int8_io": "INT8", "int8_full_fp32_io": "FLOAT32"}


#: float modes: largest logit difference as a fraction of the logit scale
FLOAT_RTOL = {"float32": 1e-4, "fp16": 2e-2}
#: quantized modes (weights or weights + activations): centred logit cosine and top-1
#: agreement on the six images (live weights: logits that depend on the image). Measured:
#: dynamic 0.979 / 6 of 6, int8* 0.939 / 5 of 6; fed BGR or normalized twice, or against
#: another stem: cosine <= -0.26, 1 of 6. (Float: float32 4.8e-6, fp16 4.2e-3 of the scale.)
QUANT_COSINE, QUANT_TOP1 = 0.8, 0.6


@pytest.fixture(scope="module")
def small_model(calibrate_weights):
    import mhzoo

    model = mhzoo.build("multi_max", input_shape=(64, 64, 3), num_classes=7)
    calibrate_weights(model, seed=4)
    return model


@pytest.fixture(scope="module")
def images(calib_images) -> np.ndarray:
    """The six calibration images at 64 x 64, float32 pixels in [0, 255]."""
    from mhzoo.export.representative import representative_array

    return representative_array(calib_images, (64, 64, 3), 6)


def fidelity(quant: str, tfl_logits: np.ndarray, ref_logits: np.ndarray):
    """The comparison of a ``quant`` export's logits with the Keras logits (a report)."""
    if quant in FLOAT_RTOL:
        return compare(tfl_logits, ref_logits, FLOAT_RTOL[quant])
    return compare_logits(tfl_logits, ref_logits, cosine=QUANT_COSINE, top1=QUANT_TOP1)


def test_mode_names():
    assert QUANT_MODES == ("float32", "fp16", "dynamic", "int8", "int8_full",
                           "int8_full_int8_io", "int8_full_fp32_io", "qat")


@pytest.mark.parametrize("quant", list(EXPECTED_IO))
def test_ptq_modes(quant, small_model, calib_images, images, tmp_path, capfd):
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
    # logits (the SOFTMAX input) against the Keras classifier on six images whose logits differ
    ref = logit_model(small_model)(images)
    check_input_dependence(ref[0], ref[1], FLOAT_RTOL["float32"], what="the Keras logits")
    got = run_tflite(flat, images, logits=True)
    assert got.shape == ref.shape == (6, 7)
    rep = fidelity(quant, got, ref)
    assert rep.ok, f"{quant}: {rep}"
    if quant == "float32":  # the softmax output too
        assert_close(run_tflite(flat, images), small_model(images, training=False).numpy(),
                     FLOAT_RTOL["float32"])
    assert res.fidelity.mode == quant


@pytest.fixture(scope="module")
def exported(small_model, calib_images, tmp_path_factory):
    """``exported(quant)``: the .tflite bytes of ``small_model`` (made once per module)."""
    root, done = tmp_path_factory.mktemp("broken"), {}

    def get(quant: str) -> bytes:
        if quant not in done:
            data = calib_images if quant.startswith("int8") else None
            res = to_tflite(small_model, root / f"{quant}.tflite", quant=quant,
                            representative_data=data, calibration_steps=4, fidelity_images=1)
            done[quant] = res.path.read_bytes()
        return done[quant]

    return get


@pytest.mark.parametrize("variant", BROKEN_VARIANTS)
@pytest.mark.parametrize("quant", ["float32", "int8_full"])
def test_broken_variant_fails_the_fidelity_comparison(quant, variant, small_model, images,
                                                      exported):
    """A test for the test: the comparison of ``test_ptq_modes`` reports a mismatch when the
    export is fed BGR, is fed already-normalized images (the pipeline normalizes twice), or is
    compared with a model whose stem kernel differs (a fresh random one)."""
    got, ref = broken_export_outputs(variant, small_model, exported(quant), images)
    rep = fidelity(quant, got, ref)
    assert not rep.ok, f"{quant} {variant}: {rep}"


def test_saved_model(small_model, images, tmp_path):
    import tensorflow as tf

    out = to_saved_model(small_model, tmp_path / "sm")
    loaded = tf.saved_model.load(str(out))
    x = images[:2]
    got = np.concatenate([loaded.signatures["serving_default"](image=tf.constant(x[i:i + 1]))
                          ["output"].numpy() for i in range(2)])
    assert_close(got, small_model(x, training=False).numpy(), FLOAT_RTOL["float32"])
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
