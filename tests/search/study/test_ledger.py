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


def test_claims_read_the_rows():
    from mhzoo.search.study.report import _claims

    def row(model, kind, top1, lat, avg, mx, matched_to=None):
        return {"model": model, "kind": kind, "top1": top1, "latency_ms": lat,
                "mn_norm_avg": avg, "mn_norm_max": mx, "matched_to": matched_to}

    ts = ["a", "b"]
    rows = [row("max", "searched", 70.0, {"a": 2.0, "b": 2.0}, 1.0, 1.0),
            row("single_a", "searched", 70.5, {"a": 1.0, "b": 4.0}, 1.25, 2.0),
            row("single_b", "searched", 69.5, {"a": 3.0, "b": 1.5}, 1.1, 1.5),
            row("random_0", "random", 66.0, {"a": 2.0, "b": 2.1}, 1.0, 1.05, "max"),
            row("random_1", "random", 68.0, {"a": 2.1, "b": 2.0}, 1.0, 1.05, "single_a"),
            row("random_2", "random", 69.0, {"a": 2.1, "b": 2.0}, 1.0, 1.05, "single_b")]
    c = _claims(rows, ts, 2.0)
    assert c[0]["held"] is True  # max has the lowest MN-Norm max within 2 points
    assert c[1]["held"] is True and c[1]["numbers"]["slowest_of_searched_on"] == ["b"]
    assert c[2]["held"] is True and c[2]["numbers"]["slowest_of_searched_on"] == ["a"]
    # each searched model against the random architecture drawn at its own MN-Norm
    assert [x["numbers"]["matched_random"] for x in c[3:6]] == [
        {"random_0": 66.0}, {"random_1": 68.0}, {"random_2": 69.0}]
    assert all(x["held"] for x in c[3:]) and len(c) == 7
    assert c[5]["note"] and not c[3]["note"]  # 0.5 points: within the band, said so
    rows[1]["mn_norm_max"] = 0.9  # now a single model beats max on MN-Norm max
    rows[0]["top1"] = 69.0  # and max falls below its matched random architecture
    rows[3]["top1"] = 69.5
    rows[2]["top1"] = 68.5  # single_b too
    c = _claims(rows, ts, 2.0)
    assert c[0]["held"] is False and "single_a" in c[0]["note"]
    assert [x["held"] for x in c[3:]] == [False, True, False, False]
    assert c[6]["numbers"] == {"above": 1, "of": 3}
