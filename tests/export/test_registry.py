"""Every registered classifier at width 1.0: float32 and int8_full exports, checked on LiteRT."""

from __future__ import annotations

import numpy as np
import pytest
from mhzoo.export.fidelity import run_tflite
from mhzoo.export.op_inventory import inventory

import mhzoo

CLASSIFIERS = mhzoo.list_models(kind="classifier")
#: int8_full vs float logit bounds. Measured on the three photographs (random weights, batch
#: norm randomized by `randomize_bn`): cosine >= 0.9998 and SQNR >= 34 dB on all nine.
#: Note: with these weights the logits hardly depend on the image (the signal fades with
#: depth), so the bound mostly checks the logit read-out (SOFTMAX input, its scale and zero
#: point) and the quantized head, not accumulated error through the network.
INT8_LOGIT_COSINE = 0.995
INT8_LOGIT_SQNR_DB = 25.0


def test_registry_has_the_paper_models():
    assert {"multi_avg", "multi_max", "mobilenet_v3_large"} <= set(CLASSIFIERS)


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_float32_and_int8_full(name, exports, calib_images):
    model = exports.model(name)
    assert model.width == 1.0 and model.inputs[0].shape[0] is None  # exported at batch 1 anyway
    f32 = exports.export(name, "float32")
    data = f32.path.read_bytes()
    inv = inventory(data)
    assert inv.inputs[0].shape == (1, 224, 224, 3) and inv.inputs[0].dtype == "FLOAT32"
    assert inv.static_shapes
    assert not {"SHAPE", "STRIDED_SLICE", "PACK"} & set(inv.op_names())
    # float TFLite logits vs Keras on real photographs (uint8 pixels go in, normalization
    # inside): the SOFTMAX input of the .tflite against the Keras `classifier` layer output
    import keras
    from mhzoo.export.representative import representative_array

    images = representative_array(calib_images[:3], (224, 224, 3), 3)
    logit_model = keras.Model(model.inputs[0], model.get_layer("classifier").output)
    keras_logits = logit_model(images, training=False).numpy()
    tfl_logits = run_tflite(data, images, logits=True)
    assert np.abs(keras_logits).max() > 1e-2  # not a degenerate all-zero model
    np.testing.assert_allclose(tfl_logits, keras_logits, atol=1e-4, rtol=0)
    probs = run_tflite(data, images)  # the model output stays the softmax
    np.testing.assert_allclose(probs, model(images, training=False).numpy(), atol=1e-5)
    assert f32.fidelity.output_kind == "logits"
    assert f32.fidelity.logits_from == "SOFTMAX input"
    assert f32.fidelity.max_abs_diff <= 1e-4
    assert f32.fidelity_path.is_file()

    q = exports.export(name, "int8_full")
    qdata = q.path.read_bytes()
    qinv = inventory(qdata)
    assert qinv.integer_only, qinv.float_ops
    assert set(qinv.activation_types) <= {"INT8", "UINT8", "INT32"}
    assert qinv.inputs[0].dtype == "UINT8" and qinv.outputs[0].dtype == "UINT8"
    # raw uint8 pixels go in unchanged: input scale 1, zero point 0
    assert qinv.inputs[0].scale == pytest.approx(1.0, abs=1e-6) and qinv.inputs[0].zero_point == 0
    assert not {"SHAPE", "STRIDED_SLICE", "PACK"} & set(qinv.op_names())
    out = run_tflite(qdata, images)
    assert out.shape == (3, 1000) and np.isfinite(out).all()
    # int8 fidelity on logits (random weights, randomized batch-norm statistics): the
    # dequantized SOFTMAX input follows the float logits on every photograph
    qlogits = run_tflite(qdata, images, logits=True)
    cos = np.sum(qlogits * keras_logits, 1) / (
        np.linalg.norm(qlogits, axis=1) * np.linalg.norm(keras_logits, axis=1))
    assert cos.min() > INT8_LOGIT_COSINE, cos
    assert q.fidelity.output_kind == "logits" and q.fidelity.logits_from == "SOFTMAX input"
    assert q.fidelity.cosine_similarity > INT8_LOGIT_COSINE
    assert q.fidelity.sqnr_db > INT8_LOGIT_SQNR_DB
    sqnr = 10 * np.log10(np.sum(keras_logits ** 2) / np.sum((qlogits - keras_logits) ** 2))
    assert sqnr > INT8_LOGIT_SQNR_DB, sqnr
