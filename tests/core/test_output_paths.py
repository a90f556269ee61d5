"""The one rule for output paths (``mhzoo.atomic``).

Never replaced, with or without ``force``: a symbolic link, a device node, a FIFO or a socket,
a folder by a file output, a file by a folder output. An existing regular file is replaced only
with ``force``. The writers check before their temporary exists and again before the rename.
"""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from mhzoo.atomic import (
    atomic_dir,
    atomic_group,
    atomic_path,
    atomic_write_text,
    check_output_path,
    check_output_paths,
    sweep_stale,
)


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _dev_leftovers() -> list[str]:
    return sorted(n for n in os.listdir("/dev") if n.startswith(".null."))


WRITERS = {
    "check": lambda p: check_output_path(p, force=True),
    "check_many": lambda p: check_output_paths([p], force=True),
    "write_text": lambda p: atomic_write_text(p, "x"),
    "group": lambda p: atomic_group([p]).__enter__(),
    "path": lambda p: atomic_path(p).__enter__(),
}


@pytest.mark.parametrize("writer", ["check", "check_many"])
def test_dev_null_is_refused_up_front(writer):
    """As root a rename onto /dev/null would replace the system's null device; the checks
    write nothing, so they run on the real one."""
    before = os.stat("/dev/null")
    with pytest.raises(ValueError, match="character device: /dev/null"):
        WRITERS[writer]("/dev/null")
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev
    assert after.st_ino == before.st_ino
    assert _dev_leftovers() == []


@pytest.fixture
def device_node(tmp_path) -> Path:
    """A character device to write to. As root (who could replace /dev/null, so a broken
    writer must not be tried on it): a private null device made in ``tmp_path``; otherwise
    /dev/null itself (its folder is not writable, so nothing can be renamed onto it)."""
    if os.geteuid() == 0:
        node = tmp_path / "null"
        os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        return node
    return Path("/dev/null")


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_device_node_is_never_replaced(device_node, writer):
    before = os.lstat(device_node)
    with pytest.raises(ValueError, match=f"character device: {device_node}"):
        WRITERS[writer](device_node)
    after = os.lstat(device_node)
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev
    assert after.st_ino == before.st_ino
    assert not [n for n in os.listdir(device_node.parent) if n.startswith(".null.")]
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_fifo_and_socket_are_never_replaced(tmp_path, writer):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="named pipe"):
        WRITERS[writer](fifo)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    sock_path = tmp_path / "sock"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(sock_path))
        with pytest.raises(ValueError, match="socket"):
            WRITERS[writer](sock_path)
    assert stat.S_ISSOCK(os.lstat(sock_path).st_mode)
    assert _names(tmp_path) == ["pipe", "sock"]


@pytest.mark.parametrize("writer", sorted(WRITERS))
@pytest.mark.parametrize("points_to", ["file", "outside", "dangling", "folder"])
def test_symlink_is_never_replaced(tmp_path, writer, points_to):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = {"file": out_dir / "real.txt", "outside": elsewhere / "passwd",
              "dangling": out_dir / "missing.txt", "folder": elsewhere}[points_to]
    if points_to in ("file", "outside"):
        target.write_text("keep")
    link = out_dir / "result.txt"
    link.symlink_to(target)
    with pytest.raises(ValueError, match="symbolic link"):
        WRITERS[writer](link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    if points_to in ("file", "outside"):
        assert target.read_text() == "keep"
    assert not [n for n in _names(out_dir) if n.endswith(".partial")]


def test_symlinked_folder_is_not_replaced_by_a_folder_output(tmp_path):
    real = tmp_path / "real_ckpt"
    real.mkdir()
    (real / "model.safetensors").write_text("weights")
    (tmp_path / "ckpt").symlink_to(real)
    with pytest.raises(ValueError, match="symbolic link"):
        check_output_path(tmp_path / "ckpt", force=True, directory=True)
    with pytest.raises(ValueError, match="symbolic link"), atomic_dir(tmp_path / "ckpt"):
        pass
    assert (tmp_path / "ckpt").is_symlink()
    assert (real / "model.safetensors").read_text() == "weights"


def test_symlinked_parent_folder_is_fine(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "via").symlink_to(tmp_path / "real")
    atomic_write_text(tmp_path / "via" / "out.txt", "ok")
    assert (tmp_path / "real" / "out.txt").read_text() == "ok"


def test_folder_output_never_replaces_a_file(tmp_path):
    """Before: atomic_dir moved the file aside and deleted it."""
    f = tmp_path / "ckpt"
    f.write_text("an unrelated file")
    with pytest.raises(ValueError, match="expected a folder"), atomic_dir(f) as tmp:
        (tmp / "a").write_text("1")
    assert f.read_text() == "an unrelated file"
    assert _names(tmp_path) == ["ckpt"]


def test_file_output_never_replaces_a_folder(tmp_path):
    (tmp_path / "out.json").mkdir()
    for writer in ("write_text", "group", "path"):
        with pytest.raises(ValueError, match="is a directory"):
            WRITERS[writer](tmp_path / "out.json")
    assert (tmp_path / "out.json").is_dir() and _names(tmp_path) == ["out.json"]


def test_existing_file_needs_force(tmp_path):
    out = tmp_path / "table.md"
    out.write_text("someone's notes")
    with pytest.raises(ValueError, match=r"output exists.*--force"):
        check_output_path(out)
    with pytest.raises(ValueError, match="output exists"):
        check_output_paths([None, out])
    assert check_output_path(out, force=True) == out
    assert check_output_paths([out, None], force=True) == [out]
    assert out.read_text() == "someone's notes"


def test_two_outputs_on_one_file(tmp_path):
    (tmp_path / "sub").mkdir()
    with pytest.raises(ValueError, match="same file"):
        check_output_paths([tmp_path / "a.png", tmp_path / "sub" / ".." / "a.png"])
    assert check_output_paths([tmp_path / "a.png", tmp_path / "b.png"]) == [
        tmp_path / "a.png", tmp_path / "b.png"]


def test_link_that_appears_during_the_write_is_not_replaced(tmp_path):
    out = tmp_path / "model.tflite"
    victim = tmp_path / "victim"
    victim.write_text("keep")
    with pytest.raises(ValueError, match="symbolic link"), atomic_path(out) as tmp:
        tmp.write_text("model")
        out.symlink_to(victim)  # planted between the check and the rename
    assert out.is_symlink() and victim.read_text() == "keep"
    assert _names(tmp_path) == ["model.tflite", "victim"]
    out.unlink()
    with pytest.raises(ValueError, match="symbolic link"), atomic_group([out]) as (tmp,):
        tmp.write_text("model")
        out.symlink_to(victim)
    assert out.is_symlink() and _names(tmp_path) == ["model.tflite", "victim"]


def test_regular_files_are_still_replaced_by_the_writers(tmp_path):
    """Internal state (run.json, history) is rewritten in place: the writers replace files."""
    out = tmp_path / "run.json"
    atomic_write_text(out, "1")
    atomic_write_text(out, "2")
    with atomic_group([out]) as (tmp,):
        tmp.write_text("3")
    assert out.read_text() == "3" and _names(tmp_path) == ["run.json"]


KILLED_STORE_WRITER = """
import os, signal, sys
from mhzoo.atomic import atomic_path
from mhzoo.benchmarks.store import LatencyRecord, LatencyStore
with atomic_path(sys.argv[1]) as tmp:
    store = LatencyStore(tmp)
    store.put(LatencyRecord("spec:x", 1.0, "cpu_fp32", "m", "m", 5.0, [5.0]))
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_dead_store_temporaries_are_swept_with_their_wal_and_shm(tmp_path):
    """``search merge`` writes its store to a temporary: SQLite keeps -wal / -shm beside it."""
    out = tmp_path / "merged.sqlite"
    proc = subprocess.run([sys.executable, "-c", KILLED_STORE_WRITER, str(out)], timeout=60)
    assert proc.returncode == -signal.SIGKILL
    left = _names(tmp_path)
    assert any(n.endswith(".partial-wal") for n in left), left
    sweep_stale(tmp_path)
    assert _names(tmp_path) == []


def test_failed_store_temporary_leaves_no_wal(tmp_path):
    from mhzoo.benchmarks.store import LatencyStore

    out = tmp_path / "merged.sqlite"
    with pytest.raises(RuntimeError), atomic_path(out) as tmp:
        store = LatencyStore(tmp)  # left open: its -wal / -shm exist when the block fails
        assert Path(f"{tmp}-wal").exists()
        raise RuntimeError("merge failed")
    store.close()
    assert _names(tmp_path) == []
