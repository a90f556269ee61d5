"""Training inputs that used to pass and waste a job, or fail with the wrong message: a zero time
budget, a fractional held-out count, a single class, an unknown model name, and an image that
does not decode (named, with run.json not left "running")."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from mhzoo.cli import main
from mhzoo.search.training.request import TrainRequest
from mhzoo.search.training.sources import check_held_out


def _one_line_error(res, needle):
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and needle in lines[0], res.output


def _folder(root, classes=2, per_class=12, size=32):
    rng = np.random.default_rng(0)
    for c in range(classes):
        d = root / f"class{c}"
        d.mkdir(parents=True)
        for i in range(per_class):
            img = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            Image.fromarray(img).save(d / f"{i}.png")
    return root


def test_values_that_used_to_pass(tmp_path):
    data = _folder(tmp_path / "data")
    run = CliRunner().invoke
    base = ["train", "mobilenet_v1", "--data", str(data), "-o", str(tmp_path / "out"),
            "--preset", "cifar10-proxy"]
    _one_line_error(run(main, [*base, "--time-budget", "0"]), "more than 0 seconds")
    _one_line_error(run(main, [*base, "--time-budget", "0m"]), "more than 0 seconds")
    _one_line_error(run(main, [*base, "--held-out", "1.5"]), "whole number of images")
    with pytest.raises(ValueError, match="time budget"):
        TrainRequest("mobilenet_v1", data, tmp_path / "out", time_budget=0)
    with pytest.raises(ValueError, match="whole number"):
        TrainRequest("mobilenet_v1", data, tmp_path / "out", overrides={"held_out": 2.5})
    assert check_held_out(0.1) == 0.1 and check_held_out(5000) == 5000.0
    # an unknown model is named as such, before the data (a too-small split) is looked at
    _one_line_error(run(main, ["train", "no_such_model", "--data", str(data), "-o",
                               str(tmp_path / "out")]), "no_such_model")
    assert not (tmp_path / "out").exists()


def test_single_class_is_refused(tmp_path):
    data = _folder(tmp_path / "one", classes=1)
    res = CliRunner().invoke(main, ["train", "mobilenet_v1", "--data", str(data), "-o",
                                    str(tmp_path / "out"), "--preset", "cifar10-proxy",
                                    "--held-out", "4"])
    _one_line_error(res, "at least 2")
    assert not (tmp_path / "out").exists()


def test_undecodable_image_is_named_and_the_run_marked_failed(tmp_path):
    data = _folder(tmp_path / "data", per_class=10)
    bad = data / "class1" / "5.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 4)
    out = tmp_path / "out"
    res = CliRunner().invoke(main, [
        "train", "mobilenet_v1", "--data", str(data), "-o", str(out), "--preset",
        "cifar10-proxy", "--width", "0.25", "--held-out", "4", "--batch-size", "4",
        "--epochs", "1", "--no-progress"])
    _one_line_error(res, str(bad))
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "failed" and record["error"]


def test_the_undecodable_image_diagnostic_prints_no_decoder_lines(tmp_path, capfd):
    """libjpeg prints its own line on fd 2 for a truncated JPEG ("Input file read error",
    "Improper call to JPEG library ..."); the diagnostic that names the file mutes it, so the
    CLI's error stays one line."""
    import tensorflow as tf  # a dependency of mhzoo: never skipped

    from mhzoo.search.training.data import find_undecodable
    from mhzoo.search.training.sources import open_data

    data = _folder(tmp_path / "data", per_class=3)
    bad = data / "class0" / "broken.jpg"
    Image.fromarray(np.full((32, 32, 3), 128, np.uint8)).save(bad)
    bad.write_bytes(bad.read_bytes()[:200])  # truncated: libjpeg complains on stderr
    raw_noise = _native_lines(tf, bad, capfd)
    assert raw_noise, "the decoder printed nothing: this test would prove nothing"
    assert find_undecodable(open_data(str(data))) == str(bad)
    assert capfd.readouterr().err.strip() == ""


def _native_lines(tf, path, capfd) -> str:
    """What decoding ``path`` prints on fd 2."""
    capfd.readouterr()
    with pytest.raises(tf.errors.InvalidArgumentError):
        tf.io.decode_image(tf.io.read_file(str(path)), channels=3, expand_animations=False)
    return capfd.readouterr().err.strip()
