"""``mhzoo export`` / ``mhzoo inspect``: success paths, every bad input (exit 2, one line, no
file at the output path), and a SIGKILL during export."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from mhzoo.cli import main


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def _no_constant(name: str):
    raise AssertionError(f"non-standard JSON constant {name} in the output")


def strict_json(text: str):
    """``json.loads`` that rejects Infinity / -Infinity / NaN (not JSON)."""
    return json.loads(text, parse_constant=_no_constant)


def assert_clean_error(res, *fragments: str) -> None:
    assert res.exit_code == 2, res.output
    lines = [x for x in res.output.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.output
    assert "Traceback" not in res.output
    for f in fragments:
        assert f in lines[0], lines[0]


@pytest.fixture(scope="module")
def cli_export(tmp_path_factory, calib_dir, labels_file):
    out = tmp_path_factory.mktemp("cli") / "mm.tflite"
    res = run("export", "multi_max", "--input-size", "64", "--quant", "int8_full", "--calib",
              str(calib_dir), "--labels", str(labels_file), "-o", str(out), "--json")
    return out, res


def test_export_json(cli_export, labels_file):
    out, res = cli_export
    assert res.exit_code == 0, res.output
    info = strict_json(res.stdout)
    assert info["quant"] == "int8_full" and info["integer_only"] is True
    assert info["fidelity"]["output_kind"] == "logits"
    assert info["fidelity"]["logits_from"] == "SOFTMAX input"
    strict_json((out.parent / "mm.fidelity.json").read_text())
    assert info["inputs"][0]["dtype"] == "UINT8" and info["outputs"][0]["shape"] == [1, 5]
    assert info["compatibility"]["edgetpu"]["fully_supported"] is True
    assert out.is_file() and (out.parent / "mm.fidelity.json").is_file()


def test_inspect_text_and_json(cli_export):
    out, _ = cli_export
    res = run("inspect", str(out))
    assert res.exit_code == 0, res.output
    for fragment in ("CONV_2D", "UINT8 [1, 64, 64, 3]", "integer-only: yes", "mhzoo_class_0",
                     "edgetpu  fully supported", "normalization mean=[0.0] std=[1.0]"):
        assert fragment in res.output
    res = run("inspect", str(out), "--json")
    info = strict_json(res.stdout)
    assert info["labels"][:2] == ["mhzoo_class_0", "mhzoo_class_1"]
    assert {o["op"] for o in info["ops"]} >= {"CONV_2D", "DEPTHWISE_CONV_2D"}
    assert info["export_info"]["quant"] == "int8_full"


def test_export_refuses_existing_output(cli_export):
    out, _ = cli_export
    before = out.read_bytes()
    res = run("export", "multi_max", "--quant", "float32", "-o", str(out))
    assert_clean_error(res, "output exists", "--force")
    assert out.read_bytes() == before


def test_unknown_quant_lists_modes(tmp_path):
    out = tmp_path / "m.tflite"
    res = run("export", "multi_max", "--quant", "int4", "-o", str(out))
    assert_clean_error(res, "'int4'", "float32", "int8_full_int8_io", "qat")
    assert not out.exists()


def test_int8_without_calibration(tmp_path):
    out = tmp_path / "m.tflite"
    res = run("export", "multi_max", "--input-size", "64", "--quant", "int8", "-o", str(out))
    assert_clean_error(res, "needs representative data")
    assert not out.exists()


def test_empty_calibration_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    out = tmp_path / "m.tflite"
    res = run("export", "multi_max", "--input-size", "64", "--quant", "int8_full", "--calib",
              str(tmp_path / "empty"), "-o", str(out))
    assert_clean_error(res, "is empty")
    assert not out.exists()


def test_non_image_in_calibration_folder(tmp_path, photos, image_writer):
    calib = tmp_path / "calib"
    calib.mkdir()
    image_writer(calib / "cat.jpg", photos[1])
    (calib / "readme.md").write_text("# not an image")
    out = tmp_path / "m.tflite"
    res = run("export", "multi_max", "--input-size", "64", "--quant", "int8_full", "--calib",
              str(calib), "-o", str(out))
    assert_clean_error(res, "readme.md")
    assert not out.exists()


def test_unwritable_output(tmp_path):
    out = tmp_path / "missing_dir" / "m.tflite"
    res = run("export", "multi_max", "--quant", "float32", "-o", str(out))
    assert_clean_error(res, "does not exist")
    assert not out.exists()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    res = run("export", "multi_max", "--quant", "float32", "-o", str(blocker / "m.tflite"))
    assert_clean_error(res)


def test_wrong_channel_count_python_api(tmp_path):
    import numpy as np

    import mhzoo
    from mhzoo.export import to_tflite

    out = tmp_path / "m.tflite"
    model = mhzoo.build("multi_max", input_shape=(64, 64, 3), num_classes=3)
    with pytest.raises(ValueError, match="4 channels but the model takes 3"):
        to_tflite(model, out, quant="int8_full",
                  representative_data=np.zeros((2, 64, 64, 4), np.uint8))
    assert not out.exists()


def test_labels_mismatch_cli(tmp_path, labels_file):
    out = tmp_path / "m.tflite"
    res = run("export", "multi_max", "--input-size", "64", "--num-classes", "3", "--quant",
              "float32", "--labels", str(labels_file), "-o", str(out))
    assert_clean_error(res, "5 labels given for a 3-class model")
    assert not out.exists()


def test_qat_hard_swish_cli(tmp_path, calib_dir):
    out = tmp_path / "m.tflite"
    res = run("export", "mobilenet_v3_small", "--input-size", "64", "--quant", "qat", "--calib",
              str(calib_dir), "-o", str(out))
    assert_clean_error(res, "hard-swish")
    assert not out.exists()


@pytest.mark.parametrize("content", [b"", b"not a flatbuffer at all", b"\x10\x00\x00\x00TFL3"
                                     + b"\xff" * 40])
def test_inspect_corrupt_file(tmp_path, content):
    p = tmp_path / "bad.tflite"
    p.write_bytes(content)
    assert_clean_error(run("inspect", str(p)), "bad.tflite" if len(content) < 9 else "")


def test_inspect_truncated_export(cli_export, tmp_path):
    out, _ = cli_export
    p = tmp_path / "cut.tflite"
    p.write_bytes(out.read_bytes()[:5000])
    assert_clean_error(run("inspect", str(p)))


def test_inspect_missing_file(tmp_path):
    assert_clean_error(run("inspect", str(tmp_path / "nope.tflite")), "no such .tflite file")


KILL_SCRIPT = """
import sys
from mhzoo._quiet import import_tensorflow_quietly
import_tensorflow_quietly()
import numpy as np, mhzoo
from mhzoo.export import to_tflite
model = mhzoo.build("multi_max", num_classes=10)
images = np.random.default_rng(0).uniform(0, 255, (200, 224, 224, 3)).astype(np.float32)
print("START", flush=True)
to_tflite(model, sys.argv[1], quant="int8_full", representative_data=images,
          calibration_steps=200)
print("DONE", flush=True)
"""


def test_sigkill_during_export_leaves_no_file(tmp_path):
    out = tmp_path / "killed.tflite"
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    try:
        assert proc.stdout.readline().strip() == "START"
        time.sleep(4.0)  # well inside the conversion + 200-image calibration
        assert proc.poll() is None, "export finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists()
    assert not (tmp_path / "killed.fidelity.json").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("killed")] == []


def _with_export_info(src, dest, payload: bytes):
    """A copy of export ``src`` whose embedded mhzoo_export.json is ``payload``."""
    from mhzoo.export.metadata import (
        INFO_FILE,
        LABELS_FILE,
        ImageClassifierMetadata,
        add_metadata,
        read_associated_files,
    )

    data = src.read_bytes()
    files = read_associated_files(data)
    labels = files[LABELS_FILE].decode().split()
    md = ImageClassifierMetadata(name="mm", description="d", version="v", author="a",
                                 license="l", width=64, height=64, labels=labels,
                                 extra_files={INFO_FILE: payload})
    dest.write_bytes(add_metadata(_strip_metadata(data), md))
    return dest


def _strip_metadata(flat: bytes) -> bytes:
    """The flatbuffer without its metadata entries and appended files (repacked)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as S

    obj = S.ModelT.InitFromPackedBuf(bytearray(flat), 0)
    obj.metadata = []
    b = flatbuffers.Builder(1024)
    b.Finish(obj.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def test_inspect_damaged_export_info(cli_export, tmp_path):
    """A damaged embedded mhzoo_export.json is reported, the rest is still shown."""
    out, _ = cli_export
    bad = _with_export_info(out, tmp_path / "bad_info.tflite", b'{"quant": "int8_full", ')
    res = run("inspect", str(bad), "--json")
    assert res.exit_code == 0, res.output
    info = strict_json(res.stdout)
    assert "mhzoo_export.json" in info["export_info"]["error"]
    assert info["labels"][:1] == ["mhzoo_class_0"] and info["integer_only"] is True
    res = run("inspect", str(bad))
    assert res.exit_code == 0, res.output
    assert "export info: unreadable mhzoo_export.json" in res.output
    assert "edgetpu  fully supported" in res.output


def test_inspect_old_export_with_infinity(cli_export, tmp_path):
    """Older exports embedded ``Infinity`` (SQNR of an exact float export): inspect --json
    still prints strict JSON (null)."""
    out, _ = cli_export
    old = _with_export_info(out, tmp_path / "old.tflite",
                            b'{"quant": "float32", "fidelity": {"sqnr_db": Infinity}}')
    res = run("inspect", str(old), "--json")
    assert res.exit_code == 0, res.output
    info = strict_json(res.stdout)
    assert info["export_info"] == {"quant": "float32", "fidelity": {"sqnr_db": None}}


def test_exact_fidelity_is_strict_json():
    """An error of exactly 0: SQNR is infinite, stored as null, printed as inf."""
    import numpy as np

    from mhzoo.export.fidelity import compare

    ref = np.array([[0.1, 0.2, 0.7], [1e-3, 3e-3, 7e-3]], np.float32)
    rep = compare(ref, ref.copy(), mode="float32", output_kind="logits", images="test")
    assert rep.sqnr_db is None and rep.max_abs_diff == 0.0
    assert -1.0 <= rep.cosine_similarity <= 1.0
    assert strict_json(rep.to_json())["sqnr_db"] is None
    assert "SQNR inf dB" in rep.format()
    # cosine of (nearly) parallel vectors is clamped to 1 despite rounding
    big = np.array([[3.0e7, 1.0, 2.0e-7]])
    assert compare(big, big * (1 + 1e-16), mode="float32", output_kind="logits",
                   images="t").cosine_similarity <= 1.0


def test_inspect_directory(tmp_path):
    assert_clean_error(run("inspect", str(tmp_path)), "is a directory, expected a .tflite file")


@pytest.mark.parametrize("option", ["--calibration-steps", "--qat-steps"])
def test_steps_must_be_positive(tmp_path, calib_dir, option):
    out = tmp_path / "m.tflite"
    res = run("export", "multi_max", "--input-size", "64", "--quant", "qat", "--calib",
              str(calib_dir), option, "0", "-o", str(out))
    assert_clean_error(res, option, "0 is not in the range x>=1")
    assert not out.exists()


def test_truncated_calibration_image(tmp_path, photos, image_writer):
    calib = tmp_path / "calib"
    calib.mkdir()
    image_writer(calib / "cat.jpg", photos[1])
    good = image_writer(calib / "coffee.jpg", photos[2]).read_bytes()
    (calib / "coffee.jpg").write_bytes(good[:300])
    out = tmp_path / "m.tflite"
    res = run("export", "multi_max", "--input-size", "64", "--quant", "int8_full", "--calib",
              str(calib), "-o", str(out), "--json")  # --json: no progress bar in the output
    assert_clean_error(res, "cannot decode image", "coffee.jpg", "truncated")
    assert "function_node" not in res.output and "[Op:" not in res.output
    assert not out.exists()
