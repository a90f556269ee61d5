"""``measure_spec``: one row per concrete spec and target; a second call is a store hit."""

from __future__ import annotations

import pytest

from mhzoo.benchmarks import LatencyStore, RunConfig, measure_spec
from mhzoo.benchmarks.store import arch_hash
from mhzoo.spec import ArchSpec, Conv, GlobalPool, InvertedBottleneck
from mhzoo.widths import scale_spec

QUICK = RunConfig(warmup_runs=1, warmup_min_s=0.0, min_runs=3, max_runs=3, min_time_s=0.0,
                  max_time_s=5.0)


def _arbitrary_spec() -> ArchSpec:
    return ArchSpec(name="arbitrary", blocks=(
        Conv(kernel=3, stride=2, filters=16),
        InvertedBottleneck(kernel=5, stride=2, expansion=3, filters=24),
        InvertedBottleneck(kernel=3, stride=1, expansion=4, filters=24, fused=True),
        InvertedBottleneck(kernel=3, stride=2, expansion=6, filters=40),
        Conv(kernel=1, stride=1, filters=96), GlobalPool()))


@pytest.mark.parametrize("target", ["cpu_fp32", "cpu_int8"])
def test_one_row_then_cache_hit(tmp_path, target):
    spec = _arbitrary_spec()
    db = tmp_path / "lat.sqlite"
    with LatencyStore(db) as store:
        rec, cached = measure_spec(spec, target, store, input_size=64, num_classes=10,
                                   config=QUICK)
        assert not cached and rec.median_ms > 0 and rec.target == target
        assert rec.arch_hash == arch_hash(spec, 64, 10)
        assert store.count() == 1
        calls = []
        again = measure_spec(spec, target, store, input_size=64, num_classes=10, config=QUICK,
                             timer=lambda *a, **k: calls.append(a))
        assert again.cached and again.record.median_ms == rec.median_ms and not calls
        assert store.count() == 1
    with LatencyStore(db) as store:  # the row survives reopening
        assert measure_spec(spec, target, store, input_size=64, num_classes=10).cached


def test_rounding_rule_is_part_of_the_key():
    from mhzoo.registry import get_entry

    base = get_entry("multi_avg").fn()
    tfm, tunas = scale_spec(base, 0.75), scale_spec(base, 0.75, 32)
    assert arch_hash(tfm, 224, 1000) != arch_hash(tunas, 224, 1000)


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="concrete ArchSpec"):
        measure_spec("multi_max", "cpu_fp32", tmp_path / "a.sqlite")
    with pytest.raises(ValueError, match="writer"):
        measure_spec(_arbitrary_spec(), "cpu_fp32", tmp_path / "a.sqlite", writer="magic")
