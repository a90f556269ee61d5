"""Bad inputs: a clear ValueError in Python, a one-line error and exit code 2 from the CLI."""

from __future__ import annotations

import subprocess
import sys

import pytest

import mhzoo
from mhzoo.cli import main


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(name_or_spec="multi_mx"), "did you mean multi_max"),
    (dict(name_or_spec="multi_max", width=0), "positive"),
    (dict(name_or_spec="multi_max", width=-0.5), "positive"),
    (dict(name_or_spec="multi_max", width=float("nan")), "positive finite"),
    (dict(name_or_spec="multi_max", width="wide"), "positive number"),
    (dict(name_or_spec="multi_max", input_shape=(16, 224, 3)), "at least 32"),
    (dict(name_or_spec="multi_max", input_shape=(224, 224, 4)), "channel count"),
    (dict(name_or_spec="multi_max", input_shape=(224, 224)), "height, width, channels"),
    (dict(name_or_spec="multi_max", num_classes=0), "num_classes"),
    (dict(name_or_spec="multi_max", framework="pytorch"), "unknown framework"),
    (dict(name_or_spec="multi_max", pooling="min"), "pooling"),
    (dict(name_or_spec="multi_max", dropout_rate=1.5), "dropout_rate"),
    (dict(name_or_spec="no/such/spec.json"), "spec file not found"),
])
def test_build_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        mhzoo.build(**kwargs)


def test_malformed_spec_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": "x", "blocks": [')
    with pytest.raises(ValueError, match="malformed spec JSON"):
        mhzoo.build(str(bad))


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from mhzoo.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args", [
    ("info", "multi_mx"), ("info", "multi_max", "--width", "0"),
    ("info", "multi_max", "--width", "nan"), ("info", "multi_max", "--width", "abc"),
    ("info", "multi_max", "--input-size", "16"), ("info", "nope.json"), ("list", "zzz*"),
    ("info",), ("frobnicate",),
])
def test_cli_errors_are_one_line_exit_2(args):
    proc = _cli(*args)
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_malformed_spec_json(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    proc = _cli("info", str(bad))
    assert proc.returncode == 2
    assert proc.stderr.startswith("Error: ") and "malformed spec JSON" in proc.stderr


def test_cli_list_and_info_work(tmp_path):
    from click.testing import CliRunner

    r = CliRunner().invoke(main, ["list", "multi_*", "--json"])
    assert r.exit_code == 0 and '"multi_max"' in r.output
    spec_file = tmp_path / "arch.json"
    spec_file.write_text(mhzoo.registry.get_spec("multi_max").to_json())
    r = CliRunner().invoke(main, ["info", str(spec_file)])
    assert r.exit_code == 0 and "4.3906 M" in r.output
