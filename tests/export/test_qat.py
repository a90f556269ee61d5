"""QAT (tfmot on the tf_keras build) for the ReLU models; a clear error for hard-swish ones."""

from __future__ import annotations

import numpy as np
import pytest
from mhzoo.export import to_tflite
from mhzoo.export.fidelity import run_tflite
from mhzoo.export.op_inventory import inventory

RELU_MODELS = ["multi_avg", "multi_max", "mobilenet_v1", "mobilenet_v2", "mobilenet_edgetpu",
               "proxylessnas_mobile", "mobilenet_v3_large_minimalistic"]
HARD_SWISH_MODELS = ["mobilenet_v3_large", "mobilenet_v3_small"]


@pytest.mark.parametrize("name", RELU_MODELS)
def test_qat_relu_models(name, tmp_path, calib_images, randomize_bn):
    import mhzoo

    model = mhzoo.build(name, input_shape=(64, 64, 3), num_classes=10)
    randomize_bn(model, seed=2)
    res = to_tflite(model, tmp_path / "m.tflite", quant="qat", representative_data=calib_images,
                    calibration_steps=4, qat_steps=1, qat_batch_size=2, fidelity_images=2)
    data = res.path.read_bytes()
    inv = inventory(data)
    assert inv.integer_only, inv.float_ops
    assert inv.inputs[0].dtype == "UINT8" and inv.inputs[0].shape == (1, 64, 64, 3)
    assert inv.inputs[0].scale == pytest.approx(1.0) and inv.inputs[0].zero_point == 0
    assert inv.outputs[0].dtype == "UINT8"
    out = run_tflite(data, np.stack([np.full((64, 64, 3), 120.0, np.float32)]))
    assert out.shape == (1, 10)
    assert out.sum() == pytest.approx(1.0, abs=0.05)  # softmax probabilities survive QAT
    assert res.fidelity.mode == "qat" and res.fidelity.num_images == 2
    # fidelity on logits: the SOFTMAX input of the QAT graph against the float classifier
    assert res.fidelity.output_kind == "logits"
    assert res.fidelity.logits_from == "SOFTMAX input"
    assert res.fidelity.probabilities_max_abs_diff is not None


@pytest.mark.parametrize("name", HARD_SWISH_MODELS)
def test_qat_hard_swish_is_a_clear_error(name, tmp_path, calib_images):
    import mhzoo

    model = mhzoo.build(name, input_shape=(64, 64, 3), num_classes=10)
    out = tmp_path / "m.tflite"
    with pytest.raises(ValueError, match="cannot wrap hard-swish/hard-sigmoid"):
        to_tflite(model, out, quant="qat", representative_data=calib_images)
    assert not out.exists()
