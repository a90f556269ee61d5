"""The one run folder (mhzoo.search.runs): a rerun names the field that differs, and a damaged
checkpoint falls back to the previous intact one (a garbled state file to the files on disk)
instead of restarting from step 0 or failing with an internal error."""

from __future__ import annotations

import pytest

from mhzoo.search import runs


def test_another_request_names_the_nested_field(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    recipe = {"name": "cifar10-proxy", "epochs": 2.0, "base_lr": 0.4, "notes": "x" * 200}
    runs.write_run(out, runs.TRAIN, {"status": "running", "request": {"recipe": recipe}})
    with pytest.raises(ValueError, match=r"recipe\.epochs: 2\.0 vs 3\.0"):
        runs.check_run_dir(out, runs.TRAIN, {"recipe": {**recipe, "epochs": 3.0}})
    assert runs.check_run_dir(out, runs.TRAIN, {"recipe": recipe})["status"] == "running"
    # reworded notes (free text) do not strand the run: a rerun resumes it
    assert runs.check_run_dir(out, runs.TRAIN, {"recipe": {**recipe, "notes": "reworded"}})
    # a run of another kind is "something else"
    with pytest.raises(ValueError, match="holds something else"):
        runs.check_run_dir(out, runs.SEARCH, None)
    assert runs.first_difference({"a": [1, 2]}, {"a": [1, 3]}, "k") == "k.a: [1, 2] vs [1, 3]"
    assert runs.first_difference({"a": 1}, {"a": 1}, "k") is None


def test_unreadable_run_record_is_one_line(tmp_path):
    (tmp_path / "run.json").write_text('{"format": "mhzoo-train-run", "status": NaN}')
    with pytest.raises(ValueError, match="training run record"):
        runs.check_run_dir(tmp_path, runs.TRAIN, None)


def test_history_survives_a_damaged_file(tmp_path):
    runs.write_history(tmp_path, [{"step": 1}, {"step": 5}])
    assert runs.read_history(tmp_path, up_to_step=4) == [{"step": 1}]
    (tmp_path / "history.json").write_text("[{")
    assert runs.read_history(tmp_path) == []


def _saved(tmp_path):
    import tensorflow as tf  # a dependency of mhzoo: never skipped
    v = tf.Variable(0.0)
    ckpt = tf.train.Checkpoint(v=v)
    manager = runs.restore_checkpoint(ckpt, tmp_path)
    for step in (2, 4):
        v.assign(float(step))
        manager.save(checkpoint_number=step)
    return v, ckpt


def test_damaged_newest_checkpoint_falls_back(tmp_path, capfd):
    v, ckpt = _saved(tmp_path)
    newest = tmp_path / "checkpoints" / "ckpt-4.data-00000-of-00001"
    newest.write_bytes(b"\0" * 7)  # truncated / garbled data file
    v.assign(-1.0)
    runs.restore_checkpoint(ckpt, tmp_path)
    assert float(v.numpy()) == 2.0
    assert "ckpt-4" in capfd.readouterr().err
    # every checkpoint damaged: one line, no restart from scratch
    (tmp_path / "checkpoints" / "ckpt-2.index").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="no intact checkpoint"):
        runs.restore_checkpoint(ckpt, tmp_path)


def test_garbled_state_file_uses_the_checkpoint_files(tmp_path, capfd):
    v, ckpt = _saved(tmp_path)
    (tmp_path / "checkpoints" / "checkpoint").write_text("model_checkpoint_path: {{{ garbled")
    v.assign(-1.0)
    runs.restore_checkpoint(ckpt, tmp_path)
    assert float(v.numpy()) == 4.0
    assert "state file" in capfd.readouterr().err


def test_new_folder_restores_nothing(tmp_path):
    import tensorflow as tf  # a dependency of mhzoo: never skipped
    v = tf.Variable(3.0)
    runs.restore_checkpoint(tf.train.Checkpoint(v=v), tmp_path / "new")
    assert float(v.numpy()) == 3.0
