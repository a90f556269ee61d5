"""Latency collection and MN-Norm reference factors on simulated targets: not timed (no clock,
no timer call), rows labelled simulated, latency = ``simulate_spec``, extra passes add nothing,
and the dataset of a store reads them like measured rows. Shipped tables only."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from mhzoo.benchmarks.simulated import SIM_SOURCE, simulate_spec
from mhzoo.benchmarks.store import LatencyStore
from mhzoo.cli import main
from mhzoo.registry import get_spec
from mhzoo.search import get_space
from mhzoo.search.latency import (
    collect,
    measure_tflite_cpu_time,
    reference_factors,
    sample_genotypes,
    store_dataset,
)
from mhzoo.widths import scale_spec


def no_timer(*args, **kwargs):
    raise AssertionError("a simulated target must not be timed")


@pytest.fixture(scope="module")
def space():
    return get_space("multi_hardware")  # 224 px: the shipped tables' decoding


def test_collect_simulated_targets(tmp_path: Path, space) -> None:
    gs = sample_genotypes(space, 4, seed=3)
    db = tmp_path / "s.sqlite"
    s = collect(space, gs, "sim_edgetpu,sim_npu", db, progress=False, passes=2,
                timer=no_timer)
    assert (s.architectures, s.measured) == (4, 8)  # the second pass measures nothing
    with LatencyStore(db, readonly=True) as st:
        recs = st.records()
    assert len(recs) == 8
    for r in recs:
        assert r.source == SIM_SOURCE and r.info["simulated"] is True
        assert r.info["genotype"] in {g.to_string() for g in gs}
    rows = store_dataset(db, space, ["sim_edgetpu", "sim_npu"])
    by = {r["genotype"]: r for r in rows}
    for g in gs:
        for t in ("sim_edgetpu", "sim_npu"):
            want = simulate_spec(space.decode(g), t, compute=False).ms
            assert by[g.to_string()][f"{t}_ms"] == pytest.approx(want, rel=1e-12)
    again = collect(space, gs, "sim_edgetpu", db, progress=False, timer=no_timer)
    assert (again.measured, again.cached) == (0, 4)


def test_collect_refuses_phone_targets_still(tmp_path: Path, space) -> None:
    with pytest.raises(ValueError, match="phone"):
        collect(space, sample_genotypes(space, 1), "edgetpu,sim_npu",
                tmp_path / "x.sqlite", progress=False)


def test_cputime_refuses_simulated_target() -> None:
    with pytest.raises(ValueError, match="simulated"):
        measure_tflite_cpu_time(b"", "sim_npu")


def test_reference_factors_simulated(tmp_path: Path) -> None:
    f = reference_factors(["sim_edgetpu", "sim_npu"], tmp_path / "r.sqlite")
    v1 = scale_spec(get_spec("mobilenet_v1"), 1.0)
    for t in ("sim_edgetpu", "sim_npu"):
        assert f[t] == pytest.approx(simulate_spec(v1, t, compute=False).ms, rel=1e-12)


def test_cli_collect_simulated(tmp_path: Path) -> None:
    db = tmp_path / "c.sqlite"
    r = CliRunner().invoke(main, ["search", "collect", "--space", "multi_hardware", "--target",
                                  "sim_npu", "--n", "2", "--db", str(db), "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "2 rows measured" in r.output
    r = CliRunner().invoke(main, ["search", "collect", "--space", "multi_hardware", "--target",
                                  "sim_nope", "--n", "2", "--db", str(db), "--no-progress"])
    assert r.exit_code == 2 and "unknown simulated target" in r.output
