"""Fixtures of the benchmark tests: small .tflite files converted here with TFLiteConverter."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def convert(model, quant: str = "float32") -> bytes:
    """Convert a Keras model (batch 1) with tf.lite.TFLiteConverter, independently of
    mhzoo.export."""
    import numpy as np
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    if quant == "int8_full":
        shape = tuple(model.input_shape[1:])

        def rep():
            rng = np.random.default_rng(0)
            for _ in range(2):
                yield [rng.uniform(0, 255, (1, *shape)).astype("float32")]

        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = rep
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.uint8
        conv.inference_output_type = tf.uint8
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:  # the converter prints a page of tensor listings on stdout
        sys.stdout.flush()
        os.dup2(devnull, 1)
        return conv.convert()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


@pytest.fixture(scope="session")
def tiny_tflite(tmp_path_factory) -> Path:
    """MobileNetV1 0.25 at 32x32, float32, batch 1."""
    import mhzoo

    model = mhzoo.build("mobilenet_v1", 0.25, input_shape=(32, 32, 3), batch_size=1,
                        num_classes=10)
    p = tmp_path_factory.mktemp("tflite") / "mobilenet_v1_025_32.tflite"
    p.write_bytes(convert(model))
    return p


@pytest.fixture(scope="session")
def tiny_int8_tflite(tmp_path_factory) -> Path:
    """The model of :func:`tiny_tflite`, integer-only with uint8 I/O."""
    import mhzoo

    model = mhzoo.build("mobilenet_v1", 0.25, input_shape=(32, 32, 3), batch_size=1,
                        num_classes=10)
    p = tmp_path_factory.mktemp("tflite") / "mobilenet_v1_025_32_int8.tflite"
    p.write_bytes(convert(model, "int8_full"))
    return p


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """Hand-written benchmark_model logs."""
    return FIXTURES


@pytest.fixture()
def cli():
    """Invoke the `mhzoo` CLI in-process; returns click's Result."""
    from click.testing import CliRunner

    from mhzoo.cli import main

    def run(*args: str):
        return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)

    return run


@pytest.fixture()
def unwritable_dir(tmp_path, monkeypatch) -> Iterator[Path]:
    """A folder nothing may be written to (as root, whose writes chmod cannot stop, the
    permission check is denied instead)."""
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    if os.geteuid() == 0:
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if str(p) == str(
            locked) else real_access(p, mode, **kw))
    yield locked
    locked.chmod(0o700)


@pytest.fixture()
def one_line_error():
    """The :func:`assert_one_line_error` check, as a fixture."""
    return assert_one_line_error


def assert_one_line_error(result, *needles: str) -> None:
    """Exit code 2, exactly one 'Error:' line, no traceback, containing every needle."""
    out = result.output if not hasattr(result, "stderr") else (result.stderr or result.output)
    assert result.exit_code == 2, result.output
    lines = [ln for ln in out.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), out
    assert "Traceback" not in out
    for n in needles:
        assert n.lower() in lines[0].lower(), (n, lines[0])
