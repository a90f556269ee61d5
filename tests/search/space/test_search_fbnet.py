"""The FBNet space decodes every architecture of the shared HELP / HW-NAS-Bench latency data."""

from __future__ import annotations

import csv
import math

import pytest

import mhzoo
from mhzoo.counting import count_layers
from mhzoo.search import get_space
from mhzoo.spec import Conv, InvertedBottleneck

CSV = "data/fbnet-latency/fbnet_cifar100_latency.csv"


@pytest.fixture(scope="module")
def rows(shared_dir):
    with open(shared_dir / CSV, newline="") as f:
        return list(csv.DictReader(f))


def test_every_row_decodes_and_counts(rows):
    space = get_space("fbnet")
    assert len(rows) == 5000
    seen = set()
    for i, r in enumerate(rows):
        ops = [int(t) for t in r["ops"].split()]
        spec = space.decode_ops(ops)
        layers = count_layers(spec, (32, 32), 3, space.num_classes)
        assert sum(lc.madds for lc in layers) > 0
        if i % 100 == 0:  # encode is a search; a sample of rows keeps the test fast
            assert space.decode(space.encode(spec)).blocks == spec.blocks
        seen.add(spec.blocks)
        # one block per layer except identity skips (skip where shape is unchanged)
        n_id = sum(1 for i, o in enumerate(ops) if o == 8 and i not in (1, 5, 9, 13, 17, 21))
        assert len(spec.blocks) == 1 + 22 - n_id + 1
    assert len(seen) == 5000


def test_block_semantics():
    space = get_space("fbnet")
    # all k5_e6 except: layer 1 grouped k3_e1, layer 5 skip (first of stage 2: 24 -> 32, s2)
    ops = [7] * 22
    ops[1], ops[5] = 1, 8
    spec = space.decode_ops(ops)
    b = spec.blocks
    assert b[0] == Conv(16, 3, 1, "relu")
    assert b[1] == InvertedBottleneck(16, 5, 1, expansion=1.0, expansion_filters=96)
    assert b[2] == InvertedBottleneck(24, 3, 1, expansion=1.0, expansion_filters=16, groups=2)
    assert b[6] == Conv(32, 1, 2, "relu")  # skip with a shape change: 1x1 conv, stride 2
    assert b[-1] == Conv(1504, 1, 1, "relu")
    assert b[2].to_string() == "ib_k3_s1_x16_c24_g2_relu"
    # cumulative stride 8 (CIFAR plan), ImageNet plan: stem 2 and stage 1 at stride 2 -> 32
    assert math.prod(getattr(x, "stride", 1) for x in b) == 8
    imagenet = get_space("fbnet", config="imagenet")
    bi = imagenet.decode_ops(ops).blocks
    assert math.prod(getattr(x, "stride", 1) for x in bi) == 32
    assert bi[-1].filters == 1984 and imagenet.num_classes == 1000
    assert imagenet.options["input_size"] == 224


def test_decode_ops_errors():
    space = get_space("fbnet")
    with pytest.raises(ValueError, match="has 21 indices"):
        space.decode_ops([0] * 21)
    with pytest.raises(ValueError, match="index 9 at position 3"):
        space.decode_ops([0, 0, 0, 9] + [0] * 18)
    with pytest.raises(ValueError, match="integers 0-8"):
        space.genotype_from_ops("1 2 x")
    assert space.genotype_from_ops(" ".join(["2"] * 22)).indices == (2,) * 22


def test_build_a_few_fbnet_models(rows):
    """Keras count_params of built models equals the spec-side count (grouped convs too)."""
    from mhzoo.profiler import profile

    space = get_space("fbnet")
    picked = [r for r in rows if "1" in r["ops"].split() or "5" in r["ops"].split()][:2]
    for r in picked:
        spec = space.decode_ops(r["ops"])
        assert any(getattr(b, "groups", 1) == 2 for b in spec.blocks)
        model = mhzoo.build(spec, input_shape=(32, 32, 3), num_classes=100)
        p = profile(spec, input_size=32, num_classes=100)
        assert model.count_params() == p.keras_params
        assert model(mhzoo_input(32)).shape == (1, 100)


def mhzoo_input(size: int):
    import numpy as np

    return np.random.default_rng(0).uniform(0, 255, (1, size, size, 3)).astype("float32")
