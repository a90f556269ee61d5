"""QAT (tfmot on the tf_keras build) for the ReLU models, its logits following the float
model's on calibrated weights (broken variants fail that); a clear error for hard-swish ones."""

from __future__ import annotations

import json

import numpy as np
import pytest
from live_models import (
    BROKEN_VARIANTS,
    broken_export_outputs,
    check_input_dependence,
    compare_logits,
    logit_model,
)

from mhzoo.export import to_tflite
from mhzoo.export.fidelity import run_tflite
from mhzoo.export.op_inventory import inventory

RELU_MODELS = ["multi_avg", "multi_max", "mobilenet_v1", "mobilenet_v2", "mobilenet_edgetpu",
               "proxylessnas_mobile", "mobilenet_v3_large_minimalistic"]
HARD_SWISH_MODELS = ["mobilenet_v3_large", "mobilenet_v3_small"]


#: QAT logits vs the float Keras logits on the six calibration images (live weights):
#: centred cosine and top-1 agreement (see ``live_models.compare_logits``). Measured on the
#: seven: centred cosine >= 0.70 (mobilenet_edgetpu; the others >= 0.87), top-1 >= 5 of 6.
#: Broken variants (BGR, normalized twice, another stem): centred cosine <= 0.23.
QAT_COSINE, QAT_TOP1 = 0.6, 0.6


def _qat_export(name, path, calib_images, calibrate_weights):
    import mhzoo

    model = mhzoo.build(name, input_shape=(64, 64, 3), num_classes=10)
    calibrate_weights(model, seed=2)
    res = to_tflite(model, path, quant="qat", representative_data=calib_images,
                    calibration_steps=6, qat_steps=1, qat_batch_size=2, fidelity_images=2)
    return model, res


@pytest.fixture(scope="module")
def images(calib_images) -> np.ndarray:
    """The six calibration images at 64 x 64, float32 pixels in [0, 255]."""
    from mhzoo.export.representative import representative_array

    return representative_array(calib_images, (64, 64, 3), 6)


def qat_fidelity(got: np.ndarray, ref: np.ndarray):
    """The comparison of QAT logits with the float logits (a report)."""
    return compare_logits(got, ref, cosine=QAT_COSINE, top1=QAT_TOP1)


@pytest.mark.parametrize("name", RELU_MODELS)
def test_qat_relu_models(name, tmp_path, calib_images, images, calibrate_weights):
    model, res = _qat_export(name, tmp_path / "m.tflite", calib_images, calibrate_weights)
    data = res.path.read_bytes()
    inv = inventory(data)
    assert inv.integer_only, inv.float_ops
    assert inv.inputs[0].dtype == "UINT8" and inv.inputs[0].shape == (1, 64, 64, 3)
    assert inv.inputs[0].scale == pytest.approx(1.0) and inv.inputs[0].zero_point == 0
    assert inv.outputs[0].dtype == "UINT8"
    out = run_tflite(data, images)
    assert out.shape == (6, 10)
    assert np.allclose(out.sum(1), 1.0, atol=0.05)  # softmax probabilities survive QAT
    # the QAT logits (SOFTMAX input) follow the float model's, image by image
    ref = logit_model(model)(images)
    check_input_dependence(ref[0], ref[1], 1e-2, what=f"{name} float logits")
    rep = qat_fidelity(run_tflite(data, images, logits=True), ref)
    assert rep.ok, f"{name} QAT: {rep}"
    assert res.fidelity.mode == "qat" and res.fidelity.num_images == 2
    # fidelity on logits: the SOFTMAX input of the QAT graph against the float classifier
    assert res.fidelity.output_kind == "logits"
    assert res.fidelity.logits_from == "SOFTMAX input"
    assert res.fidelity.probabilities_max_abs_diff is not None


@pytest.fixture(scope="module")
def qat_multi_max(tmp_path_factory, calib_images, calibrate_weights):
    model, res = _qat_export("multi_max", tmp_path_factory.mktemp("qat") / "m.tflite",
                             calib_images, calibrate_weights)
    return model, res.path.read_bytes()


@pytest.mark.parametrize("variant", BROKEN_VARIANTS)
def test_broken_variant_fails_the_qat_comparison(variant, qat_multi_max, images):
    """A test for the test: fed BGR, fed already-normalized pixels, or compared with a float
    model whose stem differs (a fresh random kernel), the QAT export fails the comparison."""
    model, data = qat_multi_max
    got, ref = broken_export_outputs(variant, model, data, images)
    rep = qat_fidelity(got, ref)
    assert not rep.ok, f"{variant}: {rep}"


@pytest.mark.parametrize("name", HARD_SWISH_MODELS)
def test_qat_hard_swish_is_a_clear_error(name, tmp_path, calib_images):
    import mhzoo

    model = mhzoo.build(name, input_shape=(64, 64, 3), num_classes=10)
    out = tmp_path / "m.tflite"
    with pytest.raises(ValueError, match="cannot wrap hard-swish/hard-sigmoid"):
        to_tflite(model, out, quant="qat", representative_data=calib_images)
    assert not out.exists()


@pytest.mark.parametrize("gate", ["hard_sigmoid", "hard_sigmoid_tfm"])
def test_qat_refuses_hard_sigmoid_gates_of_relu_models(gate):
    """A ReLU model whose squeeze-excite gate is a hard sigmoid (the paper's or the Model
    Garden's constant) is refused before tfmot sees it; a sigmoid gate is not."""
    import dataclasses

    from mhzoo.export.qat import check_qat_supported
    from mhzoo.spec import ArchSpec

    spec = ArchSpec.from_json(json.dumps({
        "name": "se_relu", "blocks": ["conv_k3_s2_c16_relu", "ib_k3_s1_e4_c16_se0.25_relu",
                                      "pool"]}))
    with pytest.raises(ValueError, match=gate):
        check_qat_supported(dataclasses.replace(spec, se_gate=gate))
    check_qat_supported(dataclasses.replace(spec, se_gate="sigmoid"))
