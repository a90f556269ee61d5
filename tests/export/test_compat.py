"""Hardware compatibility: Table 1's 'x' (MobileNetV3 Large not on EdgeTPU), Multi-* everywhere."""

from __future__ import annotations

import json
from importlib import resources

import pytest
from mhzoo.export.compat import TARGETS, check_compatibility, load_rules
from mhzoo.export.inventory import inventory


def test_rules_are_data_with_sources():
    for t in TARGETS:
        text = resources.files("mhzoo.export").joinpath("rules", f"{t}.json").read_text()
        rules = json.loads(text)
        assert rules["target"] == t and rules["ops"]
        assert rules["sources"] and all(s["url"].startswith("https://") for s in rules["sources"])
    with pytest.raises(ValueError, match="unknown target"):
        load_rules("tpu_v9")


@pytest.mark.parametrize("name", ["multi_avg", "multi_max"])
def test_multi_models_fully_supported_everywhere(name, exports):
    res = exports.export(name, "int8_full")
    report = check_compatibility(inventory(res.path.read_bytes()))
    assert report.fully_supported == {t: True for t in TARGETS}
    # the search space obeys the DSP preferences: no kernel > 5, filters multiples of 32
    assert report.targets["hexagon"].warnings == []
    assert res.compatibility.fully_supported == report.fully_supported


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
