"""Every registered classifier at width 1.0: float32 and int8_full exports, checked on LiteRT."""

from __future__ import annotations

import numpy as np
import pytest
from live_models import (
    assert_close,
    compare,
    compare_logits,
    logit_model,
    perturbed_early_layer,
    swap_channels,
)

import mhzoo
from mhzoo.export.fidelity import run_tflite
from mhzoo.export.op_inventory import inventory

CLASSIFIERS = mhzoo.list_models(kind="classifier")
#: float TFLite vs Keras logits, as a fraction of the logit scale
FLOAT_RTOL = 1e-4
#: int8_full vs float logits on the six calibration images (live weights, see
#: ``calibrate_weights``): centred cosine and top-1 agreement (see ``live_models``), and the
#: export's own report on its fidelity images (plain cosine, SQNR). Measured on the nine:
#: centred cosine >= 0.42 (mobilenet_v3_small; the others >= 0.78), top-1 >= 3 of 6 (1000
#: classes, small margins), plain cosine >= 0.979, SQNR >= 13.6 dB (multi_avg / multi_max;
#: the others >= 23.9). Broken variants (BGR, normalized twice, another stem): centred cosine
#: <= -0.19 and top-1 <= 1 of 6.
INT8_CENTRED_COSINE, INT8_TOP1 = 0.3, 0.3
INT8_LOGIT_COSINE, INT8_LOGIT_SQNR_DB = 0.95, 10.0


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
    from mhzoo.export.representative import representative_array

    # float TFLite logits vs Keras on six images whose logits differ (uint8 pixels go in,
    # normalization inside): the SOFTMAX input of the .tflite against the Keras `classifier`
    images = representative_array(calib_images, (224, 224, 3), 6)
    keras_logits = logit_model(model)(images)
    tfl_logits = run_tflite(data, images, logits=True)
    assert_close(tfl_logits, keras_logits, FLOAT_RTOL, what=f"{name} float32")
    probs = run_tflite(data, images)  # the model output stays the softmax
    assert_close(probs, model(images, training=False).numpy(), FLOAT_RTOL,
                 what=f"{name} float32 probabilities")
    assert f32.fidelity.output_kind == "logits"
    assert f32.fidelity.logits_from == "SOFTMAX input"
    assert f32.fidelity.max_abs_diff <= FLOAT_RTOL * np.abs(keras_logits).max()
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
    assert out.shape == (6, 1000) and np.isfinite(out).all()
    # int8 fidelity on logits: the dequantized SOFTMAX input follows the input-dependent part
    # of the float logits (centred cosine) and their top-1 class
    qlogits = run_tflite(qdata, images, logits=True)
    rep = int8_fidelity(qlogits, keras_logits)
    assert rep.ok, f"{name} int8_full: {rep}"
    assert q.fidelity.output_kind == "logits" and q.fidelity.logits_from == "SOFTMAX input"
    assert q.fidelity.cosine_similarity > INT8_LOGIT_COSINE
    assert q.fidelity.sqnr_db > INT8_LOGIT_SQNR_DB


def int8_fidelity(qlogits: np.ndarray, keras_logits: np.ndarray):
    """The int8 comparison of :func:`test_float32_and_int8_full` (a report)."""
    return compare_logits(qlogits, keras_logits, cosine=INT8_CENTRED_COSINE, top1=INT8_TOP1)


@pytest.mark.parametrize("variant", ["channels_swapped", "normalization_off",
                                     "early_layer_perturbed"])
@pytest.mark.parametrize("quant", ["float32", "int8_full"])
def test_broken_variant_fails_the_registry_comparison(quant, variant, exports, calib_images):
    """A test for the test: fed BGR, fed already-normalized pixels, or compared with a model
    whose stem differs (float32: 1% noise; int8: a fresh random kernel), the export fails the
    comparisons of the test above."""
    from mhzoo.export.representative import representative_array

    model = exports.model("multi_max")
    flat = exports.export("multi_max", quant).path.read_bytes()
    images = representative_array(calib_images, (224, 224, 3), 6)
    ref = logit_model(model)(images)
    if variant == "channels_swapped":
        got = run_tflite(flat, swap_channels(images), logits=True)
    elif variant == "normalization_off":
        got = run_tflite(flat, model.preprocessing.apply(images), logits=True)
    else:
        got = run_tflite(flat, images, logits=True)
        with perturbed_early_layer(model, scale=0.01 if quant == "float32" else None):
            ref = logit_model(model)(images)
    rep = compare(got, ref, FLOAT_RTOL) if quant == "float32" else int8_fidelity(got, ref)
    assert not rep.ok, f"{quant} {variant}: {rep}"
