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
    (dict(name_or_spec="multi_max", input_shape=(16, 224, 3)), "between 32 and 4096"),
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


@pytest.mark.parametrize(("call", "match"), [
    (lambda: mhzoo.build("multi_max", input_shape=(64, 64, 1),
                         preprocessing=mhzoo.preprocessing.IMAGENET), "1 channel"),
    (lambda: mhzoo.build("multi_max", preprocessing="imagenet"), "mhzoo.Preprocessing"),
    (lambda: mhzoo.build("multi_max", width=True), "positive number"),
    (lambda: mhzoo.model_info(3), "must be a string"),
    (lambda: mhzoo.list_models(3), "pattern"),
    (lambda: mhzoo.list_models(kind="bogus"), "kind"),
    (lambda: mhzoo.ArchSpec("x", None), "sequence of blocks"),
    (lambda: mhzoo.ArchSpec.from_json(None), "must be text"),
    (lambda: mhzoo.registry.get_spec("multi_max").replace(colour=1), "unknown spec field"),
    (lambda: mhzoo.registry.get_spec("multi_max").replace(bn_momentum=2), "bn_momentum"),
    (lambda: mhzoo.registry.get_spec("multi_max").replace(bn_momentum="x"), "bn_momentum"),
    (lambda: mhzoo.registry.get_spec("multi_max").replace(bn_epsilon=True), "bn_epsilon"),
    (lambda: mhzoo.Conv(16, batch_norm="no"), "batch_norm"),
    (lambda: mhzoo.InvertedBottleneck(16, se_ratio=True), "se_ratio"),
    (lambda: mhzoo.spec.parse_block("conv_k3_s2_c16.5_relu"), "whole number"),
    (lambda: mhzoo.ArchSpec("x", (mhzoo.InvertedBottleneck(16),)), "must start with a conv"),
])
def test_more_bad_inputs_are_value_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_two_endpoints_at_one_stride_is_an_error():
    spec = mhzoo.ArchSpec.from_json(
        '{"name": "t", "blocks": ["conv_k3_s2_c16_relu_out", "ib_k3_s1_e4_c16_relu_out",'
        ' "ib_k3_s2_e4_c24_relu_out"]}')
    with pytest.raises(ValueError, match="blocks 0 and 1 are both endpoints at stride 2"):
        mhzoo.build(spec, features_only=True)


def test_numpy_integers_and_folded_names_are_accepted():
    import numpy as np

    model = mhzoo.build("multi_max", input_shape=(np.int64(64), np.int64(64), 3),
                        num_classes=np.int64(7))
    assert model.output_shape == (None, 7)
    with pytest.raises(ValueError, match="did you mean multi_max"):
        mhzoo.build("Multi-MAX")


def test_spec_file_without_json_suffix_and_binary_spec_file(tmp_path):
    plain = tmp_path / "arch"
    plain.write_text(mhzoo.registry.get_spec("multi_max").to_json())
    assert mhzoo.model_info(str(plain))["params"] == mhzoo.model_info("multi_max")["params"]
    binary = tmp_path / "bin.json"
    binary.write_bytes(b"\xff\xfe\x00")
    proc = _cli("info", str(binary))
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        f"Error: spec file {binary} is not UTF-8 text (expected spec JSON)")


def test_checkpoint_for_rgb_named_when_loading_into_grayscale(tmp_path):
    rgb = mhzoo.build("multi_max", input_shape=(64, 64, 3), num_classes=3)
    mhzoo.save_pretrained(rgb, tmp_path / "ckpt")
    with pytest.raises(ValueError, match="3-channel input images, the model has 1"):
        mhzoo.build("multi_max", input_shape=(64, 64, 1), weights=tmp_path / "ckpt",
                    preprocessing=mhzoo.Preprocessing())
    with pytest.raises(ValueError, match="divisible_by cannot be combined with weights"):
        mhzoo.build("multi_max", weights=tmp_path / "ckpt", divisible_by=32)
