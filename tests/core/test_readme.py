"""The README's test command is what CI runs, and its model table is what mhzoo computes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import mhzoo

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()


def _quickstart_blocks() -> list[str]:
    section = README.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)```", section, flags=re.S)


def test_quickstart_has_exactly_two_commands_and_ci_runs_the_test_one():
    blocks = _quickstart_blocks()
    assert len(blocks) == 2
    install_and_run, test_cmd = (b.strip() for b in blocks)
    assert "mhzoo quickstart" in install_and_run
    assert "pytest" in test_cmd
    ci = (REPO / ".ci" / "run").read_text()
    assert test_cmd in ci.splitlines()
    # CI runs with CI=true set by .ci/run itself: missing shared fixtures fail instead of skipping
    assert "export CI=true" in [line.strip() for line in ci.splitlines()]


ROW = re.compile(r"^\| `(\w+)` \| [^|]+ \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|", re.M)


def test_models_table_matches_profiler():
    rows = ROW.findall(README)
    assert sorted(r[0] for r in rows) == mhzoo.list_models()
    for name, width, params_m, madds_m in rows:
        prof = mhzoo.profile(name, float(width))
        assert prof.params_m == pytest.approx(float(params_m), abs=5e-5)
        assert prof.madds_m == pytest.approx(float(madds_m), abs=0.05)
