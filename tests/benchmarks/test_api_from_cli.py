"""Logic the CLI used to hold, callable from Python: machine choice and the adb target check."""

from __future__ import annotations

import pytest

from mhzoo.benchmarks.report import choose_machine, table_from_db
from mhzoo.benchmarks.sweep import check_phone_targets
from mhzoo.benchmarks.targets import parse_targets


def test_choose_machine_prefers_given_then_here_then_only_one():
    assert choose_machine(["a", "b"], "b", here="a") == "b"
    assert choose_machine(["a", "b"], here="a") == "a"
    assert choose_machine(["only"], here="elsewhere") == "only"
    with pytest.raises(ValueError, match="several machines; choose one with --machine: a; b"):
        choose_machine(["a", "b"], here="c", where="r.sqlite")
    with pytest.raises(ValueError, match=r"no rows for machine .z. in r\.sqlite; machines: a"):
        choose_machine(["a"], "z", where="r.sqlite")
    with pytest.raises(ValueError, match=r"r\.sqlite holds no results"):
        choose_machine([], where="r.sqlite")


def test_table_from_db_refuses_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="results database not found"):
        table_from_db(tmp_path / "none.sqlite")


def test_check_phone_targets_names_the_local_target():
    check_phone_targets(parse_targets("gpu,dsp"))  # phone targets pass
    with pytest.raises(ValueError, match="'cpu_fp32' is not a phone target; with --adb use"):
        check_phone_targets(parse_targets("gpu,cpu_fp32"), flag="--adb")
    with pytest.raises(ValueError, match="'cpu_fp32' runs on this machine, not on a phone"):
        check_phone_targets(parse_targets("cpu_fp32"))
