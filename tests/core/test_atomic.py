"""Atomic outputs: a writer killed mid-write leaves no partial destination, and its
temporary is cleaned up by the next writer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from mhzoo.atomic import (
    atomic_dir,
    atomic_group,
    atomic_path,
    atomic_write_text,
    check_output_path,
    sweep_stale,
)

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


# ----------------------------------------------------------------------------- signals
SIGNALLED_WRITER = """
import signal, sys, time
from pathlib import Path
# the usual dispositions, even where the test runner was started with signals ignored
signal.signal(signal.SIGTERM, signal.SIG_DFL)
signal.signal(signal.SIGINT, signal.default_int_handler)
from mhzoo.atomic import atomic_dir, atomic_group, atomic_path
kind, out = sys.argv[1], Path(sys.argv[2])
def wait():
    print("ready", flush=True)
    time.sleep(60)
if kind == "path":
    with atomic_path(out) as tmp:
        tmp.write_bytes(b"half")
        wait()
elif kind == "dir":
    with atomic_dir(out) as tmp:
        (tmp / "model.safetensors").write_bytes(b"half")
        wait()
else:
    with atomic_group([out, out.with_suffix(".fidelity.json")]) as (a, b):
        a.write_bytes(b"model")
        b.write_text("{}")
        wait()
"""


def _signalled(tmp_path, kind: str, sig: int) -> subprocess.CompletedProcess:
    out = tmp_path / "model.tflite"
    proc = subprocess.Popen([sys.executable, "-c", SIGNALLED_WRITER, kind, str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    return subprocess.CompletedProcess(proc.args, proc.returncode, "", err)


@pytest.mark.parametrize("kind", ["path", "dir", "group"])
def test_sigterm_mid_write_removes_temporaries_and_keeps_exit_status(tmp_path, kind):
    proc = _signalled(tmp_path, kind, signal.SIGTERM)
    assert proc.returncode == -signal.SIGTERM, proc.stderr
    assert list(tmp_path.iterdir()) == [], "no destination and no hidden temporary"


def test_sigint_mid_write_removes_temporary(tmp_path):
    proc = _signalled(tmp_path, "group", signal.SIGINT)
    assert proc.returncode != 0 and "KeyboardInterrupt" in proc.stderr, proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_handlers_are_restored_and_application_handlers_kept(tmp_path):
    before = signal.getsignal(signal.SIGTERM)
    with atomic_path(tmp_path / "a") as tmp:
        tmp.write_text("x")
        assert signal.getsignal(signal.SIGTERM) is not before
    assert signal.getsignal(signal.SIGTERM) == before

    def mine(signum, frame):  # pragma: no cover - never delivered
        pass

    signal.signal(signal.SIGTERM, mine)
    try:
        with atomic_path(tmp_path / "b") as tmp:
            assert signal.getsignal(signal.SIGTERM) is mine
            tmp.write_text("y")
    finally:
        signal.signal(signal.SIGTERM, before)


# ----------------------------------------------------------------------------- sweeping
def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(proc.stdout)


def test_dead_writers_temporaries_are_swept_in_the_whole_folder(tmp_path):
    pid = _dead_pid()
    stale_file = tmp_path / f".other.tflite.{pid}.k2j4_x9a.partial"
    stale_file.write_bytes(b"half")
    stale_dir = tmp_path / f".ckpt.{pid}.abc123.partial"
    stale_dir.mkdir()
    (stale_dir / "model.safetensors").write_bytes(b"half")
    live = tmp_path / f".third.json.{os.getpid()}.zz.partial"
    live.write_text("being written by us")
    unrelated = tmp_path / ".hidden.123.notours"
    unrelated.write_text("keep")
    atomic_write_text(tmp_path / "table.md", "done")  # a different destination
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [live.name, unrelated.name, "table.md"])


def test_check_output_path_sweeps_first(tmp_path):
    stale = tmp_path / f".m.tflite.{_dead_pid()}.abcdefgh.partial"
    stale.write_bytes(b"x")
    check_output_path(tmp_path / "m.tflite")
    assert not stale.exists()


def test_dead_replace_of_a_folder_puts_the_old_one_back(tmp_path):
    pid = _dead_pid()
    old = tmp_path / f".ckpt.{pid}.q1w2e3ab.old"
    (old / "x").mkdir(parents=True)
    (old / "x" / "config.json").write_text("{}")
    new = tmp_path / f".ckpt.{pid}.r4t5y6ab.partial"
    new.mkdir()
    sweep_stale(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]
    assert (tmp_path / "ckpt" / "config.json").read_text() == "{}"


# ----------------------------------------------------------------------------- groups
def test_group_appears_together(tmp_path):
    a, b = tmp_path / "m.tflite", tmp_path / "m.fidelity.json"
    with atomic_group([a, b]) as (ta, tb):
        ta.write_bytes(b"model")
        tb.write_text("{}")
        assert not a.exists() and not b.exists()
    assert a.read_bytes() == b"model" and b.read_text() == "{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.fidelity.json", "m.tflite"]


def test_group_failure_changes_nothing(tmp_path):
    a, b = tmp_path / "m.tflite", tmp_path / "m.fidelity.json"
    a.write_bytes(b"old model")
    with pytest.raises(RuntimeError), atomic_group([a, b]) as (ta, _tb):
        ta.write_bytes(b"new model")
        raise RuntimeError("converter failed")
    assert a.read_bytes() == b"old model" and not b.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["m.tflite"]


def test_group_failing_rename_leaves_none(tmp_path, monkeypatch):
    a, b = tmp_path / "m.tflite", tmp_path / "m.fidelity.json"
    real = os.replace
    calls = []

    def flaky(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", flaky)
    with pytest.raises(OSError), atomic_group([a, b]) as (ta, tb):
        ta.write_bytes(b"m")
        tb.write_text("{}")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("paths", "match"), [
    ([], "at least one"),
    (["a", "a"], "same path twice"),
    (["a", "sub/b"], "one folder"),
])
def test_group_rejects_bad_paths(tmp_path, paths, match):
    (tmp_path / "sub").mkdir()
    with pytest.raises(ValueError, match=match), atomic_group([tmp_path / p for p in paths]):
        pass


KILLED_BETWEEN_RENAMES = """
import os, signal, sys
from pathlib import Path
from mhzoo.atomic import atomic_group
real, calls = os.replace, []
def replace(src, dst):
    calls.append(dst)
    if len(calls) == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(src, dst)
os.replace = replace
out = Path(sys.argv[1])
with atomic_group([out, out.with_suffix(".fidelity.json")]) as (a, b):
    a.write_bytes(b"model")
    b.write_text('{"ok": true}')
"""


def test_sigkill_between_renames_is_completed_by_the_next_writer(tmp_path):
    out = tmp_path / "m.tflite"
    proc = subprocess.run([sys.executable, "-c", KILLED_BETWEEN_RENAMES, str(out)], timeout=60)
    assert proc.returncode == -signal.SIGKILL
    names = sorted(p.name for p in tmp_path.iterdir())
    assert "m.tflite" in names and "m.fidelity.json" not in names  # the half-done state
    assert any(n.endswith(".group") for n in names)
    with pytest.raises(ValueError, match="output exists"):  # the next writer repairs first
        check_output_path(tmp_path / "m.fidelity.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.fidelity.json", "m.tflite"]
    assert (tmp_path / "m.fidelity.json").read_text() == '{"ok": true}'


def test_hidden_files_that_only_look_like_temporaries_are_kept(tmp_path):
    pid = _dead_pid()
    keep = [f".config.{pid}.Backup.old", f".notes.{pid}.x.partial", f".a.{pid}.toolongname1.group"]
    for name in keep:
        (tmp_path / name).write_text("user data")
    sweep_stale(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(keep)


SIGNAL_MID_GROUP = """
import os, signal, sys, threading, time
from pathlib import Path
signal.signal(signal.SIGTERM, signal.SIG_DFL)
import mhzoo.atomic as atomic
out = Path(sys.argv[1])
go, sent = threading.Event(), threading.Event()
def killer():  # started before the group, like TensorFlow's threads: it does not block SIGTERM
    go.wait()
    os.kill(os.getpid(), signal.SIGTERM)  # the kernel delivers it here: the main thread blocks it
    sent.set()
threading.Thread(target=killer, daemon=True).start()
real_replace, renamed = os.replace, []
def replace(src, dst):
    real_replace(src, dst)
    renamed.append(dst)
    if len(renamed) == 1:  # between the group's two renames
        go.set()
        sent.wait()
        time.sleep(0.3)  # the main thread passes bytecodes: a handler would run now
os.replace = replace
with atomic.atomic_group([out, out.with_suffix(".fidelity.json")]) as (a, b):
    a.write_bytes(b"model")
    b.write_text("{}")
print("not reached", flush=True)
"""


def test_sigterm_from_another_thread_mid_group_waits_for_the_renames(tmp_path):
    out = tmp_path / "model.tflite"
    proc = subprocess.run([sys.executable, "-c", SIGNAL_MID_GROUP, str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGTERM, proc.stderr
    assert "not reached" not in proc.stdout
    assert out.read_bytes() == b"model"
    assert out.with_suffix(".fidelity.json").read_text() == "{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.fidelity.json", "model.tflite"]
