"""The compatibility rules as checked data: loading rejects what it cannot check, and each
condition kind decides on synthetic operator lists (no TensorFlow conversion)."""

from __future__ import annotations

import copy

import pytest

from mhzoo.export.compat import (
    CONDITION_KINDS,
    RULE_SETS,
    check_compatibility,
    load_rules,
    validate_rules,
)
from mhzoo.export.op_inventory import ModelInventory, OpDetail, OpInfo, TensorInfo


def t(shape, dtype="INT8", zp=0, name="t"):
    return TensorInfo(name, tuple(shape), tuple(shape), dtype, 0.1 if zp is not None else None,
                      zp)


def op(name, version=1, inputs=(), outputs=None, consts=None, values=None, index=0, **options):
    inputs = tuple(inputs)
    outputs = tuple(outputs if outputs is not None else [t((1, 8, 8, 32))])
    consts = tuple(consts) if consts is not None else tuple(i > 0 for i in range(len(inputs)))
    values = tuple(values) if values is not None else (None,) * len(inputs)
    return OpDetail(index, name, version, inputs, outputs, consts, values, dict(options))


def inv_of(*details, float_ops=(), se_gates=0):
    details = [OpDetail(i, d.name, d.version, d.inputs, d.outputs, d.const_inputs,
                        d.const_values, d.options, d.madds, 0, d.patterns, d.graph_input,
                        d.graph_output) for i, d in enumerate(details)]
    counts = {}
    for d in details:
        counts[(d.name, d.version)] = counts.get((d.name, d.version), 0) + 1
    return ModelInventory(
        ops=[OpInfo(n, v, c) for (n, v), c in counts.items()], inputs=[], outputs=[],
        activation_types=["INT8"], float_ops=list(float_ops), dynamic_tensors=[], convs=[],
        se_gates=se_gates, metadata_names=[], max_leading_dim=1, size_bytes=0,
        patterns={"SE_GATE": se_gates} if se_gates else {}, op_details=details)


def reasons(inv, target, api_level=None):
    res = check_compatibility(inv, (target,), api_level=api_level).targets[target]
    return {o["op"]: o["reason"] for o in res.fallback_ops}


X = t((1, 8, 8, 32))
W = t((32, 3, 3, 32), zp=None)
B = t((32,), "INT32", zp=None)


# ----------------------------------------------------------------------------- rule files


def test_rule_sets_and_deprecated_alias():
    assert RULE_SETS == ("edgetpu", "gpu", "hexagon", "nnapi")


@pytest.mark.parametrize("name", RULE_SETS)
def test_every_entry_names_a_declared_source(name):
    rules = load_rules(name)
    ids = {s["id"] for s in rules["sources"]}
    entries = list(rules["ops"].values()) + list(rules.get("requires", {}).values())
    entries += list(rules.get("preferences", {}).values()) + list(rules.get("patterns",
                                                                            {}).values())
    entries += rules.get("op_defaults", {}).get("conditions", [])
    for e in list(entries):
        entries += e.get("conditions", [])
    assert entries
    for e in entries:
        assert e["source"]["ref"] in ids and e["source"]["at"], e
        assert "note" not in e
    kinds = {c["kind"] for e in entries for c in [e] if "kind" in e}
    assert kinds <= set(CONDITION_KINDS)


def test_vocabulary_is_used():
    used = set()
    for name in RULE_SETS:
        rules = load_rules(name)
        for c in rules.get("op_defaults", {}).get("conditions", []):
            used.add(c["kind"])
        for e in rules["ops"].values():
            used.update(c["kind"] for c in e.get("conditions", []))
    assert used == set(CONDITION_KINDS), set(CONDITION_KINDS) - used


def _mutated(name, edit):
    rules = copy.deepcopy(load_rules(name))
    edit(rules)
    return rules


@pytest.mark.parametrize("edit, message", [
    (lambda r: r["ops"]["CONV_2D"].setdefault("conditions", []).append(
        {"kind": "kernel_is_pretty", "source": {"ref": "hexagon_utils", "at": "x"}}),
     "unknown condition kind 'kernel_is_pretty'"),
    (lambda r: r["ops"]["CONV_2D"].__setitem__("note", "only small kernels"), "unknown key"),
    (lambda r: r["ops"]["CONV_2D"].pop("source"), "needs \"source\""),
    (lambda r: r["ops"]["CONV_2D"]["conditions"][0].__setitem__("source", {"ref": "blog",
                                                                           "at": "x"}),
     "source 'blog' is not one of"),
    (lambda r: r["ops"]["CONV_2D"]["conditions"].append(
        {"kind": "max_stride", "source": {"ref": "hexagon_utils", "at": "x"}}),
     "missing value"),
    (lambda r: r["ops"]["CONV_2D"]["conditions"].append(
        {"kind": "max_stride", "value": 3, "stride_w": 2,
         "source": {"ref": "hexagon_utils", "at": "x"}}), "unknown parameter"),
    (lambda r: r["ops"]["CONV_2D"]["conditions"].append(
        {"kind": "option_equals", "option": "fused_act", "value": "NONE",
         "source": {"ref": "hexagon_utils", "at": "x"}}), "unknown option 'fused_act'"),
    (lambda r: r["ops"]["CONV_2D"].__setitem__("min_api", 30), "needs a rule set with"),
    (lambda r: r["ops"]["CONV_2D"].__setitem__("unverified", ""), "must say why"),
])
def test_loading_rejects_what_it_cannot_check(edit, message):
    with pytest.raises(ValueError, match=message):
        validate_rules(_mutated("hexagon", edit), "hexagon")


def test_unknown_rule_set():
    with pytest.raises(ValueError, match="unknown compatibility rule set"):
        load_rules("tpu_v9")


def test_bad_api_level():
    for bad in (0, 99, "30", True, 30.0):
        with pytest.raises(ValueError, match="api_level"):
            check_compatibility(inv_of(op("ADD", 1, [X, X])), api_level=bad)


# ------------------------------------------------------------------------------- NNAPI


def _io_quantize(out_dtype):
    return op("QUANTIZE", 1, [t((1, 8, 8, 3), "UINT8")], [t((1, 8, 8, 3), out_dtype, -128)],
              consts=[False])


def test_nnapi_int8_quantize_needs_api_30():
    inv = inv_of(_io_quantize("INT8"), op("CONV_2D", 3, [X, W, B], fused_activation="RELU",
                                          dilation=(1, 1)))
    assert reasons(inv, "nnapi", 30) == {}
    assert "UINT8" in reasons(inv, "nnapi", 29)["QUANTIZE"]
    res = check_compatibility(inv, ("nnapi",), api_level=29).targets["nnapi"]
    assert not res.fully_supported and res.api_level == 29
    # the default is the newest level, with the older levels that fall back listed
    res = check_compatibility(inv, ("nnapi",)).targets["nnapi"]
    assert res.api_level == 35 and res.fully_supported and res.min_api_fully_supported == 30
    assert [o["op"] for o in res.fallback_by_api["API 29"]] == ["QUANTIZE"]
    assert "API 28" in res.fallback_by_api and "API 30" not in res.fallback_by_api
    # a uint8 output is fine on API 29
    assert reasons(inv_of(_io_quantize("UINT8")), "nnapi", 29) == {}


def test_nnapi_dequantize_zero_point_below_api_30():
    dq = op("DEQUANTIZE", 2, [t((1, 10), "INT8", zp=-128)], [t((1, 10), "FLOAT32", None)],
            consts=[False])
    assert "zero point -128" in reasons(inv_of(dq), "nnapi", 29)["DEQUANTIZE"]
    assert reasons(inv_of(dq), "nnapi", 30) == {}
    sym = op("DEQUANTIZE", 2, [t((1, 10), "INT8", zp=0)], [t((1, 10), "FLOAT32", None)],
             consts=[False])
    assert reasons(inv_of(sym), "nnapi", 29) == {}
    assert "UINT8" in reasons(inv_of(sym), "nnapi", 28)["DEQUANTIZE"]  # int8 needs API 29


@pytest.mark.parametrize("name", ["ELU", "FILL", "PACK", "UNPACK", "SPLIT_V"])
def test_nnapi_ops_new_in_api_30(name):
    x = t((1, 4, 4, 8), "FLOAT32", None)
    inv = inv_of(op(name, 1, [x, t((3,), "INT32", None)], [x], consts=[name == "FILL", True],
                    values=[None, (1, 2, 1)]))
    assert reasons(inv, "nnapi", 29)[name] == "needs API 30"
    assert name not in reasons(inv, "nnapi", 30)


@pytest.mark.parametrize("name, cap", [("ADD", 2), ("MUL", 2), ("CONV_2D", 5),
                                       ("DEPTHWISE_CONV_2D", 3), ("FULLY_CONNECTED", 5),
                                       ("SOFTMAX", 2), ("RESHAPE", 1), ("MEAN", 2),
                                       ("QUANTIZE", 2)])
def test_nnapi_version_caps(name, cap):
    assert load_rules("nnapi")["ops"][name]["max_version"] == cap
    inv = inv_of(op(name, cap + 1, [X, W, B]))
    assert reasons(inv, "nnapi")[name] == f"version {cap + 1} > {cap}"


def test_nnapi_conv_needs_bias_and_rank_4():
    no_bias = op("CONV_2D", 3, [X, W, None], consts=[False, True, False], dilation=(1, 1))
    assert reasons(inv_of(no_bias), "nnapi")["CONV_2D"] == "no bias input"
    x5 = t((1, 2, 8, 8, 32))
    assert "rank 5 > 4" in reasons(inv_of(op("ADD", 2, [x5, x5], [x5], consts=[False, False])),
                                   "nnapi")["ADD"]
    dilated = op("CONV_2D", 3, [X, W, B], dilation=(2, 2))
    assert "dilation" in reasons(inv_of(dilated), "nnapi", 28)["CONV_2D"]
    assert reasons(inv_of(dilated), "nnapi", 29) == {}


def test_nnapi_hard_swish_has_no_version_cap():
    assert "HARD_SWISH" not in reasons(inv_of(op("HARD_SWISH", 7, [X])), "nnapi")


# ----------------------------------------------------------------------------- Hexagon


@pytest.mark.parametrize("name", ["RELU", "RSQRT", "SQUARED_DIFFERENCE"])
def test_hexagon_exact_version_2(name):
    ins = [X, X] if name == "SQUARED_DIFFERENCE" else [X]
    consts = [False] * len(ins)
    assert reasons(inv_of(op(name, 2, ins, consts=consts)), "hexagon") == {}
    for v in (1, 3):
        assert "needs exactly 2" in reasons(inv_of(op(name, v, ins, consts=consts)),
                                            "hexagon")[name]


def test_hexagon_conv_conditions():
    ok = dict(fused_activation="RELU6", stride=(2, 2), dilation=(1, 1))
    assert reasons(inv_of(op("CONV_2D", 3, [X, W, B], **ok)), "hexagon") == {}
    bad = {"fused_activation": ("TANH", "fused activation TANH"),
           "stride": ((4, 1), "stride (4, 1) > 3"), "dilation": ((2, 2), "dilation (2, 2)")}
    for key, (value, text) in bad.items():
        inv = inv_of(op("CONV_2D", 3, [X, W, B], **{**ok, key: value}))
        assert text in reasons(inv, "hexagon")["CONV_2D"]


def test_hexagon_depthwise_conditions():
    dw_w = t((1, 3, 3, 32), zp=None)
    base = dict(fused_activation="NONE", stride=(1, 1), dilation=(1, 1), depth_multiplier=1)
    assert reasons(inv_of(op("DEPTHWISE_CONV_2D", 3, [X, dw_w, B], **base)), "hexagon") == {}
    dm2 = op("DEPTHWISE_CONV_2D", 3, [X, dw_w, B], **{**base, "depth_multiplier": 2})
    assert "depth multiplier 2" in reasons(inv_of(dm2), "hexagon")["DEPTHWISE_CONV_2D"]
    one_channel = op("DEPTHWISE_CONV_2D", 3, [t((1, 8, 8, 1)), t((1, 3, 3, 2), zp=None), B],
                     **{**base, "depth_multiplier": 2})
    assert reasons(inv_of(one_channel), "hexagon") == {}  # allowed for a 1-channel input
    flat = op("DEPTHWISE_CONV_2D", 3, [X, t((1, 1, 3, 32), zp=None), B], **base)
    assert "filter height 1" in reasons(inv_of(flat), "hexagon")["DEPTHWISE_CONV_2D"]
    strided = op("DEPTHWISE_CONV_2D", 3, [X, dw_w, B],
                 **{**base, "dilation": (2, 2), "stride": (2, 2)})
    assert "needs stride 1" in reasons(inv_of(strided), "hexagon")["DEPTHWISE_CONV_2D"]


def test_hexagon_fc_and_types():
    fc_w = t((10, 32), zp=None)
    fc = dict(fused_activation="NONE", keep_num_dims=False, weights_format="DEFAULT")
    x2 = t((1, 32))
    assert reasons(inv_of(op("FULLY_CONNECTED", 4, [x2, fc_w, None], [t((1, 10))],
                             consts=[False, True, False], **fc)), "hexagon") == {}
    per_channel = op("FULLY_CONNECTED", 4, [x2, fc_w, None], [t((1, 10))],
                     consts=[False, True, False], per_channel_weights=True, **fc)
    assert reasons(inv_of(per_channel), "hexagon")["FULLY_CONNECTED"] == \
        "per-channel quantized weights"
    f32 = t((1, 8, 8, 32), "FLOAT32", None)
    assert "FLOAT32" in reasons(inv_of(op("QUANTIZE", 1, [f32], [X], consts=[False])),
                                "hexagon")["QUANTIZE"]
    assert reasons(inv_of(op("SUM", 1, [X, t((2,), "INT32", None)])), "hexagon")["SUM"] == \
        "operator not supported"


# --------------------------------------------------------------------------------- GPU


def test_gpu_softmax_beta_rank_and_axes():
    sm = lambda beta: op("SOFTMAX", 2, [t((1, 10))], [t((1, 10))], consts=[False], beta=beta)  # noqa: E731
    assert reasons(inv_of(sm(1.0)), "gpu") == {}
    assert reasons(inv_of(sm(0.5)), "gpu")["SOFTMAX"] == "beta 0.5 (needs 1)"
    x5 = t((1, 2, 3, 4, 5), "FLOAT32", None)
    assert "rank 5 > 4" in reasons(inv_of(op("RELU", 1, [x5], [x5])), "gpu")["RELU"]
    axes = t((2,), "INT32", None)
    runtime_axes = op("MEAN", 1, [X, axes], [t((1, 1, 1, 32))], consts=[False, False])
    assert "MEAN" in reasons(inv_of(runtime_axes), "gpu")  # runtime int32 axes
    assert CONDITION_KINDS["constant_input"][2](runtime_axes, {"index": 1}) == \
        "input 1 is not a constant"
    const_axes = op("MEAN", 1, [X, axes], [t((1, 1, 1, 32))], values=[None, (1, 2)])
    assert reasons(inv_of(const_axes), "gpu") == {}


def test_gpu_version_caps():
    caps = {"CONV_2D": 6, "DEPTHWISE_CONV_2D": 6, "FULLY_CONNECTED": 9, "ADD": 2, "MUL": 3,
            "SOFTMAX": 2, "RESHAPE": 1, "QUANTIZE": 2, "DEQUANTIZE": 3}
    rules = load_rules("gpu")["ops"]
    assert {k: rules[k].get("max_version") for k in caps} == caps
    assert reasons(inv_of(op("CONV_2D", 7, [X, W, B])), "gpu")["CONV_2D"] == "version 7 > 6"


# ---------------------------------------------------------------------------- Edge TPU


def test_edgetpu_single_subgraph_share():
    conv = op("CONV_2D", 3, [X, W, B], fused_activation="RELU", dilation=(1, 1))
    conv = OpDetail(0, "CONV_2D", 3, conv.inputs, conv.outputs, conv.const_inputs,
                    conv.const_values, conv.options, madds=1000)
    hs = op("HARD_SWISH", 1, [X], consts=[False])
    inv = inv_of(_io_quantize("INT8"), conv, hs, conv, conv)
    inv.op_details[0] = OpDetail(0, "QUANTIZE", 1, inv.op_details[0].inputs,
                                 inv.op_details[0].outputs, (False,), (None,), {},
                                 graph_input=True)
    res = check_compatibility(inv, ("edgetpu",)).targets["edgetpu"]
    assert not res.fully_supported and [o["op"] for o in res.fallback_ops] == ["HARD_SWISH"]
    share = res.cpu_share
    # HARD_SWISH is op 2: it and the two supported convolutions after it run on the CPU
    assert share["cpu_op_indices"] == [2, 3, 4] and share["ops"] == pytest.approx(3 / 5)
    assert share["madds"] == pytest.approx(2000 / 3000)
    assert share["first_cpu_op"]["op"] == "HARD_SWISH"
    assert "CPU: 60% of ops, 67% of MAdds" in res.summary()


def test_edgetpu_boundary_ops_do_not_cut_the_graph():
    f32 = t((1, 8, 8, 3), "FLOAT32", None)
    quant = OpDetail(0, "QUANTIZE", 1, (f32,), (t((1, 8, 8, 3)),), (False,), (None,), {},
                     graph_input=True)
    conv = op("CONV_2D", 3, [X, W, B], dilation=(1, 1))
    conv = OpDetail(0, "CONV_2D", 3, conv.inputs, conv.outputs, conv.const_inputs,
                    conv.const_values, conv.options, madds=500)
    deq = OpDetail(0, "DEQUANTIZE", 2, (t((1, 10), zp=-128),), (t((1, 10), "FLOAT32", None),),
                   (False,), (None,), {}, graph_output=True)
    res = check_compatibility(inv_of(quant, conv, deq), ("edgetpu",)).targets["edgetpu"]
    assert not res.fully_supported
    assert {o["op"] for o in res.fallback_ops} == {"QUANTIZE", "DEQUANTIZE"}
    assert res.cpu_share["cpu_op_indices"] == [0, 2] and res.cpu_share["madds"] == 0.0
    assert res.cpu_share["first_cpu_op"] is None


def test_edgetpu_op_limitations():
    axes = t((1,), "INT32", None)
    batch_mean = op("MEAN", 2, [X, axes], [t((8, 8, 32))], values=[None, (0,)])
    assert reasons(inv_of(batch_mean), "edgetpu")["MEAN"] == "reduces axis 0"
    z_mean = op("MEAN", 2, [t((1, 8, 8, 30)), axes], [t((1, 8, 8))], values=[None, (-1,)])
    assert "multiple of 4" in reasons(inv_of(z_mean), "edgetpu")["MEAN"]
    pool = op("MAX_POOL_2D", 2, [X], consts=[False], fused_activation="RELU")
    assert "fused activation RELU" in reasons(inv_of(pool), "edgetpu")["MAX_POOL_2D"]
    sm = op("SOFTMAX", 2, [t((1, 20000))], [t((1, 20000))], consts=[False], beta=1.0)
    assert "20000 elements" in reasons(inv_of(sm), "edgetpu")["SOFTMAX"]
    assert reasons(inv_of(op("DEQUANTIZE", 2, [X], consts=[False])), "edgetpu")[
        "DEQUANTIZE"] == "operator not supported"
    res = check_compatibility(inv_of(op("PAD", 2, [X, t((4, 2), "INT32", None)])),
                              ("edgetpu",)).targets["edgetpu"]
    assert res.unchecked == ["PAD: no padding in the batch dimension"]  # said, not ignored
    assert res.requirements == ["Edge TPU runtime >= 13 (for PAD)"]


def test_counts_only_inventory_checks_versions_and_says_what_it_skipped():
    inv = inv_of()
    inv.ops = [OpInfo("CONV_2D", 6, 2), OpInfo("SOFTMAX", 2, 1)]
    inv.op_details = []
    res = check_compatibility(inv, ("gpu",)).targets["gpu"]
    assert res.fully_supported
    assert any("SOFTMAX: condition 'softmax_beta' not checked" in u for u in res.unchecked)
    nn = check_compatibility(inv, ("nnapi",)).targets["nnapi"]
    assert {o["op"] for o in nn.fallback_ops} == {"CONV_2D"}
