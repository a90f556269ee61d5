"""Proxy distinctness: at the cpu-proxy preset's proxy decoding, every choice of every decision
gives its own proxy network (else the supernet's accuracy cannot tell those choices apart), while
the deployment decoding is unchanged. At the old rounding (multiples of 32 after width 0.25) the
same check finds the 21 merged decisions of issue 18."""

from __future__ import annotations

from mhzoo.search import get_space
from mhzoo.search.space import Space
from mhzoo.search.tunas.config import get_search_preset


def merged_choices(space: Space) -> dict[str, list[tuple[int, ...]]]:
    """Per decision path: groups of its choices that decode to the same network in some
    context. Contexts (the other decisions held fixed): every decision at its first choice, and
    every decision at its last choice with layer ops at ``ib`` (so the layer is active); each
    also with every choice of the slot's input-width decision (expansions are relative to it)."""
    n = len(space.decisions)
    in_width = {d: s.in_width for s in space.slots for d in s.ops}
    first = [0] * n
    last = [0 if d.path.endswith("/op") else d.size - 1 for d in space.decisions]
    out: dict[str, list[tuple[int, ...]]] = {}
    for i, d in enumerate(space.decisions):
        contexts = [first, last]
        w = in_width.get(i)
        if w is not None:
            contexts += [[*b[:w], c, *b[w + 1:]] for c in range(space.decisions[w].size)
                         for b in (first, last)]
        groups: set[tuple[int, ...]] = set()
        for ctx in contexts:
            assert space.active(ctx)[i]
            seen: dict[tuple, list[int]] = {}
            for c in range(d.size):
                g = list(ctx)
                g[i] = c
                seen.setdefault(space.decode(g).blocks, []).append(c)
            groups |= {tuple(v) for v in seen.values() if len(v) > 1}
        if groups:
            out[d.path] = sorted(groups)
    return out


def _proxy(**changes):
    return get_space("multi_hardware").variant(**{**get_search_preset("cpu-proxy").proxy,
                                                  **changes})


def test_cpu_proxy_choices_decode_to_distinct_networks():
    proxy = _proxy()
    assert proxy.options["width_divisor"] == 8 and proxy.options["divisible_by"] == 32
    assert merged_choices(proxy) == {}


def test_old_rounding_merges_the_listed_decisions():
    """width 0.25 rounded to multiples of 32 (the preset before issue 18)."""
    old = _proxy(width_divisor=32)
    assert "width_divisor" not in old.options  # equal to divisible_by: the default
    merged = merged_choices(old)
    expected = {f"stage{s}/filters" for s in (2, 3, 4, 5)} | {
        f"stage{s}/layer{j}/expansion" for s in (1, 2, 3) for j in range(4)} | {
        f"stage4/layer{j}/expansion" for j in range(4)} | {"stage5/layer0/expansion"}
    assert set(merged) == expected and len(expected) == 21
    assert merged["stage2/filters"] == [(0, 1)]  # 32, 64 -> 8 proxy channels each
    assert merged["stage3/filters"] == [(0, 1, 2, 3)]  # 32 .. 128 -> one width
    assert merged["stage5/filters"] == [(0, 1), (2, 3), (4, 5)]  # 4 of 7 distinct
    assert merged["stage1/layer0/expansion"] == [(0, 1, 2, 3, 4)]  # ratios 1-5 -> 32


def test_width_divisor_changes_only_the_proxy_rounding():
    """Same decisions and genotypes; the deployment decoding (width 1, 224 px) is the old one;
    every proxy width is exactly a quarter of the deployment width."""
    deploy = get_space("multi_hardware")
    proxy = _proxy()
    assert proxy.decisions == deploy.decisions
    assert deploy.variant(width_divisor=8).decode([0] * 64).blocks == \
        deploy.decode([0] * 64).blocks  # at width 1 every width is a multiple of 32 anyway
    for seed in range(20):
        g = deploy.sample(seed)
        assert "width_divisor" not in g.to_string()
        d = deploy.decode(g).blocks
        p = proxy.decode(g.indices).blocks
        assert proxy.genotype(g.indices).meta["width_divisor"] == 8
        assert len(d) == len(p)
        for bd, bp in zip(d, p):
            for name in ("filters", "expansion_filters"):
                if getattr(bd, name, None) is not None:
                    assert getattr(bp, name) * 4 == getattr(bd, name)
    assert proxy.decode([0] * 64).divisible_by == 8


def test_width_divisor_is_checked():
    import pytest

    with pytest.raises(ValueError, match="width_divisor"):
        get_space("multi_hardware", width_divisor=0)
    with pytest.raises(ValueError, match="width_divisor"):
        get_space("multi_hardware", width_divisor=2.5)


def test_proxy_decodings_encode_back():
    """encode(decode(g)) decodes to the same proxy network (widths read from the slots)."""
    proxy = _proxy()
    for seed in range(10):
        g = proxy.sample(seed)
        assert proxy.decode(proxy.encode(proxy.decode(g))).blocks == proxy.decode(g).blocks
