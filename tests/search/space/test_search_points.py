"""Published models are exact points of the spaces; specs outside a space are refused."""

from __future__ import annotations

import pytest

from mhzoo.registry import get_spec
from mhzoo.search import get_space
from mhzoo.spec import ArchSpec, parse_block
from mhzoo.widths import scale_spec


@pytest.mark.parametrize("name", ["multi_avg", "multi_max"])
@pytest.mark.parametrize("width", [1.0, 0.75, 1.25])
def test_multi_models_are_points(name, width):
    """Multi-AVG / -MAX (TuNAS width rule, divisible_by=32) decode back block for block."""
    space = get_space("multi_hardware", width=width)
    target = scale_spec(get_spec(name), width, divisible_by=32)
    g = space.encode(target)
    spec = space.decode(g)
    assert spec.blocks == target.blocks  # endpoint flags included
    assert spec.divisible_by == 32 and not spec.finegrain
    # one genotype at every width: the width-1.0 genotype decodes to the scaled model (at
    # small widths rounding merges some choices, so encode may return another equal genotype)
    g1 = get_space("multi_hardware").encode(scale_spec(get_spec(name), 1.0, divisible_by=32))
    assert space.decode(space.genotype(g1.indices)).blocks == target.blocks


def test_multi_avg_widths_from_architectures_md():
    """architectures.md 3.9: Multi-AVG 0.75 under the TuNAS rule (stem, (out, exp)..., head)."""
    g = get_space("multi_hardware").encode(scale_spec(get_spec("multi_avg"), 1.0))
    spec = get_space("multi_hardware", width=0.75).decode(g)
    ib = [(b.filters, b.expansion_filters) for b in spec.blocks[1:-3]]
    assert spec.blocks[0].filters == 32
    assert ib == [(32, 64), (32, 64), (64, 128), (64, 160), (64, 96), (64, 160), *[(96, 288)] * 4,
                  (128, 576), (128, 480), (160, 736), *[(160, 576)] * 3]
    assert [b.filters for b in spec.blocks[-3:] if hasattr(b, "filters")] == [736, 960]


def test_multi_avg_genotype_reads_as_published():
    space = get_space("multi_hardware")
    g = space.encode(scale_spec(get_spec("multi_avg"), 1.0))
    vals = {d.path: d.choices[i] for d, i, on in
            zip(space.decisions, g.indices, space.active(g), strict=True) if on}
    assert [vals[f"stage{s}/filters"] for s in (2, 3, 4, 5)] == [64, 128, 160, 192]
    assert vals["stage1/layer1/op"] == "ib" and vals["stage1/layer2/op"] == "skip"
    assert vals["stage2/layer0/kernel"] == 5 and vals["stage2/layer0/expansion"] == 5
    assert vals["stage5/layer3/kernel"] == 5 and vals["stage5/layer3/expansion"] == 4


def test_proxylessnas_mobile_is_a_point():
    space = get_space("proxylessnas")
    target = scale_spec(get_spec("proxylessnas_mobile"), 1.0)
    spec = space.decode(space.encode(target))
    assert spec.blocks == target.blocks
    # the TuNAS variant uses ReLU: the relu6 model is not in it
    with pytest.raises(ValueError, match="block 0 'conv_k3_s2_c32_relu6'"):
        get_space("proxylessnas", activation="relu").encode(target)


def test_spec_outside_space_names_first_block():
    mh = get_space("multi_hardware")
    spec = scale_spec(get_spec("multi_max"), 1.0, divisible_by=32)
    blocks = list(spec.blocks)
    blocks[5] = parse_block("ib_k7_s2_e6_c128_relu")  # kernel 7 is not in the space
    bad = ArchSpec("bad", blocks)
    with pytest.raises(ValueError, match=r"block 5 'ib_k7_s2_e6_c128_relu' of spec 'bad' is "
                                         r"not in space multi_hardware"):
        mh.encode(bad)
    # hard-swish and SE (MobileNetV3) are not in the multi-hardware space
    with pytest.raises(ValueError, match="block 0 'conv_k3_s2_c16_hs'"):
        mh.encode(get_spec("mobilenet_v3_large"))
    # a width that is not a multiple of 32
    blocks = list(spec.blocks)
    blocks[2] = parse_block("ib_k5_s2_x192_c72_relu")
    with pytest.raises(ValueError, match="block 2 "):
        mh.encode(ArchSpec("bad", blocks))
    # too many layers in a stage (5 > 4): a fifth layer in Multi-AVG's last stage
    avg = scale_spec(get_spec("multi_avg"), 1.0, divisible_by=32)
    blocks = list(avg.blocks)
    blocks.insert(15, blocks[14])
    with pytest.raises(ValueError, match=r"block 17 'ib_k5_s1_x768_c192_relu_out' .* not in space"):
        mh.encode(ArchSpec("bad", blocks))
    # too short
    with pytest.raises(ValueError, match="ends after block"):
        mh.encode(ArchSpec("short", spec.blocks[:5]))
    with pytest.raises(ValueError, match="needs an ArchSpec"):
        mh.encode("multi_max")


@pytest.mark.parametrize("name", ["mobilenet_v3_like", "proxylessnas", "multi_hardware"])
def test_decoded_specs_are_valid_archspecs(name):
    from mhzoo.counting import count_layers

    space = get_space(name)
    for seed in range(10):
        spec = space.decode(space.sample(seed))
        assert ArchSpec.from_json(spec.to_json()) == spec
        layers = count_layers(spec, (224, 224), 3, 1001)
        assert sum(lc.weights for lc in layers) > 0
