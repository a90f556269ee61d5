"""ArchSpec encodings and the registry."""

from __future__ import annotations

import json

import pytest

import mhzoo
from mhzoo.registry import get_spec
from mhzoo.spec import ArchSpec, InvertedBottleneck, parse_block
from mhzoo.widths import make_divisible, scale_spec

MODELS = mhzoo.list_models()


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("width", (1.0, 0.75))
def test_json_round_trip_is_lossless(name, width):
    spec = scale_spec(get_spec(name), width) if width != 1.0 else get_spec(name)
    again = ArchSpec.from_json(spec.to_json())
    assert again == spec
    assert again.to_dict() == spec.to_dict()
    assert again.description == spec.description


@pytest.mark.parametrize("name", MODELS)
def test_compact_string_is_readable_and_parses_back(name):
    spec = get_spec(name)
    text = spec.to_string()
    lines = text.splitlines()
    assert lines[0].startswith(f"{name}:")
    assert len(lines) == len(spec.blocks) + 1
    blocks = tuple(parse_block(line.split(maxsplit=1)[1]) for line in lines[1:])
    assert blocks == spec.blocks


def test_block_string_grammar():
    b = parse_block("ib_k5_s2_e2.3_c40_se0.25_hs_fused_noskip_out")
    assert b == InvertedBottleneck(40, 5, 2, 2.3, se_ratio=0.25, activation="hard_swish",
                                   fused=True, residual=False, endpoint=True)
    assert parse_block(b.to_string()) == b
    assert parse_block("ib_k3_s1_x96_c32_relu").expansion_filters == 96


@pytest.mark.parametrize("bad", ["", "zz_k3", "ib_k3_s1_c", "ib_k3_q7_c16", "conv_k3_s1_e6_c8",
                                 "ib_k3_s1_relu", "pool_k3"])
def test_bad_block_strings(bad):
    with pytest.raises(ValueError):
        parse_block(bad)


@pytest.mark.parametrize("text", [
    "{not json", "[]", '{"name": "x"}', '{"name": "x", "blocks": [{"type": "warp"}]}',
    '{"name": "x", "blocks": [{"type": "conv", "filters": -3}]}',
    '{"name": "x", "blocks": [{"type": "conv", "filters": 8, "colour": 1}]}',
    '{"name": "x", "blocks": ["pool"]}', '{"name": "x", "blocks": [], "extra": 1}',
])
def test_malformed_spec_json(text):
    with pytest.raises(ValueError):
        ArchSpec.from_json(text)


def test_spec_json_accepts_block_strings():
    spec = ArchSpec.from_json(json.dumps({"name": "tiny", "blocks": [
        "conv_k3_s2_c16_relu", "ib_k3_s2_e4_c24_relu_out", "conv_k1_s1_c64_relu"]}))
    assert spec.blocks[1].expansion == 4


def test_make_divisible_rules():
    assert make_divisible(20) == 24  # 16 would lose more than 10 %
    assert make_divisible(72) == 72
    assert make_divisible(3) == 8


def test_list_models_patterns():
    assert mhzoo.list_models("multi_*") == ["multi_avg", "multi_avg_seg", "multi_max",
                                            "multi_max_seg"]
    assert mhzoo.list_models(["multi_max", "mobilenet_v1"]) == ["mobilenet_v1", "multi_max"]
    assert "multi_avg_seg" not in mhzoo.list_models(kind="classifier")
    assert len(mhzoo.list_models()) == 11


def test_model_info_has_sources_and_paper_row():
    info = mhzoo.model_info("multi_avg")
    assert info["paper"]["top1_accuracy_pct"] == 75.8
    assert any("tensorflow/models" in s for s in info["sources"])
    assert ArchSpec.from_dict(info["spec"]) == get_spec("multi_avg")
    assert mhzoo.model_info("mobilenet_v3_small")["paper"] is None
