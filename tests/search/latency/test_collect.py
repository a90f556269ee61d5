"""Latency collection: seeded samples, store rows keyed by concrete spec, shards and merge,
resume after SIGKILL (a real subprocess), and one-line CLI errors."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from mhzoo.benchmarks.runner import LatencyResult, RunConfig
from mhzoo.benchmarks.store import LatencyStore
from mhzoo.cli import main
from mhzoo.search import get_space
from mhzoo.search.latency import (
    collect,
    merge_stores,
    parse_shard,
    sample_genotypes,
    shard_of,
    store_dataset,
)

SIZE = 64
TINY = RunConfig(warmup_runs=1, warmup_min_s=0.0, min_runs=3, min_time_s=0.0, max_runs=5,
                 max_time_s=0.2, rel_precision=0.5)


def fake_timer(flat: bytes, target, config=None) -> LatencyResult:
    """A deterministic 'latency': proportional to the file size (no interpreter)."""
    ms = 1.0 + len(flat) / 1e5 + (0.5 if target.quant != "float32" else 0.0)
    return LatencyResult(samples_ms=[ms, ms * 1.01, ms * 0.99], warmup_ms=[ms], threads=1,
                         delegate="xnnpack", pinned_cpus=None)


@pytest.fixture(scope="module")
def space():
    return get_space("multi_hardware", input_size=SIZE)


def _keys(db: Path) -> set[tuple]:
    with LatencyStore(db, readonly=True) as s:
        return {(r.arch_hash, r.target, r.machine, r.info["genotype"]) for r in s.records()}


def test_seeded_samples_and_rows(space, tmp_path):
    gs = sample_genotypes(space, 6, seed=3)
    assert [g.to_string() for g in gs] == [g.to_string() for g in sample_genotypes(space, 6, 3)]
    assert gs != sample_genotypes(space, 6, 4)
    db = tmp_path / "lat.sqlite"
    s = collect(space, gs, "cpu_fp32,cpu_int8", db, progress=False, timer=fake_timer,
                machine="m")
    assert (s.architectures, s.measured, s.cached) == (6, 12, 0)
    again = collect(space, gs, ["cpu_fp32", "cpu_int8"], db, progress=False, timer=fake_timer,
                    machine="m")
    assert (again.measured, again.cached) == (0, 12)
    with LatencyStore(db, readonly=True) as st:
        recs = st.records()
    assert len(recs) == 12
    assert {r.info["genotype"] for r in recs} == {g.to_string() for g in gs}
    assert all(r.info["writer"] == "direct" and r.input_size == SIZE for r in recs)
    rows = store_dataset(db, space, ["cpu_fp32", "cpu_int8"])
    medians = {(r.info["genotype"], r.target): r.median_ms for r in recs}
    assert len(rows) == 6
    assert all(r[f"{t}_ms"] == medians[(r["genotype"], t)] for r in rows
               for t in ("cpu_fp32", "cpu_int8"))


def test_real_measurement_tiny(space, tmp_path):
    """The LiteRT harness on two direct-written files (no fake timer)."""
    db = tmp_path / "real.sqlite"
    s = collect(space, sample_genotypes(space, 2, seed=0), "cpu_int8", db, config=TINY,
                progress=False)
    assert s.measured == 2
    with LatencyStore(db, readonly=True) as st:
        assert all(r.median_ms > 0 and r.source == "litert" for r in st.records())


def test_shards_merge_equal_single_run(space, tmp_path):
    gs = sample_genotypes(space, 10, seed=1)
    single = tmp_path / "single.sqlite"
    collect(space, gs, "cpu_fp32", single, progress=False, timer=fake_timer, machine="m")
    parts = []
    for i in range(3):
        p = tmp_path / f"shard{i}.sqlite"
        collect(space, gs, "cpu_fp32", p, shard=(i, 3), progress=False, timer=fake_timer,
                machine="m")
        parts.append(p)
    sizes = [len(_keys(p)) for p in parts]
    assert sum(sizes) == 10 and max(sizes) < 10  # a partition, not copies
    merged = tmp_path / "merged.sqlite"
    res = merge_stores([*parts, parts[0]], merged)
    assert res == {"rows": 10, "duplicates": sizes[0]}
    assert _keys(merged) == _keys(single)
    with pytest.raises(ValueError, match="exists"):
        merge_stores(parts, merged)
    # the shard of a key does not depend on list order
    assert shard_of("spec:abc", 3) == shard_of("spec:abc", 3)


@pytest.mark.parametrize(("text", "ok"), [("0/1", (0, 1)), ("2/3", (2, 3)), ("3/3", None),
                                          ("-1/2", None), ("a/b", None), ("1", None)])
def test_parse_shard(text, ok):
    if ok is None:
        with pytest.raises(ValueError, match="shard"):
            parse_shard(text)
    else:
        assert parse_shard(text) == ok


def test_sigkill_resume_no_duplicates(tmp_path):
    """A real `mhzoo search collect` killed with SIGKILL mid-run, then rerun to completion."""
    db = tmp_path / "kill.sqlite"
    n = 10
    cmd = [str(Path(sys.executable).with_name("mhzoo")), "search", "collect", "--space",
           "multi_hardware",
           "--target", "cpu_fp32,cpu_int8", "--n", str(n), "--seed", "7", "--input-size", "64",
           "--db", str(db), "--no-progress"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 240
        rows = 0
        while time.time() < deadline and proc.poll() is None:
            time.sleep(0.2)
            if db.exists():
                try:
                    with sqlite3.connect(db, timeout=5) as c:
                        rows = c.execute("SELECT COUNT(*) FROM latency").fetchone()[0]
                except sqlite3.Error:
                    rows = 0
                if rows >= 3:
                    break
        assert proc.poll() is None, "the collection finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    with sqlite3.connect(db) as c:
        killed_at = c.execute("SELECT COUNT(*) FROM latency").fetchone()[0]
    assert 3 <= killed_at < 2 * n
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "already stored" in done.stdout
    with sqlite3.connect(db) as c:
        total, distinct = c.execute(
            "SELECT COUNT(*), COUNT(DISTINCT arch_hash || target) FROM latency").fetchone()
    space = get_space("multi_hardware", input_size=64)
    expected = {g.to_string() for g in sample_genotypes(space, n, 7)}
    assert total == distinct == 2 * len(expected)
    with LatencyStore(db, readonly=True) as st:
        assert {r.info["genotype"] for r in st.records()} == expected


# ---------------------------------------------------------------------------- CLI errors
def _cli(args: list[str]):
    return CliRunner().invoke(main, args)


def _one_line_error(res, needle: str) -> None:
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and needle in lines[0], res.output


def test_cli_space_and_encode():
    res = _cli(["search", "space", "fbnet", "--sample", "2", "--json"])
    assert res.exit_code == 0, res.output
    import json

    data = json.loads(res.output)
    assert data["feature_size"] == 198 and len(data["samples"]) == 2
    res = _cli(["search", "encode", "multi_max", "--space", "multi_hardware"])
    assert res.exit_code == 0 and res.output.startswith("multi_hardware;")


def test_cli_bad_inputs(tmp_path):
    db = tmp_path / "x.sqlite"
    base = ["search", "collect", "--target", "cpu_fp32", "--db", str(db), "--no-progress"]
    _one_line_error(_cli([*base, "--space", "nope", "--n", "1"]), "unknown search space")
    space = get_space("multi_hardware", input_size=SIZE)
    good = space.sample(0)
    short = tmp_path / "short.txt"
    short.write_text(good.to_string().rsplit(":", 1)[0] + "\n")
    _one_line_error(_cli([*base, "--space", "multi_hardware", "--input-size", "64",
                                 "--genotypes", str(short)]), "indices")
    bad = tmp_path / "range.txt"
    bad.write_text(good.to_string().rsplit(":", 1)[0] + ":99\n")
    _one_line_error(_cli([*base, "--space", "multi_hardware", "--input-size", "64",
                                 "--genotypes", str(bad)]), "out of range")
    other = tmp_path / "other.txt"
    other.write_text(get_space("fbnet").sample(0).to_string() + "\n")
    _one_line_error(_cli([*base, "--space", "multi_hardware", "--genotypes", str(other)]),
                    "space 'fbnet'")
    _one_line_error(_cli(["search", "encode", "mobilenet_v1", "--space", "multi_hardware"]),
                    "not in space multi_hardware")
    _one_line_error(_cli([*base, "--space", "multi_hardware", "--n", "1", "--shard", "2/2"]),
                    "shard")
    _one_line_error(_cli(["search", "collect", "--space", "multi_hardware", "--n", "1",
                          "--target", "gpu", "--db", str(db)]), "phone")
    assert not db.exists()  # nothing was started, nothing left
    corrupt = tmp_path / "corrupt.sqlite"
    corrupt.write_bytes(b"this is not a database" * 100)
    _one_line_error(_cli(["search", "collect", "--space", "multi_hardware", "--n", "1",
                          "--target", "cpu_fp32", "--db", str(corrupt), "--input-size", "64"]),
                    "database")
    out = tmp_path / "m.sqlite"
    _one_line_error(_cli(["search", "merge", str(corrupt), "-o", str(out)]), "database")
    assert not out.exists() and not list(tmp_path.glob(".m.sqlite*"))


def test_passes_median_and_resume(space, tmp_path):
    calls = []

    def timer(flat, target, config=None):
        calls.append(1)
        ms = [10.0, 30.0, 11.0, 12.0][(len(calls) - 1) % 4]
        return LatencyResult(samples_ms=[ms], warmup_ms=[], threads=1, delegate="xnnpack",
                             pinned_cpus=None)

    db = tmp_path / "p.sqlite"
    gs = sample_genotypes(space, 1, seed=0)
    collect(space, gs, "cpu_fp32", db, passes=2, progress=False, timer=timer, machine="m")
    with LatencyStore(db, readonly=True) as st:
        (rec,) = st.records()
    assert rec.info["pass_medians"] == [10.0, 30.0] and rec.median_ms == 20.0
    s = collect(space, gs, "cpu_fp32", db, passes=2, progress=False, timer=timer, machine="m")
    assert (s.measured, len(calls)) == (0, 2)
    collect(space, gs, "cpu_fp32", db, passes=3, progress=False, timer=timer, machine="m")
    with LatencyStore(db, readonly=True) as st:
        (rec,) = st.records()
    assert rec.info["pass_medians"] == [10.0, 30.0, 11.0] and rec.median_ms == 11.0
    assert len(rec.samples_ms) == 3
