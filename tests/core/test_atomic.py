"""Atomic outputs: a writer killed mid-write leaves no partial destination, and its
temporary is cleaned up by the next writer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from mhzoo.atomic import atomic_dir, atomic_path, atomic_write_text, check_output_path

KILLED_WRITER = """
import os, signal, sys
from mhzoo.atomic import atomic_path
with atomic_path(sys.argv[1]) as tmp:
    with open(tmp, "wb") as fh:
        fh.write(b"half a model")
        fh.flush()
        os.kill(os.getpid(), signal.SIGKILL)
"""


def test_sigkill_mid_write_leaves_no_destination_and_next_write_cleans_up(tmp_path):
    out = tmp_path / "model.tflite"
    proc = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(out)], timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists()
    leftovers = [p.name for p in tmp_path.iterdir()]
    assert len(leftovers) == 1 and leftovers[0].endswith(".partial")
    atomic_write_text(out, "complete")
    assert out.read_text() == "complete"
    assert [p.name for p in tmp_path.iterdir()] == ["model.tflite"]


def test_failure_inside_block_keeps_old_file(tmp_path):
    out = tmp_path / "table.md"
    out.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(out) as tmp:
        tmp.write_text("new but broken")
        raise RuntimeError("boom")
    assert out.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["table.md"]


def test_live_writers_partials_are_left_alone(tmp_path):
    out = tmp_path / "x.json"
    live = tmp_path / f".x.json.{os.getpid()}.abc.partial"
    live.write_text("in progress")
    atomic_write_text(out, "{}")
    assert live.exists()


def test_atomic_dir_replaces_whole_folder(tmp_path):
    out = tmp_path / "ckpt"
    with atomic_dir(out) as tmp:
        (tmp / "a").write_text("1")
    with atomic_dir(out) as tmp:
        (tmp / "b").write_text("2")
    assert sorted(p.name for p in out.iterdir()) == ["b"]
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]


def test_check_output_path(tmp_path):
    (tmp_path / "exists.txt").write_text("x")
    with pytest.raises(ValueError, match="output exists"):
        check_output_path(tmp_path / "exists.txt")
    assert check_output_path(tmp_path / "exists.txt", force=True)
    with pytest.raises(ValueError, match="does not exist"):
        check_output_path(tmp_path / "missing" / "out.txt")


def test_existing_directory_is_not_a_file_output(tmp_path):
    (tmp_path / "folder").mkdir()
    with pytest.raises(ValueError, match="is a directory"):
        check_output_path(tmp_path / "folder", force=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="expected a folder"):
        check_output_path(tmp_path / "file", force=True, directory=True)
    assert check_output_path(tmp_path / "folder", force=True, directory=True)


def test_outputs_get_umask_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "f.txt", "x")
        with atomic_dir(tmp_path / "d") as tmp:
            (tmp / "a").write_text("1")
    finally:
        os.umask(old)
    assert (tmp_path / "f.txt").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "d").stat().st_mode & 0o777 == 0o755
