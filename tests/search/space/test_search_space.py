"""Search spaces as data: genotypes, validation, sampling, activeness, sizes, features."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from mhzoo.search import Genotype, decode_genotype, get_space, list_spaces, load_genotype
from mhzoo.search.space import save_genotype

SPACES = list_spaces()


def test_registry():
    assert SPACES == ["fbnet", "mobilenet_v3_like", "multi_hardware", "proxylessnas"]
    with pytest.raises(ValueError, match="unknown search space 'nope'"):
        get_space("nope")
    with pytest.raises(ValueError, match="unknown option"):
        get_space("multi_hardware", colour="red")
    with pytest.raises(ValueError, match="strides"):
        get_space("multi_hardware", strides=(2, 2, 3, 1, 2))
    with pytest.raises(ValueError, match="strides"):
        get_space("multi_hardware", strides=(2, 2))
    with pytest.raises(ValueError, match="input_size"):
        get_space("multi_hardware", input_size=8)
    with pytest.raises(ValueError, match="width"):
        get_space("multi_hardware", width=-1)
    with pytest.raises(ValueError, match="config"):
        get_space("fbnet", config="mnist")


@pytest.mark.parametrize("name", SPACES)
def test_round_trips(name, tmp_path):
    space = get_space(name)
    for seed in range(15):
        g = space.sample(seed)
        assert Genotype.from_string(g.to_string()) == g
        assert Genotype.from_json(g.to_json()) == g
        spec = space.decode(g)
        assert decode_genotype(g.to_string()) == spec
        g2 = space.encode(spec)
        assert space.decode(g2) == spec  # same blocks, same (content-derived) name
        assert space.encode(space.decode(g2)) == g2  # encode is canonical
    path = save_genotype(g, tmp_path / "g.json")
    assert load_genotype(path) == g
    (tmp_path / "g.txt").write_text(g.to_string() + "\n")
    assert load_genotype(tmp_path / "g.txt") == g


def test_compact_string_format():
    space = get_space("multi_hardware", input_size=96, strides=(1, 2, 2, 1, 2))
    g = space.sample(1)
    text = g.to_string()
    head, *idx = text.split(":")
    assert head.startswith("multi_hardware;") and "input_size=96" in head
    assert "strides=1,2,2,1,2" in head
    assert [int(i) for i in idx] == list(g.indices)
    assert g.meta["input_size"] == 96 and g.meta["strides"] == (1, 2, 2, 1, 2)


@pytest.mark.parametrize("bad, msg", [
    ("multi_hardware:0:1", "has 2 indices"),
    ("fbnet:" + ":".join(["9"] * 22), "index 9 at position 0 is out of range"),
    ("fbnet:" + ":".join(["-1"] + ["0"] * 21), "out of range"),
    ("proxylessnas;activation=relu6:x:y", "must be integers"),
    ("no_colon_here", "genotype string"),
    ("fbnet;config:" + ":".join(["0"] * 22), "malformed genotype option"),
])
def test_bad_genotypes(bad, msg):
    with pytest.raises(ValueError, match=msg):
        decode_genotype(bad)


@pytest.mark.parametrize("text, message", [
    ('{"space": "fbnet", "indices": "0 1"}', "list of integers"),
    ('{"space": "fbnet", "indices": [0], "extra": 1}', "unknown genotype field"),
    ('{"space": "fbnet", "indices": [0, 1]', "malformed genotype JSON"),
    ('{"space": "warp", "indices": [0, 1]}', "unknown search space"),
    (None, "cannot read")])
def test_bad_genotype_files(tmp_path, text, message):
    p = tmp_path / "g.json"
    if text is not None:
        p.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_genotype(p)


def test_wrong_space_and_structure():
    mh = get_space("multi_hardware")
    g = get_space("proxylessnas").sample(0)
    with pytest.raises(ValueError, match="of space 'proxylessnas', not 'multi_hardware'"):
        mh.decode(g)
    g64 = get_space("multi_hardware", divisible_by=64).sample(0)
    with pytest.raises(ValueError, match="divisible_by"):
        mh.decode(g64)
    with pytest.raises(ValueError, match="indices must be integers"):
        mh.genotype([0.5] * len(mh.decisions))


def test_sizes_and_counts():
    """TuNAS README sizes: proxylessnas 10^21, mobilenet_v3_like 10^43 (raw products)."""
    px = get_space("proxylessnas")
    assert px.raw_size_log10 == pytest.approx(math.log10(3 * 6**6 * 12**15))
    assert round(px.raw_size_log10) == 21
    v3 = get_space("mobilenet_v3_like")
    assert len(v3.decisions) == 86  # TuNAS: 86 OneOfs
    assert round(v3.raw_size_log10) == 43
    fb = get_space("fbnet")
    assert len(fb.decisions) == 22 and fb.size_log10 == pytest.approx(22 * math.log10(9))
    mh = get_space("multi_hardware")
    # per stage: first layer 2 ops x 2 kernels x 6 expansions, 3 layers of (24 + skip)
    stage = 24 * 25**3
    widths = 2 * 4 * 6 * 7  # distinct multiple-of-32 widths of stages 2-5
    assert mh.size_log10 == pytest.approx(math.log10(stage**5 * widths))
    # expansions are widths (TuNAS FILTERS_TAG): 20 expansions + 4 stage widths
    assert mh.counts() == {"op": 40, "filters": 24}
    assert mh.size_log10 < mh.raw_size_log10
    text = mh.describe()
    assert "64 (40 op, 24 filters)" in text and "stage5/filters: 128, 160, 192, 256, 320" in text


@pytest.mark.parametrize("name", SPACES)
def test_sampling_is_uniform_per_decision(name):
    """Chi-square test per decision (Bonferroni over decisions) on 3000 seeded samples."""
    from scipy.stats import chi2

    space = get_space(name)
    n = 3000
    rng = np.random.default_rng(123)
    counts = [np.zeros(d.size) for d in space.decisions]
    for _ in range(n):
        for j, i in enumerate(space.sample(rng).indices):
            counts[j][i] += 1
    alpha = 1e-3 / len(counts)

    def p_value(c: np.ndarray) -> float:
        exp = n / len(c)
        return chi2.sf(((c - exp) ** 2 / exp).sum(), len(c) - 1)

    worst = min(p_value(c) for c in counts)
    assert worst > alpha, f"{name}: a decision is not uniform (p = {worst:.2e})"
    # the test has power: a sampler giving choice 0 1.5 times its share fails it
    k = len(counts[0])
    p = np.full(k, (1 - 1.5 / k) / (k - 1))
    p[0] = 1.5 / k
    assert p_value(rng.multinomial(n, p).astype(float)) < alpha


def test_sample_rngs():
    space = get_space("multi_hardware")
    assert space.sample(5) == space.sample(5) == space.sample(random.Random(5))
    assert space.sample(5) != space.sample(6)
    g = space.sample(np.random.default_rng(0))
    assert len(g.indices) == len(space.decisions)
    with pytest.raises(ValueError, match="rng"):
        space.sample("seed")


def test_hierarchical_activeness():
    space = get_space("multi_hardware")
    paths = [d.path for d in space.decisions]
    op = paths.index("stage3/layer2/op")
    kernel = paths.index("stage3/layer2/kernel")
    exp = paths.index("stage3/layer2/expansion")
    assert space.decisions[kernel].parent == op
    base = list(space.sample(3).indices)
    base[op] = space.decisions[op].choices.index("skip")
    g = space.genotype(base)
    act = space.active(g)
    assert not act[kernel] and not act[exp] and act[op]
    # inactive decisions do not change the network, active ones do
    other = list(base)
    other[kernel] = 1 - other[kernel]
    assert space.decode(space.genotype(other)).blocks == space.decode(g).blocks
    base[op] = space.decisions[op].choices.index("ib")
    other = list(base)
    other[kernel] = 1 - other[kernel]
    assert space.active(base)[kernel]
    assert space.decode(space.genotype(other)).blocks != space.decode(space.genotype(base)).blocks
    # first layers cannot be skipped
    assert "skip" not in space.decisions[paths.index("stage3/layer0/op")].choices


def test_one_genotype_two_decodings():
    """A proxy (32 px, fewer strides) and the deployment network share one genotype."""
    proxy = get_space("multi_hardware", input_size=32, stem_stride=1, strides=(1, 1, 2, 1, 2))
    deploy = proxy.variant(input_size=224, stem_stride=2, strides=(2, 2, 2, 1, 2))
    g = proxy.sample(7)
    a, b = proxy.decode(g), deploy.decode(g)
    assert [s.filters for s in a.blocks if hasattr(s, "filters")] == \
        [s.filters for s in b.blocks if hasattr(s, "filters")]
    strides = [[getattr(s, "stride", 1) for s in x.blocks] for x in (a, b)]
    assert strides[0] != strides[1]
    assert deploy.encode(b) == deploy.genotype(deploy.encode(b).indices)
    assert g.meta["input_size"] == 32 and g.meta["stem_stride"] == 1


@pytest.mark.parametrize("name", SPACES)
def test_layer_choices(name):
    space = get_space(name)
    g = space.sample(11)
    layers = space.layer_choices(g)
    assert len(layers) == len(space.slots)
    act = space.active(g)
    for lc in layers:
        for d, i in lc.ops:
            assert (i is None) == (not act[d])
            if i is not None:
                assert i == g.indices[d]
        for w in (lc.in_width, lc.out_width):
            if w is not None:
                assert space.decisions[w[0]].tag == "filters" and w[1] == g.indices[w[0]]
