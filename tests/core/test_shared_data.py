"""The shared data is found through one variable; a missing fixture skips, or fails under CI."""

from __future__ import annotations

import pytest


def test_shared_path_follows_the_variable_at_each_call(shared_path, tmp_path, monkeypatch):
    monkeypatch.setenv("MHZOO_SHARED_DATA", str(tmp_path))
    (tmp_path / "timm-fixtures").mkdir()
    assert shared_path("timm-fixtures") == tmp_path / "timm-fixtures"
    assert shared_path() == tmp_path


def test_missing_fixture_skips_outside_ci_and_fails_under_ci(shared_path, tmp_path,
                                                             monkeypatch):
    monkeypatch.setenv("MHZOO_SHARED_DATA", str(tmp_path / "absent"))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception) as skipped:
        shared_path("paper_table1_pixel4.csv")
    reason = str(skipped.value)
    assert "\n" not in reason and "MHZOO_SHARED_DATA" in reason
    assert str(tmp_path / "absent" / "paper_table1_pixel4.csv") in reason
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"MHZOO_SHARED_DATA.*CI=true"):
        shared_path("paper_table1_pixel4.csv")
