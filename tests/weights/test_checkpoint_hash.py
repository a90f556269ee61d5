"""Checkpoints written by mhzoo carry the sha256 of model.safetensors in config.json; loading
verifies it, so a damaged file is refused, while older checkpoints without a hash still load."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mhzoo.hashing import sha256_file
from mhzoo.weights.checkpoint import HASH_KEY, open_local, write_checkpoint

TENSORS = {"block0_conv/kernel": np.arange(3 * 3 * 3 * 8, dtype=np.float32).reshape(3, 3, 3, 8),
           "classifier/bias": np.ones(10, dtype=np.float32)}


def _flip_last_byte(path):
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # inside the last tensor's data: the file still parses
    path.write_bytes(bytes(data))


def test_written_checkpoint_records_the_hash_and_loads(tmp_path):
    out = write_checkpoint(tmp_path / "ck", TENSORS, {"architecture": "x"})
    cfg = json.loads((out / "config.json").read_text())
    assert cfg[HASH_KEY] == sha256_file(out / "model.safetensors")
    got = open_local(out).tensors()
    np.testing.assert_array_equal(got["block0_conv/kernel"], TENSORS["block0_conv/kernel"])


def test_damaged_but_parseable_weights_are_refused(tmp_path):
    out = write_checkpoint(tmp_path / "ck", TENSORS, {"architecture": "x"})
    _flip_last_byte(out / "model.safetensors")
    with pytest.raises(ValueError, match="damaged or was replaced") as err:
        open_local(out).tensors()
    assert "\n" not in str(err.value)


def test_checkpoints_without_a_hash_still_load(tmp_path):
    out = write_checkpoint(tmp_path / "ck", TENSORS, {"architecture": "x"})
    cfg = json.loads((out / "config.json").read_text())
    del cfg[HASH_KEY]
    (out / "config.json").write_text(json.dumps(cfg))
    _flip_last_byte(out / "model.safetensors")  # nothing to check it against
    assert set(open_local(out).tensors()) == set(TENSORS)


@pytest.mark.parametrize("bad", ["abc", 12, None, "z" * 64])
def test_malformed_hash_is_refused(tmp_path, bad):
    out = write_checkpoint(tmp_path / "ck", TENSORS, {"architecture": "x"})
    cfg = json.loads((out / "config.json").read_text())
    cfg[HASH_KEY] = bad
    (out / "config.json").write_text(json.dumps(cfg))
    if bad is None:  # null: treated as "no hash recorded"
        assert set(open_local(out).tensors()) == set(TENSORS)
        return
    with pytest.raises(ValueError, match="64 hex digits"):
        open_local(out).tensors()


def test_deeply_nested_config_is_one_value_error(tmp_path):
    out = write_checkpoint(tmp_path / "ck", TENSORS, {"architecture": "x"})
    (out / "config.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError, match="nested too deeply"):
        open_local(out)


def test_save_pretrained_then_damage_is_refused_by_build(tmp_path):
    import mhzoo

    model = mhzoo.build("mobilenet_v1", 0.25, input_shape=(32, 32, 3), num_classes=10)
    out = mhzoo.save_pretrained(model, tmp_path / "ck", model_card=False)
    assert json.loads((out / "config.json").read_text())[HASH_KEY] == sha256_file(
        out / "model.safetensors")
    again = mhzoo.build("mobilenet_v1", input_shape=(32, 32, 3), weights=out)
    np.testing.assert_array_equal(again.get_layer("classifier").get_weights()[0],
                                  model.get_layer("classifier").get_weights()[0])
    _flip_last_byte(out / "model.safetensors")
    with pytest.raises(ValueError, match="damaged or was replaced"):
        mhzoo.build("mobilenet_v1", input_shape=(32, 32, 3), weights=out)
