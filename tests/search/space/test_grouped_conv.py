"""Grouped 1x1 convolutions in the core spec: string / JSON, validation, counts, both Kerases."""

from __future__ import annotations

import numpy as np
import pytest

import mhzoo
from mhzoo.counting import count_layers
from mhzoo.spec import ArchSpec, InvertedBottleneck, parse_block

ROWS = ("conv_k3_s1_c16_relu", "ib_k3_s1_x16_c16_g2_relu", "ib_k5_s2_x24_c24_g2_relu",
        "ib_k3_s1_e1_c24_g4_relu", "conv_k1_s1_c64_relu")


def _spec() -> ArchSpec:
    return ArchSpec("grouped", tuple(parse_block(r) for r in ROWS))


def test_token_and_json_round_trip():
    spec = _spec()
    assert [b.to_string() for b in spec.blocks] == list(ROWS)
    assert ArchSpec.from_json(spec.to_json()) == spec
    assert spec.blocks[1].groups == 2 and spec.blocks[0].to_string() == ROWS[0]
    assert InvertedBottleneck(16).groups == 1 and "_g" not in InvertedBottleneck(16).to_string()
    old = {"name": "x", "blocks": [{"type": "conv", "filters": 8, "kernel": 3},
                                   {"type": "ib", "filters": 8}]}
    assert ArchSpec.from_dict(old).blocks[1].groups == 1  # JSON without the field


@pytest.mark.parametrize("text, msg", [
    ("ib_k3_s1_x16_c15_g2_relu", "filters 15 is not divisible by groups 2"),
    ("ib_k3_s1_x15_c16_g2_relu", "expansion_filters 15 is not divisible"),
    ("ib_k3_s1_x16_c16_g2_relu_fused", "regular"),
    ("ib_k3_s1_x16_c16_g0_relu", "groups must be an integer >= 1"),
])
def test_validation(text, msg):
    with pytest.raises(ValueError, match=msg):
        parse_block(text)


def test_counts_divide_by_groups():
    layers = {lc.name: lc for lc in count_layers(_spec(), (32, 32), 3, None)}
    assert layers["block1_expand"].weights == 16 * 16 // 2
    assert layers["block1_project"].madds == 32 * 32 * 16 * 16 // 2
    assert layers["block2_expand"].weights == 16 * 24 // 2
    assert layers["block3_project"].weights == 24 * 24 // 4  # no expand conv, grouped project
    bad = ArchSpec("bad", (parse_block("conv_k3_s1_c15_relu"), parse_block("ib_k3_s1_x16_c16_g2")))
    with pytest.raises(ValueError, match="not divisible by groups"):
        count_layers(bad, (32, 32), 3, None)


@pytest.mark.parametrize("framework", ["keras", "tf_keras"])
def test_build_both_frameworks(framework):
    from mhzoo.profiler import profile

    model = mhzoo.build(_spec(), input_shape=(32, 32, 3), num_classes=10, framework=framework)
    assert model.count_params() == profile(_spec(), input_size=32, num_classes=10).keras_params
    from mhzoo.variables import named_weights

    # cin / groups inputs per filter
    assert named_weights(model)["block1_expand/kernel"].shape == (1, 1, 8, 16)
    x = np.random.default_rng(0).uniform(0, 255, (1, 32, 32, 3)).astype("float32")
    assert model(x).shape == (1, 10)


def test_weights_move_between_frameworks():
    from mhzoo.variables import assign_named_weights, named_weights

    k3 = mhzoo.build(_spec(), input_shape=(32, 32, 3), num_classes=10)
    k2 = mhzoo.build(_spec(), input_shape=(32, 32, 3), num_classes=10, framework="tf_keras")
    assign_named_weights(k2, named_weights(k3))
    x = np.random.default_rng(1).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(k3(x)), np.asarray(k2(x)), atol=1e-5)


def test_float32_export(tmp_path):
    from mhzoo.export import to_tflite

    model = mhzoo.build(_spec(), input_shape=(32, 32, 3), num_classes=10)
    res = to_tflite(model, tmp_path / "g.tflite", quant="float32", fidelity_images=2)
    assert res.fidelity.max_abs_diff < 1e-4
    # every grouped conv stays one CONV_2D (7 convs in all: no split / concatenation)
    ops = {op.name: op.count for op in res.inventory.ops}
    assert ops["CONV_2D"] == 7 and "SPLIT" not in ops and "CONCATENATION" not in ops
