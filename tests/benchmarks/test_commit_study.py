"""``benchmarks/perf/commit_study.py``: a study folder's small results copied into
``benchmarks/perf/results/<name>`` (checkpoints and stores left behind), with a status table
saying which stages had finished; a bad folder or name is a one-line error (exit 2)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _module():
    spec = importlib.util.spec_from_file_location(
        "commit_study", ROOT / "benchmarks" / "perf" / "commit_study.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _study(tmp_path):
    study = tmp_path / "study"
    (study / "search" / "avg" / "checkpoints").mkdir(parents=True)
    (study / "search" / "avg" / "search_result.json").write_text("{}")
    (study / "search" / "avg" / "checkpoints" / "ckpt-1.index").write_text("x")
    (study / "search" / "single_x").mkdir()  # running: no result yet
    (study / "regenerate_multi_max" / "search").mkdir(parents=True)
    (study / "regenerate_multi_max" / "search" / "search_result.json").write_text("{}")
    (study / "regenerate_multi_max" / "report.md").write_text("# r")
    (study / "latency.sqlite").write_text("db")
    (study / "plan.json").write_text("{}")
    ledger = {"created": "2026-12-06T09:49:51Z", "stages": {
        "plan": {"finished": "2026-12-06T09:50:00Z", "seconds": 8.0},
        "search/avg": {"finished": "2026-12-06T10:10:00Z", "seconds": 1200.0,
                       "interrupted_seconds": 60.0},
        "search/single_x": {"started": "2026-12-06T10:10:00Z"}}}
    (study / "study.json").write_text(json.dumps(ledger))
    return study


def test_copies_results_not_checkpoints_and_says_what_finished(tmp_path, monkeypatch):
    mod = _module()
    monkeypatch.setattr(mod, "RESULTS", tmp_path / "results")
    out = mod.copy_study(_study(tmp_path), "study_T", "mhzoo search study A ...")
    assert (out / "search" / "avg" / "search_result.json").is_file()
    assert (out / "search" / "max" / "search_result.json").is_file()  # regenerate's search
    assert (out / "regenerate_multi_max_report.md").is_file() and (out / "plan.json").is_file()
    assert not (out / "search" / "single_x").exists() and not (out / "latency.sqlite").exists()
    assert not list(out.rglob("ckpt-*"))
    status = (out / "STATUS.md").read_text()
    assert "IN PROGRESS" in status and "mhzoo search study A ..." in status
    assert "| search/avg | 2026-12-06T10:10:00Z | 1260 |" in status
    assert "| search/single_x | no (running or interrupted) | 0 |" in status
    assert "**1268** (0.35 h)" in status


def test_bad_folder_and_name_are_one_line_errors(tmp_path, monkeypatch, capsys):
    mod = _module()
    monkeypatch.setattr(mod, "RESULTS", tmp_path / "results")
    assert mod.main([str(tmp_path / "nope"), "--name", "x"]) == 2
    assert "not a study folder" in capsys.readouterr().err
    assert mod.main([str(_study(tmp_path)), "--name", "../evil"]) == 2
    assert "--name" in capsys.readouterr().err
    assert not (tmp_path / "results").exists()
