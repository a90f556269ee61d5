"""``mhzoo search study A --tiny`` end to end, killed once (SIGKILL) right after its first
search finished, then resumed: the finished stages are skipped, not recomputed (their outputs'
mtimes and the ledger say so), and the tables and figures exist at the end.

Slow: four TuNAS searches (each traces its supernet), nine short trainings and the
multi-pass measurements: it passed in ~10.5 min on the shared 2-core AMD EPYC (2026-12-06, one
core, nice 19, load ~5-10); the ledger's skipping logic is tested fast in ``test_ledger.py``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.slow

CMD = "from mhzoo.cli import main; main()"


def _ledger(out):
    return json.loads((out / "study.json").read_text())


def test_study_a_tiny_killed_and_resumed(shared_data, tmp_path):
    data = shared_data / "cifar10"
    out = tmp_path / "study_a"
    argv = [sys.executable, "-c", CMD, "search", "study", "A", "--tiny", "--data", str(data),
            "--out", str(out)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env)
    deadline = time.time() + 3600
    try:
        while time.time() < deadline and proc.poll() is None:
            if (out / "study.json").is_file():
                stages = _ledger(out)["stages"]
                if "finished" in stages.get("search/avg", {}):
                    break
            time.sleep(0.5)
        assert proc.poll() is None, proc.stdout.read()
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    before = _ledger(out)["stages"]
    assert "finished" in before["costmodels"] and "finished" in before["search/avg"]
    done_files = {p: (out / p).stat().st_mtime_ns for p in
                  ("costmodels/reference_ms.json", "plan.json",
                   "search/avg/search_result.json")}
    res = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=3600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    for stage in ("costmodels", "plan", "search/avg"):
        assert f"[study] {stage}: done, skipped" in res.stdout
    for p, m in done_files.items():
        assert (out / p).stat().st_mtime_ns == m, f"{p} was rewritten"
    after = _ledger(out)["stages"]
    for stage in ("costmodels", "plan", "search/avg"):
        assert after[stage]["finished"] == before[stage]["finished"]
    # every stage finished; the report exists with both figures and the two tables
    assert all("finished" in e for e in after.values())
    rep = out / "report"
    for f in ("study.md", "table2.csv", "summary.json", "figure1_accuracy_vs_mn_norm.png",
              "figure5_accuracy_vs_latency.png"):
        assert (rep / f).is_file(), f
    text = (rep / "study.md").read_text()
    assert "## Table 2 layout" in text and "## Table 3 layout" in text
    # the eq. 8 search ran as `mhzoo regenerate multi_max` on the study's targets: its whole
    # chain is in the study folder, its search is the study's `max`, the report says so
    reg = out / "regenerate_multi_max"
    for f in ("search/search_result.json", "train/model/config.json",
              "export/model_float32.tflite", "export/model_int8.tflite", "report.md"):
        assert (reg / f).is_file(), f
    assert "## mhzoo regenerate multi_max on these targets" in text
    assert "mhzoo regenerate multi_max --data" in text and "--tiny" in text
    assert "Python API" in text  # the tiny study changes the preset's search settings
    plan = json.loads((out / "plan.json").read_text())
    reg_result = json.loads((reg / "search" / "search_result.json").read_text())
    assert reg_result["reward"]["mn_norm_target"] == plan["mn_norm_target"]
    assert set(reg_result["targets"]) == set(plan["targets"])
    assert not (out / "search" / "max").exists()
    assert "p10" in plan["mn_norm_target_rule"] and plan["mn_norm_target"] > 0
    summary = json.loads((rep / "summary.json").read_text())
    assert summary["regenerate"]["folder"] == "regenerate_multi_max"
    assert any(r["model"] == "max" and r["kind"] == "searched" for r in summary["rows"])
    kinds = [r["kind"] for r in summary["rows"]]
    assert kinds.count("searched") == 4 and kinds.count("random") == 2
    assert kinds.count("baseline") == 2
    for r in summary["rows"]:
        assert 0 <= r["top1"] <= 100 and r["mn_norm_max"] >= r["mn_norm_avg"] > 0
        assert set(r["latency_ms"]) == set(summary["targets"])
    # MobileNetV1 was timed in the models' own passes, at the models' input size (the tiny
    # study's 32 px, where the folders' factors are 224 px ones); MN-Norm divides by it
    lat = json.loads((out / "latency.json").read_text())
    assert set(lat["reference_ms"]) == set(summary["targets"])
    assert all(v > 0 for v in lat["reference_ms"].values())
    assert "timed in the same passes as the models" in text
    assert {c["verdict"] for c in summary["claims"]} <= {"HELD", "did NOT hold", "INCONCLUSIVE"}
    # a third run recomputes nothing
    res = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 0 and " ...\n" not in res.stdout, res.stdout
