"""The study's stage ledger and rules, fast (no TensorFlow): finished stages are skipped (not
recomputed) across a SIGKILL, an interrupted stage runs again, a stage whose output vanished
runs again, a folder of another request is refused; the single-hardware targets come from the
committed Spearman matrix by rule; ``mhzoo search study`` refuses bad input in one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from mhzoo.search.study import Ledger, most_disagreeing, study_spec
from mhzoo.search.study.spec import DISAGREEMENT_FILE, repo_root

SCRIPT = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from mhzoo.search.study import Ledger

    out, hang = Path(sys.argv[1]), sys.argv[2] == "hang"
    led = Ledger(out, {"study": "demo"}, echo=lambda s: print(s, flush=True))
    led.note_interrupted()

    def first():
        with open(out / "calls_first", "a") as f:
            f.write("x")
        (out / "first.txt").write_text("one")
        return {"n": 1}

    def second():
        with open(out / "calls_second", "a") as f:
            f.write("x")
        if hang:
            time.sleep(600)
        (out / "second.txt").write_text("two")
        return 2

    led.run("first", first, ["first.txt"])
    led.run("second", second, ["second.txt"])
    print("all done", flush=True)
""")


def _ledger(out: Path) -> dict:
    return json.loads((out / "study.json").read_text())


def test_sigkill_mid_stage_then_resume_skips_finished(tmp_path):
    out = tmp_path / "study"
    script = tmp_path / "demo.py"
    script.write_text(SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script), str(out), "hang"],
                            stdout=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline:  # wait until "second" has started (so "first" finished)
        if (out / "calls_second").exists():
            break
        time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("the demo study never reached its second stage")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    led = _ledger(out)
    assert "finished" in led["stages"]["first"] and "finished" not in led["stages"]["second"]
    mtime = (out / "first.txt").stat().st_mtime_ns
    res = subprocess.run([sys.executable, str(script), str(out), "go"], capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "[study] first: done, skipped" in res.stdout and "all done" in res.stdout
    assert (out / "calls_first").read_text() == "x"  # not recomputed
    assert (out / "calls_second").read_text() == "xx"  # interrupted, so run again
    assert (out / "first.txt").stat().st_mtime_ns == mtime
    led = _ledger(out)
    assert led["stages"]["second"]["runs"] == 2 and led["stages"]["second"]["value"] == 2
    assert "interrupted_seconds" in led["stages"]["second"]
    # a third run recomputes nothing
    res = subprocess.run([sys.executable, str(script), str(out), "go"], capture_output=True,
                         text=True, timeout=60)
    assert res.stdout.count("done, skipped") == 2
    assert (out / "calls_second").read_text() == "xx"


def test_stage_reruns_when_its_output_vanished(tmp_path):
    calls = []
    led = Ledger(tmp_path / "s", {"a": 1}, echo=lambda s: None)

    def make():
        calls.append(1)
        (tmp_path / "s" / "o.txt").write_text("x")
        return "v"

    assert led.run("make", make, ["o.txt"]) == "v"
    assert led.run("make", make, ["o.txt"]) == "v" and len(calls) == 1
    (tmp_path / "s" / "o.txt").unlink()
    led.run("make", make, ["o.txt"])
    assert len(calls) == 2
    # a fresh Ledger object on the same folder sees the same state
    assert Ledger(tmp_path / "s", {"a": 1}, echo=lambda s: None).is_done("make")


def test_stage_without_its_output_is_an_error_and_not_done(tmp_path):
    led = Ledger(tmp_path / "s", {"a": 1}, echo=lambda s: None)
    with pytest.raises(RuntimeError, match=r"left no missing\.txt"):
        led.run("bad", lambda: None, ["missing.txt"])
    assert not led.is_done("bad")


def test_stage_run_by_another_process_is_recorded(tmp_path):
    """``record`` (benchmarks/perf/study_parallel.py's workers): the stage is done with its
    own start, seconds, value and note; an interrupted earlier run counts as a run; a stage
    whose output is missing is not recorded."""
    led = Ledger(tmp_path / "s", {"a": 1}, echo=lambda s: None)
    with pytest.raises(RuntimeError, match=r"left no o\.txt"):
        led.run("make", lambda: None, ["o.txt"])  # started, never finished
    with pytest.raises(RuntimeError, match=r"left no o\.txt"):
        led.record("make", "v", ["o.txt"], 12.0, started_unix=1000.0, note="one core")
    assert not led.is_done("make")
    (tmp_path / "s" / "o.txt").write_text("x")
    assert led.record("make", {"x": 1}, ["o.txt"], 12.04, started_unix=1000.0,
                      note="one core") == {"x": 1}
    again = Ledger(tmp_path / "s", {"a": 1}, echo=lambda s: None)
    e = again.stages["make"]
    assert again.is_done("make") and again.value("make") == {"x": 1}
    assert (e["seconds"], e["started_unix"], e["note"], e["runs"]) == (12.0, 1000.0, "one core", 2)
    assert e["started"] == "1970-01-01T00:16:40Z"
    assert again.run("make", lambda: 1 / 0, ["o.txt"]) == {"x": 1}  # skipped


def test_other_request_and_foreign_folder_refused(tmp_path):
    Ledger(tmp_path / "s", {"study": {"name": "A", "tiny": True}}, echo=lambda s: None)
    with pytest.raises(ValueError, match=r"holds another study \(request.study.tiny"):
        Ledger(tmp_path / "s", {"study": {"name": "A", "tiny": False}}, echo=lambda s: None)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("x")
    with pytest.raises(ValueError, match="not empty and holds no study ledger"):
        Ledger(tmp_path / "busy", {}, echo=lambda s: None)


def test_singles_rule_on_the_committed_matrix():
    matrix = json.loads((repo_root() / DISAGREEMENT_FILE).read_text())["spearman"]
    targets = sorted({t for k in matrix for t in k.split("|")})
    chosen, rec = most_disagreeing(matrix, targets, 3)
    # the least-correlated pair comes first, in the recorded steps
    pair = min(matrix, key=matrix.get).split("|")
    assert sorted(chosen[:2]) == sorted(pair) and rec["steps"][0]["rho"] == min(matrix.values())
    # the third minimises its highest rho to the pair
    rest = [t for t in targets if t not in pair]

    def rho(a, b):
        return matrix.get(f"{a}|{b}", matrix.get(f"{b}|{a}"))

    assert chosen[2] == min(rest, key=lambda t: max(rho(t, p) for p in pair))
    with pytest.raises(ValueError, match="cannot choose 5"):
        most_disagreeing(matrix, targets[:4], 5)


def test_study_presets():
    a, b = study_spec("A"), study_spec("b")
    assert a.n_single >= 3 and a.n_random >= 5 and len(a.baselines) == 4
    assert len(b.targets) == 7 and len(b.left_out) >= 2 and b.n_single >= 3
    assert study_spec("A", tiny=True).tiny and study_spec("A", tiny=True).to_dict()["tiny"]
    # Study B trains the stem-2 decoding as it is: no stride plan may put the stem back to 1
    from mhzoo.search.training.recipes import get_preset, parse_stride_plan

    for spec in (b, study_spec("B", tiny=True)):
        recipe = get_preset(spec.train_preset).replace(**spec.train_overrides)
        assert parse_stride_plan(recipe.stride_plan) is None
        assert spec.train_space_options == spec.search_proxy == {"stem_stride": 2}
    with pytest.raises(ValueError, match="unknown study"):
        study_spec("C")
    with pytest.raises(ValueError, match="n_random"):
        a.replace(n_random=0)
    # Study A aims every search at the 10th percentile of the space's MN-Norm max and runs its
    # eq. 8 search as `mhzoo regenerate multi_max`
    assert a.mn_norm_target == "p10" and a.regenerate_max
    for bad in ("p0", "p100", "q10", "p", 0, -1.0, True):
        with pytest.raises(ValueError, match="mn_norm_target"):
            a.replace(mn_norm_target=bad)
    assert a.replace(mn_norm_target="p2.5").mn_norm_target == "p2.5"
    with pytest.raises(ValueError, match="regenerate_max"):
        b.replace(regenerate_max=True)


def test_cli_bad_input_is_one_line(tmp_path):
    from mhzoo.cli import main

    r = CliRunner().invoke(main, ["search", "study", "A", "--data", str(tmp_path / "nope"),
                                  "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "--data not found" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(main, ["search", "study", "C", "--data", str(tmp_path),
                                  "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "Traceback" not in r.output


def _ctx(tmp_path, accs, **spec_changes):
    from types import SimpleNamespace

    led = Ledger(tmp_path / "s", {"x": 1}, echo=lambda s: None)
    for name, acc in accs.items():
        (tmp_path / "s" / name).mkdir()
        led.run(f"train/{name}_s0", lambda a=acc: {"test_top1": a}, [name])
    return SimpleNamespace(spec=study_spec("A").replace(**spec_changes), ledger=led)


def test_second_seeds_rule(tmp_path):
    from mhzoo.search.study.stages import _second_seeds

    accs = {"avg": 0.700, "max": 0.705, "single_x": 0.650, "mobilenet_v2": 0.690,
            "random_0": 0.701}
    entries = [{"name": n, "kind": "random" if n.startswith("random") else
                ("baseline" if n == "mobilenet_v2" else "searched")} for n in accs]
    # avg-max 0.5 points (closest), avg-mobilenet_v2 1.0, max-mobilenet_v2 1.5; single_x is 4+
    # points from all; random_0 is a band, never compared
    assert _second_seeds(_ctx(tmp_path, accs, max_second_seeds=None), entries) == [
        "avg", "max", "mobilenet_v2"]
    (tmp_path / "b").mkdir()
    assert _second_seeds(_ctx(tmp_path / "b", accs, max_second_seeds=2), entries) == [
        "avg", "max"]
    # two disjoint close pairs and room for three: the second pair is not split
    accs = {"avg": 0.700, "max": 0.705, "single_x": 0.600, "single_y": 0.610}
    entries = [{"name": n, "kind": "searched"} for n in accs]
    (tmp_path / "c").mkdir()
    assert _second_seeds(_ctx(tmp_path / "c", accs, max_second_seeds=3), entries) == [
        "avg", "max"]


def test_claims_read_the_rows():
    from mhzoo.search.study.report import _claims

    def row(model, kind, top1, lat, avg, mx, matched_to=None, spread=None):
        return {"model": model, "kind": kind, "top1": top1, "latency_ms": lat,
                "mn_norm_avg": avg, "mn_norm_max": mx, "matched_to": matched_to,
                "top1_spread": spread}

    ts = ["a", "b"]
    f = {"a": 1.0, "b": 1.0}
    rows = [row("max", "searched", 70.0, {"a": 2.0, "b": 2.0}, 2.0, 2.0),
            row("single_a", "searched", 69.0, {"a": 1.5, "b": 4.0}, 2.75, 4.0),
            row("single_b", "searched", 69.5, {"a": 3.0, "b": 1.5}, 2.25, 3.0),
            row("random_0", "random", 66.0, {"a": 2.0, "b": 2.1}, 2.05, 2.1, "max"),
            row("random_1", "random", 66.0, {"a": 2.1, "b": 2.0}, 2.05, 2.1, "single_a"),
            row("random_2", "random", 68.5, {"a": 2.1, "b": 2.0}, 2.05, 2.1, "single_b")]
    c = _claims(rows, ts, 2.0, f)
    verdicts = [x["verdict"] for x in c]
    # max: lowest MN-Norm max of the models at least as accurate within 2 points;
    # single_a / single_b: on the front on their own target, dominated by max on the other;
    # random: max +4 and single_a +3 above their matched random, single_b +1 (inside the noise)
    assert verdicts == ["HELD", "HELD", "HELD", "HELD", "HELD", "INCONCLUSIVE", "HELD"], verdicts
    assert c[1]["numbers"]["faster_and_as_accurate_elsewhere"] == {"b": ["max", "single_b"]}
    assert [x["numbers"]["matched_random"].keys() for x in c[3:6]] == [
        {"random_0": 0}.keys(), {"random_1": 0}.keys(), {"random_2": 0}.keys()]
    assert c[6]["numbers"] | {"mean_difference_points": 0} == {
        "above": 2, "below": 0, "within_noise": 1, "mean_difference_points": 0,
        "noise_points": 2.0}
    # a single model with a lower MN-Norm max at max's accuracy: the eq. 8 claim fails
    rows[1]["mn_norm_max"], rows[1]["top1"] = 1.5, 70.5
    c = _claims(rows, ts, 2.0, f)
    assert c[0]["verdict"] == "did NOT hold" and "single_a" in c[0]["note"]
    # a measured two-seed spread of 5 points widens the noise: max's +4 becomes inconclusive
    rows[0]["top1_spread"] = 5.0
    c = _claims(rows, ts, 2.0, f)
    assert c[3]["verdict"] == "INCONCLUSIVE" and c[-1]["numbers"]["noise_points"] == 5.0
    # all three inside the wider noise now: no majority either way, no result
    assert c[-1]["numbers"]["within_noise"] == 3 and c[-1]["verdict"] == "INCONCLUSIVE"
    # single_b beaten on its own target by a clearly more accurate, faster model
    rows[0]["top1_spread"] = None
    rows.append(row("mobilenet_v2", "baseline", 75.0, {"a": 2.5, "b": 1.2}, 1.85, 2.5))
    c = _claims(rows, ts, 2.0, f)
    assert c[2]["verdict"] == "did NOT hold"
    assert c[2]["numbers"]["faster_and_as_accurate_on_own_target"] == ["mobilenet_v2"]


def test_generalisation_claims_rank_against_the_singles_of_other_devices():
    from mhzoo.search.study.report import _generalisation, _generalisation_claims

    def row(model, kind, lat, top1=50.0):
        return {"model": model, "kind": kind, "top1": top1, "latency_ms": lat}

    lat = {"factors_ms": {"a": 1.0, "b": 1.0, "c": 1.0}}
    plan = {"left_out": [["a", "b"]]}
    rows = [row("max", "searched", {"a": 0.5, "b": 0.5, "c": 1.0}),
            row("single_a", "searched", {"a": 0.4, "b": 0.4, "c": 3.0}),
            row("single_c", "searched", {"a": 1.2, "b": 0.9, "c": 0.5}),
            row("max_wo_a_b", "generalisation", {"a": 1.0, "b": 0.8, "c": 0.8})]
    lines, recs = _generalisation(rows, lat, plan)
    assert len(lines) == 2 + 4 and "| 50.00 |" in lines[2]  # header + one row per model, top-1
    over = {r["model"]: r["searched_over"] for r in recs}
    assert over == {"single_a": "one (a left-out device)", "max": "all 7 (left-out ones included)",
                    "max_wo_a_b": "5 devices", "single_c": "one"}
    assert {r["model"]: r["rank_max"] for r in recs} == {
        "single_a": 1, "max": 2, "max_wo_a_b": 3, "single_c": 4}
    (c,) = _generalisation_claims(recs, plan)
    # compared with single_c only (single_a was searched for a left-out device)
    assert c["verdict"] == "HELD" and set(c["numbers"]) == {"max_wo_a_b", "single_c",
                                                            "all_devices"}
    rows[2]["latency_ms"] = {"a": 1.01, "b": 0.7, "c": 0.5}  # within 2 % of max_wo_a_b's 1.0
    _, recs = _generalisation(rows, lat, plan)
    assert _generalisation_claims(recs, plan)[0]["verdict"] == "INCONCLUSIVE"
    assert {r["model"]: r["rank_max"] for r in recs}["single_c"] == 3  # a tie shares the rank


def test_close_pairs_left_on_one_seed_are_listed():
    from mhzoo.search.study.report import one_seed_close_pairs

    rows = [{"model": m, "kind": k, "top1_seeds": v} for m, k, v in (
        ("avg", "searched", [70.0, 71.0]), ("max", "searched", [70.5, 69.0]),
        ("single_x", "searched", [60.0]), ("mobilenet_v2", "baseline", [61.0]),
        ("random_0", "random", [60.5]))]
    assert one_seed_close_pairs(rows, ["avg", "max"], 2.0) == [
        ("mobilenet_v2", "single_x", 1.0)]
    assert [p[:2] for p in one_seed_close_pairs(rows, ["avg"], 2.0)] == [
        ("avg", "max"), ("mobilenet_v2", "single_x")]


def test_random_claim_needs_a_clear_majority():
    from mhzoo.search.study.report import _claims

    rows = []
    for k, (s, r) in enumerate(((53.0, 50.0), (51.0, 50.0), (50.5, 50.0))):
        rows += [{"model": f"m{k}", "kind": "searched", "top1": s, "latency_ms": {"a": 1.0},
                  "mn_norm_avg": 1.0, "mn_norm_max": 1.0, "top1_spread": None},
                 {"model": f"random_{k}", "kind": "random", "top1": r, "latency_ms": {"a": 1.0},
                  "mn_norm_avg": 1.0, "mn_norm_max": 1.0, "matched_to": f"m{k}",
                  "top1_spread": None}]
    total = _claims(rows, ["a"], 2.0)[-1]
    # one clearly above, two inside the 2-point noise: not a result either way
    assert total["numbers"]["above"] == 1 and total["verdict"] == "INCONCLUSIVE"
    rows[2]["top1"] = 53.0  # two of three clearly above
    assert _claims(rows, ["a"], 2.0)[-1]["verdict"] == "HELD"


def test_study_b_says_which_latencies_are_predicted():
    from mhzoo.search.study.report import _source_lines

    assert _source_lines({"latency_ms": {}}) == []
    (line, _) = _source_lines({"source": {"avg": "fbnet-latency row (measured)",
                                          "max": "cost model", "random_0": "cost model"}})
    assert "measured (a row of the device data): avg;" in line
    assert line.endswith("cost models: max, random_0.")


def test_stage_times_count_overlapping_stages_once_in_elapsed() -> None:
    """Two stages run side by side (one core each) sum to more than the elapsed time; an
    interrupted run's seconds count in both; unfinished stages are left out."""
    from mhzoo.search.study.report import stage_time_lines

    stages = {
        "search/a": {"started_unix": 1000.0, "seconds": 100.0, "finished": "x",
                     "note": "run by benchmarks/perf/study_parallel.py, one core"},
        "search/b": {"started_unix": 1050.0, "seconds": 100.0, "finished": "x",
                     "interrupted_seconds": 30.0},
        "train/c": {"started_unix": 1200.0, "seconds": 10.0, "finished": "x"},
        "train/e": {"started_unix": 1010.0, "seconds": 20.0, "finished": "x"},  # inside a
        "train/d": {"started_unix": 1300.0},  # running: not in the table
    }
    lines = stage_time_lines(stages)
    text = "\n".join(lines)
    assert "train/d" not in text
    assert "| search/b | 130.0 | 30 s of it in interrupted runs |" in lines
    assert "one core" in lines[2]
    assert "| **sum of stages** | **260** (0.07 h) | |" in lines
    # union of [1000, 1100] (holding [1010, 1030]), [1050, 1150], [1200, 1210] = 160, plus 30
    assert lines[-1].startswith("| **elapsed while a stage ran** | **190** ")
    # no overlap: no elapsed line
    stages["search/b"]["started_unix"] = 1100.0
    del stages["train/e"]
    assert "elapsed" not in stage_time_lines(stages)[-1]
