"""`mhzoo bench --adb`: a clear message when adb or a device is missing; the full push + run
path against a scripted stand-in for adb that answers like a phone would."""

from __future__ import annotations

import os
import stat
import textwrap

import pytest

from mhzoo.benchmarks.adb import benchmark_model_args
from mhzoo.benchmarks.targets import get_target


def _fake_adb(tmp_path, devices: str, log_file=None):
    """An `adb` executable (shell script) that lists `devices` and, for `shell <binary>`,
    prints a benchmark_model log."""
    calls = tmp_path / "adb_calls.txt"
    script = tmp_path / "bin" / "adb"
    script.parent.mkdir(exist_ok=True)
    script.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        echo "$@" >> "{calls}"
        if [ "$1" = "devices" ]; then
          printf 'List of devices attached\\n{devices}'
          exit 0
        fi
        shift 2  # -s SERIAL
        case "$1" in
          push) echo "1 file pushed"; exit 0;;
          shell)
            case "$2" in
              getprop) case "$3" in
                  ro.product.model) echo "Pixel 4";;
                  ro.product.manufacturer) echo "Google";;
                  ro.build.id) echo "QQ1B.200205.003";;
                  *) echo "";;
                esac; exit 0;;
              ls|mkdir) echo "$3"; exit 0;;
              *) cat "{log_file}"; exit 0;;
            esac;;
        esac
        exit 1
        """))
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script, calls


def test_no_adb_on_path(cli, monkeypatch, tmp_path, one_line_error):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("ADB", raising=False)
    r = cli("bench", "multi_max", "--adb", "--targets", "gpu", "--db", tmp_path / "db.sqlite")
    one_line_error(r, "adb not found")
    assert not (tmp_path / "db.sqlite").exists()


def test_no_device(cli, monkeypatch, tmp_path, one_line_error):
    adb, _ = _fake_adb(tmp_path, "")
    monkeypatch.setenv("ADB", str(adb))
    r = cli("bench", "multi_max", "--adb", "--targets", "gpu", "--db", tmp_path / "db.sqlite")
    one_line_error(r, "no Android device connected")
    adb, _ = _fake_adb(tmp_path, "ABC123\\tunauthorized\\n")
    r = cli("bench", "multi_max", "--adb", "--targets", "gpu", "--db", tmp_path / "db.sqlite")
    one_line_error(r, "no Android device connected", "unauthorized")


def test_phone_target_needs_adb(cli, tmp_path, one_line_error):
    r = cli("bench", "multi_max", "--targets", "gpu", "--db", tmp_path / "db.sqlite")
    one_line_error(r, "Android phone", "--adb")


def test_benchmark_model_flags():
    g = "/data/local/tmp/m.tflite"
    assert "--use_gpu=true" in benchmark_model_args(get_target("gpu"), g)
    assert "--use_hexagon=true" in benchmark_model_args(get_target("dsp"), g)
    edgetpu = benchmark_model_args(get_target("edgetpu"), g)
    assert "--use_nnapi=true" in edgetpu
    # pinned to the EdgeTPU, so NNAPI cannot route the model to the DSP or GPU instead
    assert "--nnapi_accelerator_name=google-edgetpu" in edgetpu
    nnapi = benchmark_model_args(get_target("nnapi"), g)
    assert "--use_nnapi=true" in nnapi
    assert not any(a.startswith("--nnapi_accelerator_name") for a in nnapi)  # NNAPI chooses
    args = benchmark_model_args(get_target("cpu_uint8"), g)
    assert "--num_threads=1" in args and f"--graph={g}" in args


@pytest.mark.skipif(os.name != "posix", reason="shell-script stand-in for adb")
def test_push_and_run_through_adb(cli, monkeypatch, tmp_path, tiny_tflite, fixtures_dir):
    adb, calls = _fake_adb(tmp_path, "FA7X1\\tdevice\\n", fixtures_dir / "bm_gpu_full.txt")
    monkeypatch.setenv("ADB", str(adb))
    db = tmp_path / "db.sqlite"
    r = cli("bench", tiny_tflite, "--adb", "--targets", "gpu", "--db", db, "--no-progress")
    assert r.exit_code == 0, r.output
    log = calls.read_text()
    assert f"push {tiny_tflite}" in log
    assert "--use_gpu=true" in log and "--num_threads=1" in log
    from mhzoo.benchmarks.store import LatencyStore

    with LatencyStore(db) as s:
        (rec,) = s.records()
    assert rec.machine == "adb | Google Pixel 4 | QQ1B.200205.003"
    assert rec.median_ms == pytest.approx(4.4701) and rec.source == "adb"
    # rerun: the row is found in the store, benchmark_model is not run again
    n_calls = len(log.splitlines())
    r = cli("bench", tiny_tflite, "--adb", "--targets", "gpu", "--db", db, "--no-progress")
    assert r.exit_code == 0 and "stored" in r.stdout
    assert "--use_gpu" not in "\n".join(calls.read_text().splitlines()[n_calls:])
