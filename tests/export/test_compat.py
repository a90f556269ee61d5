"""Hardware compatibility on real exports: Table 1's 'x' (MobileNetV3 Large not on EdgeTPU, with
the share left on the CPU), Multi-* everywhere at the newest API level, the NNAPI API-30 input
QUANTIZE, the float-I/O boundary ops on the Edge TPU. Synthetic op lists that hit each rule
condition are in test_compat_rules.py."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from mhzoo.export.compat import RULE_SETS, check_compatibility, load_rules
from mhzoo.export.op_inventory import inventory


def test_rules_are_data_with_sources():
    for t in RULE_SETS:
        text = resources.files("mhzoo.export").joinpath("rules", f"{t}.json").read_text()
        rules = json.loads(text)
        assert rules["target"] == t and rules["ops"]
        assert rules["sources"] and all(s["url"].startswith("https://") for s in rules["sources"])
    with pytest.raises(ValueError, match="unknown compatibility rule set"):
        load_rules("tpu_v9")


@pytest.mark.parametrize("name", ["multi_avg", "multi_max"])
def test_multi_models_fully_supported_everywhere(name, exports):
    res = exports.export(name, "int8_full")
    report = check_compatibility(inventory(res.path.read_bytes()))
    assert report.fully_supported == {t: True for t in RULE_SETS}
    # the search space obeys the DSP preferences: no kernel > 5, filters multiples of 32
    assert report.targets["hexagon"].warnings == []
    assert res.compatibility.fully_supported == report.fully_supported
    assert report.targets["nnapi"].api_level == 35  # the newest level by default


def test_int8_full_multi_max_needs_nnapi_api_30(exports):
    """uint8 I/O: the QUANTIZE uint8 -> int8 that starts the graph needs API 30 (NNAPI 1.3)."""
    inv = inventory(exports.export("multi_max", "int8_full").path.read_bytes())
    first = inv.op_details[0]
    assert first.name == "QUANTIZE" and first.graph_input and first.outputs[0].dtype == "INT8"
    at30 = check_compatibility(inv, ("nnapi",), api_level=30).targets["nnapi"]
    assert at30.fully_supported, at30.summary()
    at29 = check_compatibility(inv, ("nnapi",), api_level=29).targets["nnapi"]
    assert not at29.fully_supported
    (quant,) = at29.fallback_ops
    assert quant["op"] == "QUANTIZE" and quant["count"] == 1 and "UINT8" in quant["reason"]
    assert "QUANTIZE" in at29.summary()
    newest = check_compatibility(inv).targets["nnapi"]
    assert newest.min_api_fully_supported == 30
    assert [o["op"] for o in newest.fallback_by_api["API 29"]] == ["QUANTIZE"]


@pytest.fixture(scope="module")
def fp32_io_export(tmp_path_factory, calib_images, calibrate_weights):
    """Multi-MAX int8_full_fp32_io at 96x96 (verdicts do not depend on the input size)."""
    import mhzoo
    from mhzoo.export import to_tflite

    model = mhzoo.build("multi_max", input_shape=(96, 96, 3), num_classes=10)
    calibrate_weights(model, seed=1)
    out = tmp_path_factory.mktemp("fp32io") / "mm_fp32io.tflite"
    return to_tflite(model, out, quant="int8_full_fp32_io", representative_data=calib_images,
                     calibration_steps=4, fidelity_images=2)


def test_int8_full_fp32_io_not_fully_on_edgetpu(fp32_io_export):
    inv = inventory(fp32_io_export.path.read_bytes())
    edgetpu = check_compatibility(inv).targets["edgetpu"]
    assert not edgetpu.fully_supported
    # the float-input QUANTIZE and the final DEQUANTIZE stay on the CPU; the ops between
    # them form the one Edge TPU subgraph
    assert {o["op"] for o in edgetpu.fallback_ops} == {"QUANTIZE", "DEQUANTIZE"}
    share = edgetpu.cpu_share
    assert share["cpu_ops"] == 2 and share["first_cpu_op"] is None and share["madds"] == 0.0
    assert share["total_madds"] == inv.total_madds > 0
    assert fp32_io_export.compatibility.fully_supported["edgetpu"] is False


def test_mobilenet_v3_large_not_on_edgetpu(exports):
    res = exports.export("mobilenet_v3_large", "int8_full")
    inv = inventory(res.path.read_bytes())
    assert "HARD_SWISH" in inv.op_names() and inv.se_gates > 0
    edgetpu = check_compatibility(inv).targets["edgetpu"]
    assert not edgetpu.fully_supported
    fallback = {o["op"] for o in edgetpu.fallback_ops}
    assert fallback == {"HARD_SWISH"}  # real TFLite operators only
    # the squeeze-and-excite gate is a graph pattern, reported as a problem in words
    (se,) = [p for p in edgetpu.problems if "squeeze-excite gate" in p]
    assert f"x{inv.se_gates}" in se and "MUL by per-channel sigmoid" in se
    assert "HARD_SWISH" in edgetpu.summary() and "SE_GATE" not in edgetpu.summary()
    # one Edge TPU subgraph: from the first HARD_SWISH (after the stem) on, all runs on the CPU
    share = edgetpu.cpu_share
    first = share["first_cpu_op"]
    assert first["op"] == "HARD_SWISH" and first["index"] < 10
    assert share["cpu_ops"] == share["total_ops"] - first["index"]
    assert 0.9 < share["ops"] < 1 and 0.9 < share["madds"] < 1
    assert f"{share['madds']:.0%} of MAdds" in edgetpu.summary()
    # it runs on the other targets; Hexagon only warns about widths not a multiple of 32
    others = check_compatibility(inv)
    assert all(others.targets[t].fully_supported for t in ("gpu", "hexagon", "nnapi"))
    assert any("multiple of 32" in w for w in others.targets["hexagon"].warnings)


def test_minimalistic_v3_runs_on_edgetpu(exports):
    res = exports.export("mobilenet_v3_large_minimalistic", "int8_full")
    assert res.compatibility.fully_supported["edgetpu"]


def test_float_model_needs_integer_targets(exports):
    res = exports.export("multi_max", "float32")
    rep = res.compatibility
    assert rep.fully_supported == {"edgetpu": False, "gpu": True, "hexagon": False,
                                   "nnapi": True}
    assert "integer" in rep.targets["edgetpu"].problems[0]


def test_dynamic_batch_is_flagged(tmp_path):
    """A plain conversion with a None batch dimension is caught by the static-shape rule."""
    import tensorflow as tf

    import mhzoo

    model = mhzoo.build("multi_max", input_shape=(64, 64, 3), num_classes=4)
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    fn = tf.function(lambda x: model(x, training=False)).get_concrete_function(
        tf.TensorSpec((None, 64, 64, 3), tf.float32))
    conv = tf.lite.TFLiteConverter.from_concrete_functions([convert_variables_to_constants_v2(fn)])
    inv = inventory(conv.convert())
    assert not inv.static_shapes
    rep = check_compatibility(inv)
    assert not rep.targets["edgetpu"].fully_supported
    assert any("dynamic" in p for p in rep.targets["gpu"].problems)
