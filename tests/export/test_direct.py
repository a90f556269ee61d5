"""The direct .tflite writer against the TF converter: same structure, and it runs on LiteRT.

The converter's files are made once per session the way the benchmark harness makes them
(``mhzoo.build(..., batch_size=1)`` then ``export_tflite``). CI checks a representative subset
(depthwise-separable without a pool block, plain and fused inverted bottlenecks, hard-swish
with squeeze-excite); the sweep over every registry classifier is marked slow.
"""

from __future__ import annotations

import numpy as np
import pytest

import mhzoo
from mhzoo.registry import get_spec
from mhzoo.spec import ArchSpec, InvertedBottleneck

SIZE = 96
MODES = ("float32", "int8_full")
#: one model per kind of graph (ds + MEAN head, ReLU IB, hard-swish + SE, fused IB), each mode
CI_CASES = (("mobilenet_v1", "float32"), ("multi_max", "int8_full"),
            ("mobilenet_v3_large", "float32"), ("mobilenet_v3_large", "int8_full"),
            ("mobilenet_edgetpu", "int8_full"))
CLASSIFIERS = mhzoo.list_models(kind="classifier")


class _Converted:
    """Converter outputs made once per (model, mode) in this session."""

    def __init__(self, root) -> None:
        self.root = root
        self.files: dict[tuple[str, str], bytes] = {}

    def get(self, name: str, quant: str) -> bytes:
        key = (name, quant)
        if key not in self.files:
            from mhzoo.benchmarks.exporting import captured_output, export_tflite

            with captured_output():
                model = mhzoo.build(name, input_shape=(SIZE, SIZE, 3), batch_size=1)
            path = export_tflite(model, self.root / f"{name}_{quant}.tflite", quant)
            self.files[key] = path.read_bytes()
        return self.files[key]


@pytest.fixture(scope="session")
def converted(tmp_path_factory) -> _Converted:
    return _Converted(tmp_path_factory.mktemp("converted"))


def _direct(name: str, quant: str, **kw) -> bytes:
    from mhzoo.export.direct import spec_to_tflite_bytes

    return spec_to_tflite_bytes(get_spec(name), quant=quant, input_size=SIZE, **kw)


def _run(model: bytes) -> np.ndarray:
    from mhzoo.benchmarks.runner import _fill_inputs, load_interpreter

    interp = load_interpreter(model)
    _fill_inputs(interp)
    interp.invoke()
    return interp.get_tensor(interp.get_output_details()[0]["index"])


def _check_equivalent(converted: _Converted, name: str, quant: str) -> None:
    from mhzoo.export.compat import check_compatibility
    from mhzoo.export.direct import compare_structure
    from mhzoo.export.op_inventory import inventory

    ref, direct = converted.get(name, quant), _direct(name, quant)
    assert compare_structure(ref, direct) == []
    inv_ref, inv_direct = inventory(ref), inventory(direct)
    assert sorted(map(tuple, (vars(o).values() for o in inv_direct.ops))) == sorted(
        map(tuple, (vars(o).values() for o in inv_ref.ops)))
    assert inv_direct.integer_only == inv_ref.integer_only
    assert check_compatibility(inv_direct).fully_supported == \
        check_compatibility(inv_ref).fully_supported
    out = _run(direct)
    assert out.shape == (1, 1000)
    assert out.dtype == (np.uint8 if quant == "int8_full" else np.float32)
    assert np.all(np.isfinite(out.astype(np.float64)))


@pytest.mark.parametrize(("name", "quant"), CI_CASES)
def test_direct_matches_converter(converted, name, quant):
    _check_equivalent(converted, name, quant)


@pytest.mark.slow
@pytest.mark.parametrize(("name", "quant"), [(n, q) for n in CLASSIFIERS for q in MODES
                                             if (n, q) not in CI_CASES])
def test_direct_matches_converter_all_models(converted, name, quant):
    _check_equivalent(converted, name, quant)


def test_compare_structure_reports_differences():
    from mhzoo.export.direct import compare_structure, spec_to_tflite_bytes

    ref = _direct("multi_max", "float32")
    assert compare_structure(ref, _direct("multi_max", "int8_full"))
    spec = get_spec("multi_max")
    i = next(j for j, b in enumerate(spec.blocks)
             if isinstance(b, InvertedBottleneck) and b.kernel == 3)
    blocks = list(spec.blocks)
    blocks[i] = InvertedBottleneck(**{**vars(blocks[i]), "kernel": 5})
    other = spec_to_tflite_bytes(ArchSpec(name="k5", blocks=tuple(blocks)), quant="float32",
                                 input_size=SIZE)
    diffs = compare_structure(ref, other)
    assert len(diffs) == 1 and "[1, 5, 5," in diffs[0]
    smaller = spec_to_tflite_bytes(spec, quant="float32", input_size=SIZE, num_classes=10)
    assert any("outputs" in d for d in compare_structure(ref, smaller))


def test_deterministic_and_seeded():
    from mhzoo.export.direct import compare_structure

    a = _direct("mobilenet_v3_small", "int8_full", seed=0)
    assert a == _direct("mobilenet_v3_small", "int8_full", seed=0)
    b = _direct("mobilenet_v3_small", "int8_full", seed=1)
    assert a != b and compare_structure(a, b) == []


def test_width_and_bench_targets():
    from mhzoo.benchmarks.sweep import _file_matches
    from mhzoo.export.direct import spec_to_tflite_bytes
    from mhzoo.export.op_inventory import inventory

    spec = get_spec("multi_avg")
    for quant in MODES:
        data = spec_to_tflite_bytes(spec, quant=quant, input_size=64, width=0.5)
        inv = inventory(data)
        assert _file_matches(inv, quant)
        assert inv.inputs[0].shape == (1, 64, 64, 3)
        built = mhzoo.build(spec, 0.5, input_shape=(64, 64, 3)).arch_spec
        widths = sorted({c.filters for c in inv.convs})
        assert max(widths) == max(b.filters for b in built.blocks if hasattr(b, "filters"))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"quant": "fp16"}, "quant modes"),
    ({"quant": "float32", "input_size": 16}, "input_size"),
    ({"quant": "float32", "num_classes": 0}, "num_classes"),
])
def test_bad_arguments(kwargs, message):
    from mhzoo.export.direct import spec_to_tflite_bytes

    with pytest.raises(ValueError, match=message):
        spec_to_tflite_bytes(get_spec("multi_max"), **kwargs)


def test_unsupported_spec_features():
    from mhzoo.export.direct import compare_structure, spec_to_tflite_bytes

    spec = get_spec("mobilenet_v3_small")
    with pytest.raises(ValueError, match="padding"):
        spec_to_tflite_bytes(spec.replace(padding="symmetric"), quant="float32")
    with pytest.raises(ValueError, match="SE gate"):
        spec_to_tflite_bytes(spec.replace(se_gate="sigmoid"), quant="float32")
    with pytest.raises(ValueError, match="ArchSpec"):
        spec_to_tflite_bytes("mobilenet_v3_small", quant="float32")
    with pytest.raises(ValueError, match="TFL3"):
        compare_structure(b"not a model", b"")


def _tiny_spec() -> ArchSpec:
    return ArchSpec.from_dict({"name": "tiny", "blocks": [
        "conv_k3_s2_c16_relu", "ib_k3_s2_e3_c24_relu", "ib_k5_s1_x48_c24_relu_fused",
        "conv_k1_s1_c64_relu", "pool", "conv_k1_s1_c128_relu"]})


def _fc_weights(model: bytes) -> tuple:
    from mhzoo.export.direct import describe_structure

    fc = [op for op in describe_structure(model)["ops"] if op["op"] == "FULLY_CONNECTED"]
    assert len(fc) == 1
    return fc[0]["inputs"][1]


@pytest.mark.parametrize("size", [224, 96])
def test_int8_fully_connected_weights_per_tensor(size):
    """The converter quantizes dense weights per-tensor (export/quant.py); so does the writer."""
    from mhzoo.export.direct import compare_structure, spec_to_tflite_bytes
    from mhzoo.export.tflite import tflite_bytes

    spec = _tiny_spec()
    ref = tflite_bytes(spec, "int8_full", input_size=size, num_classes=10)
    direct = spec_to_tflite_bytes(spec, quant="int8_full", input_size=size, num_classes=10)
    assert _fc_weights(ref)[3] == "per-tensor" == _fc_weights(direct)[3]
    assert compare_structure(ref, direct) == []


@pytest.mark.parametrize("quant", MODES)
def test_grouped_convs_match_converter(quant):
    """FBNet ``_g2`` ops: grouped 1x1 convs, CONV_2D v6 throughout, as the converter writes."""
    from mhzoo.export.direct import compare_structure, describe_structure, spec_to_tflite_bytes
    from mhzoo.export.tflite import tflite_bytes
    from mhzoo.search import get_space

    space = get_space("fbnet")
    spec = space.decode_ops("1 8 5 8 0 1 2 3 4 5 6 7 1 1 5 5 1 1 5 1 1 5")
    assert any(getattr(b, "groups", 1) == 2 for b in spec.blocks)
    ref = tflite_bytes(spec, quant, input_size=32, num_classes=100)
    direct = spec_to_tflite_bytes(spec, quant=quant, input_size=32, num_classes=100)
    assert compare_structure(ref, direct) == []
    convs = [op for op in describe_structure(direct)["ops"] if op["op"] == "CONV_2D"]
    assert {op["version"] for op in convs} == {6}
    grouped = [op for op in convs if op["inputs"][1][1][3] * 2 == op["inputs"][0][1][3]]
    assert grouped  # weights (out, 1, 1, in / 2)
    out = _run(direct)
    assert out.shape == (1, 100) and np.all(np.isfinite(out.astype(np.float64)))
    # a model without grouped convs keeps the lower CONV_2D version
    plain = spec_to_tflite_bytes(_tiny_spec(), quant=quant, input_size=32)
    assert {op["version"] for op in describe_structure(plain)["ops"]
            if op["op"] == "CONV_2D"} != {6}


def test_grouped_conv_bad_channels():
    from mhzoo.export.direct import _Graph

    g = _Graph("float32", 0)
    x = g.tensor((1, 8, 8, 5), "x")
    with pytest.raises(ValueError, match="divisible by groups"):
        g.conv(x, 4, 1, 1, None, "c", groups=2)
