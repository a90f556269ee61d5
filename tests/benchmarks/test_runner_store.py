"""LiteRT latency runner, the SQLite store and its behaviour under SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from mhzoo.benchmarks.runner import RunConfig, machine_info, measure_tflite, summarize
from mhzoo.benchmarks.store import LatencyRecord, LatencyStore, arch_hash

FAST = RunConfig(warmup_runs=2, warmup_min_s=0.0, min_runs=15, min_time_s=0.05,
                 max_time_s=0.5)


def test_measure_small_model(tiny_tflite):
    r = measure_tflite(tiny_tflite, "cpu_fp32", config=FAST)
    st = r.stats
    assert len(r.samples_ms) >= 15 and len(r.warmup_ms) >= 2
    assert 0 < st["p10_ms"] <= st["median_ms"] <= st["p90_ms"]
    assert r.threads == 1 and r.delegate == "xnnpack"
    allowed = os.sched_getaffinity(0)
    if r.pinned_cpus is not None:
        assert len(r.pinned_cpus) == 1 and set(r.pinned_cpus) <= allowed
    assert os.sched_getaffinity(0) == allowed  # affinity restored
    ref = measure_tflite(tiny_tflite, "cpu_fp32_ref", config=FAST)
    assert ref.delegate == "none" and ref.median_ms > 0
    info = machine_info()
    assert info["runtime_version"] and info["cpu_model"] and info["machine"]


def test_thread_cpu_clock_is_the_same_loop_on_another_clock(tiny_tflite):
    from mhzoo.search.latency.cputime import measure_tflite_cpu_time

    wall = measure_tflite(tiny_tflite, "cpu_fp32", config=FAST)
    cpu = measure_tflite_cpu_time(tiny_tflite, "cpu_fp32", config=FAST)
    assert "clock" not in wall.config and cpu.config["clock"] == "thread_cpu_time"
    assert len(cpu.samples_ms) >= 15 and cpu.median_ms > 0
    # CPU time of the calling thread never exceeds the wall time much on one thread
    assert cpu.median_ms <= 3 * wall.median_ms
    with pytest.raises(ValueError, match="single-threaded"):
        measure_tflite(tiny_tflite, "cpu_fp32_t2", config=FAST, clock="thread_cpu")
    with pytest.raises(ValueError, match="unknown clock"):
        measure_tflite(tiny_tflite, "cpu_fp32", config=FAST, clock="sundial")


def test_summary_is_robust_to_outliers():
    s = summarize([1.0] * 50 + [1.1] * 49 + [500.0])
    assert s["median_ms"] == pytest.approx(1.05)
    assert s["n_outliers"] == 1 and s["max_ms"] == 500.0
    with pytest.raises(ValueError, match="> 0"):
        summarize([1.0, 0.0])


def test_corrupt_tflite_is_a_clear_error(tmp_path, cli, one_line_error):
    bad = tmp_path / "corrupt.tflite"
    bad.write_bytes(b"TFL3" + os.urandom(200))
    with pytest.raises(ValueError, match=r"not a valid \.tflite"):
        measure_tflite(bad, config=FAST)
    r = cli("bench", bad, "--targets", "cpu_fp32", "--db", tmp_path / "db.sqlite",
            "--no-progress")
    one_line_error(r, "not a valid .tflite", "corrupt.tflite")


def test_unknown_target_and_model(cli, tmp_path, tiny_tflite, one_line_error):
    r = cli("bench", tiny_tflite, "--targets", "cpu_fp33", "--db", tmp_path / "db.sqlite")
    one_line_error(r, "unknown target 'cpu_fp33'", "cpu_fp32")
    r = cli("bench", "multi_maxx", "--targets", "cpu_fp32", "--db", tmp_path / "db.sqlite")
    one_line_error(r, "unknown model 'multi_maxx'")
    r = cli("bench", "multi_max@wide", "--targets", "cpu_fp32", "--db", tmp_path / "db.sqlite")
    one_line_error(r, "bad width")


def test_store_keeps_first_row_and_never_duplicates(tmp_path):
    import mhzoo.registry as reg

    key = arch_hash(reg.get_spec("multi_max"))
    assert key == arch_hash(reg.get_spec("multi_max").replace(name="renamed"))
    assert key != arch_hash(reg.get_spec("multi_max"), input_size=192)
    assert key != arch_hash(reg.get_spec("multi_avg"))
    with LatencyStore(tmp_path / "s.sqlite") as s:
        rec = LatencyRecord(key, 1.0, "cpu_fp32", "m1", "multi_max", 5.0, [5.0, 5.1, 4.9])
        assert s.put(rec) is True
        assert s.put(LatencyRecord(key, 1.0, "cpu_fp32", "m1", "multi_max", 9.0)) is False
        assert s.get(key, 1.0, "cpu_fp32", "m1").median_ms == 5.0
        assert s.get(key, 1.0, "cpu_fp32", "m1").samples_ms == [5.0, 5.1, 4.9]
        assert s.put(LatencyRecord(key, 1.0, "cpu_fp32", "m1", "multi_max", 9.0),
                     replace=True)
        assert s.count() == 1 and s.get(key, 1.0, "cpu_fp32", "m1").median_ms == 9.0
        with pytest.raises(ValueError, match="> 0"):
            s.put(LatencyRecord(key, 0.75, "cpu_fp32", "m1", "multi_max", -1.0))
    (tmp_path / "junk.sqlite").write_bytes(b"not a database" * 100)
    with pytest.raises(ValueError, match="not a usable"):
        LatencyStore(tmp_path / "junk.sqlite")


def test_bench_json_and_resume(cli, tmp_path, tiny_tflite):
    db = tmp_path / "db.sqlite"
    args = ["bench", tiny_tflite, "--targets", "cpu_fp32,cpu_fp32_ref", "--db", db,
            "--min-time", "0.05", "--max-time", "0.3", "--no-progress", "--json"]
    r = cli(*args)
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert [(x["target"], x["cached"]) for x in rows] == [("cpu_fp32", False),
                                                          ("cpu_fp32_ref", False)]
    assert all(x["median_ms"] > 0 and len(x["samples_ms"]) >= 20 for x in rows)
    again = json.loads(cli(*args).stdout)
    assert [x["cached"] for x in again] == [True, True]
    assert [x["median_ms"] for x in again] == [x["median_ms"] for x in rows]


def test_sigkill_mid_sweep_then_rerun(tmp_path, tiny_tflite):
    """A real subprocess sweep over 6 models x 2 targets is killed with SIGKILL after some
    rows are committed; the rerun keeps them, adds the rest, and duplicates nothing."""
    models = []
    for i in range(6):  # distinct bytes -> distinct keys; trailing bytes are ignored by LiteRT
        p = tmp_path / f"m{i}.tflite"
        p.write_bytes(tiny_tflite.read_bytes() + b"\0" * (i + 1))
        models.append(str(p))
    db = tmp_path / "sweep.sqlite"
    cmd = [sys.executable, "-c", "from mhzoo.cli import main; main()", "bench", *models,
           "--targets", "cpu_fp32,cpu_fp32_ref", "--db", str(db), "--min-time", "0.4",
           "--max-time", "0.4", "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def count() -> int:
        if not db.exists():
            return 0
        try:
            with sqlite3.connect(db, timeout=5) as c:
                return c.execute("SELECT COUNT(*) FROM latency").fetchone()[0]
        except sqlite3.OperationalError:
            return 0

    deadline = time.time() + 120
    while count() < 3 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    with LatencyStore(db) as s:
        before = {r.key: r for r in s.records()}
    assert 3 <= len(before) < 12, "the sweep was not killed in the middle"
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("stored") == len(before)
    assert done.stdout.count("measured") == 12 - len(before)
    with LatencyStore(db) as s:
        after = s.records()
    assert len(after) == 12 == len({r.key for r in after})
    for r in after:
        if r.key in before:
            assert r.created_at == before[r.key].created_at
            assert r.samples_ms == before[r.key].samples_ms


def test_tflite_kind_must_match_the_target(cli, tmp_path, tiny_tflite, tiny_int8_tflite,
                                           one_line_error):
    """A float .tflite on an integer-only target (or the reverse) would store a wrong row."""
    db = tmp_path / "db.sqlite"
    r = cli("bench", tiny_tflite, "--targets", "cpu_int8", "--db", db, "--no-progress")
    one_line_error(r, tiny_tflite.name, "float", "cpu_int8", "targets for this file: cpu_fp32")
    q = tiny_int8_tflite
    r = cli("bench", q, "--targets", "cpu_fp32", "--db", db, "--no-progress")
    one_line_error(r, q.name, "integer-only", "UINT8", "cpu_int8")
    assert not db.exists()  # nothing stored, not even an empty database
    r = cli("bench", q, "--targets", "cpu_int8", "--db", db, "--no-progress", "--min-time",
            "0.05", "--max-time", "0.2", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)[0]["median_ms"] > 0


def test_db_folder_is_blamed(cli, tmp_path, tiny_tflite, one_line_error, unwritable_dir):
    args = ["--targets", "cpu_fp32", "--no-progress"]
    r = cli("bench", tiny_tflite, "--db", tmp_path / "missing" / "db.sqlite", *args)
    one_line_error(r, "folder of the results database does not exist", "missing")
    r = cli("bench", tiny_tflite, "--db", unwritable_dir / "db.sqlite", *args)
    one_line_error(r, "cannot create the results database", f"folder {unwritable_dir} is not "
                   "writable")


def test_export_leftovers_of_a_killed_run_are_removed(tmp_path):
    """benchmarks export through mhzoo.export.to_tflite (atomic, pid-tagged temporaries): a
    temporary left by a SIGKILLed export is removed by the next export to that path."""
    import mhzoo
    from mhzoo.benchmarks.exporting import export_tflite

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    dest = tmp_path / "m_025_32_float32.tflite"
    leftover = tmp_path / f".{dest.name}.{dead.pid}.abc123.partial"
    leftover.write_bytes(b"half a model")
    model = mhzoo.build("mobilenet_v1", 0.25, input_shape=(32, 32, 3), batch_size=1,
                        num_classes=10)
    assert export_tflite(model, dest, "float32") == dest
    assert not leftover.exists()
    assert dest.read_bytes()[4:8] == b"TFL3"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    export_tflite(model, dest, "float32")  # replaces what is there
    assert dest.is_file()
