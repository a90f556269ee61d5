"""Results stores and the files beside them.

* a store that is refused is left byte for byte as it was (no switch to WAL, no tables, no
  ``-wal`` / ``-shm`` beside it): the checks read only;
* a store opened read-only (the sources of ``dataset`` / ``merge`` / ``report``) leaves nothing
  beside it, still sees the rows of a live writer and the unfinished WAL of a dead one, and can
  be read from a read-only folder;
* special files are never opened as stores.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from mhzoo.benchmarks.store import SCHEMA_VERSION, LatencyRecord, LatencyStore


def _record(i: int, median: float = 5.0) -> LatencyRecord:
    return LatencyRecord(f"spec:{i:020d}", 1.0, "cpu_fp32", "m1", f"model{i}", median, [median])


def _make_store(path: Path, n: int) -> Path:
    with LatencyStore(path) as s:
        for i in range(n):
            s.put(_record(i))
    return path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _journal_mode(path: Path) -> str:
    """From the file header (bytes 18-19: 2 = WAL), without opening the database."""
    header = path.read_bytes()[:20]
    return "wal" if header[18:20] == b"\x02\x02" else "delete"


# ----------------------------------------------------------------------------- refused stores
def _other_schema(path: Path) -> None:
    con = sqlite3.connect(path)
    con.executescript(
        "CREATE TABLE latency (arch_hash TEXT, width REAL, target TEXT, machine TEXT, "
        "model TEXT, input_size INTEGER, supported INTEGER, median_ms REAL, p10_ms REAL, "
        "p90_ms REAL, mean_ms REAL, n_samples INTEGER, samples_ms TEXT, source TEXT, "
        "info TEXT, created_at REAL);"
        f"CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT); "
        f"INSERT INTO meta VALUES ('schema', '{SCHEMA_VERSION + 1}');")
    con.close()


def _other_layout(path: Path) -> None:
    con = sqlite3.connect(path)
    con.executescript("CREATE TABLE latency (device TEXT, ms REAL); "
                      "CREATE TABLE meta (k TEXT, v TEXT); INSERT INTO latency VALUES ('x', 1);")
    con.close()


def _other_tables(path: Path) -> None:
    con = sqlite3.connect(path)
    con.executescript("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
    con.close()


def _not_sqlite(path: Path) -> None:
    path.write_bytes(b"this is not a database\n" * 200)


@pytest.mark.parametrize(("make", "match"), [
    (_other_schema, "schema"),
    (_other_layout, "another layout"),
    (_other_tables, "something else"),
    (_not_sqlite, "not a usable"),
])
@pytest.mark.parametrize("readonly", [False, True])
def test_refused_store_is_left_as_it_was(tmp_path, make, match, readonly):
    db = tmp_path / "lat.sqlite"
    make(db)
    before = _digest(db)
    with pytest.raises(ValueError, match=match):
        LatencyStore(db, readonly=readonly)
    assert _digest(db) == before  # the WAL switch and the schema would change the header
    assert _names(tmp_path) == ["lat.sqlite"]  # no -wal / -shm / -journal
    if make is not _not_sqlite:
        assert _journal_mode(db) == "delete"


@pytest.mark.parametrize("readonly", [False, True])
def test_device_node_is_not_a_store(tmp_path, readonly):
    with pytest.raises(ValueError, match="not a regular file"):
        LatencyStore("/dev/null", readonly=readonly)
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert not any(Path(f"/dev/null{s}").exists() for s in ("-wal", "-shm", "-journal"))
    fifo = tmp_path / "pipe.sqlite"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="not a regular file"):
        LatencyStore(fifo, readonly=readonly)
    assert _names(tmp_path) == ["pipe.sqlite"]


def test_store_killed_while_being_created_reopens(tmp_path):
    """Tables of an mhzoo that died before tagging the schema: still ours, reopened."""
    db = tmp_path / "lat.sqlite"
    with LatencyStore(db):
        pass
    con = sqlite3.connect(db)
    con.execute("DELETE FROM meta")
    con.commit()
    con.close()
    with LatencyStore(db) as s:
        s.put(_record(0))
    with LatencyStore(db, readonly=True) as s:
        assert s.count() == 1


# ----------------------------------------------------------------------------- read-only opens
def test_readonly_source_leaves_nothing_beside_it(tmp_path):
    db = _make_store(tmp_path / "shard0.sqlite", 3)
    assert _journal_mode(db) == "wal" and _names(tmp_path) == ["shard0.sqlite"]
    before = _digest(db)
    with LatencyStore(db, readonly=True) as s:
        assert s.count() == 3
        assert len(s.records()) == 3
    assert _names(tmp_path) == ["shard0.sqlite"]
    assert _digest(db) == before


def test_readonly_reader_sees_a_live_writers_rows(tmp_path):
    db = tmp_path / "lat.sqlite"
    writer = LatencyStore(db)
    try:
        writer._db.execute("PRAGMA wal_autocheckpoint=0")  # rows stay in the -wal
        for i in range(4):
            writer.put(_record(i))
        beside = _names(tmp_path)
        assert "lat.sqlite-wal" in beside
        with LatencyStore(db, readonly=True) as s:
            assert s.count() == 4
        writer.put(_record(9))  # the writer goes on
        with LatencyStore(db, readonly=True) as s:
            assert s.count() == 5
        assert _names(tmp_path) == beside
    finally:
        writer.close()


KILLED_WRITER = """
import os, signal, sys
from mhzoo.benchmarks.store import LatencyRecord, LatencyStore
s = LatencyStore(sys.argv[1])
s._db.execute("PRAGMA wal_autocheckpoint=0")
for i in range(int(sys.argv[2])):
    s.put(LatencyRecord(f"spec:{i:020d}", 1.0, "cpu_fp32", "m1", "m", 5.0, [5.0]))
os.kill(os.getpid(), signal.SIGKILL)
"""


def _killed_writer(db: Path, n: int) -> None:
    proc = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(db), str(n)], timeout=60)
    assert proc.returncode == -signal.SIGKILL


def test_readonly_reader_sees_a_dead_writers_wal_and_changes_nothing(tmp_path):
    db = tmp_path / "lat.sqlite"
    _killed_writer(db, 6)
    beside = _names(tmp_path)
    assert beside == ["lat.sqlite", "lat.sqlite-shm", "lat.sqlite-wal"]
    digests = {n: _digest(tmp_path / n) for n in beside if not n.endswith("-shm")}
    with LatencyStore(db, readonly=True) as s:
        assert s.count() == 6  # the rows live only in the dead writer's -wal
    assert _names(tmp_path) == beside
    assert {n: _digest(tmp_path / n) for n in digests} == digests
    (tmp_path / "lat.sqlite-shm").unlink()  # a -wal without its -shm: read from a copy
    with LatencyStore(db, readonly=True) as s:
        assert s.count() == 6
    assert _names(tmp_path) == ["lat.sqlite", "lat.sqlite-wal"]
    with LatencyStore(db) as s:  # a writer recovers it
        assert s.count() == 6


def test_readonly_store_through_a_symlink(tmp_path):
    real = _make_store(tmp_path / "real.sqlite", 2)
    (tmp_path / "link.sqlite").symlink_to(real)
    with LatencyStore(tmp_path / "link.sqlite", readonly=True) as s:
        assert s.count() == 2
    assert _names(tmp_path) == ["link.sqlite", "real.sqlite"]


READER = """
import sys
from mhzoo.benchmarks.store import LatencyStore
with LatencyStore(sys.argv[1], readonly=True) as s:
    print(s.count())
"""


def _read_as_other_user(db: Path) -> subprocess.CompletedProcess:
    """Count the rows of ``db`` in a process that cannot write its folder: as root (who may
    write anywhere) the reader runs as ``nobody``; otherwise the folder is made read-only."""
    cmd = [sys.executable, "-c", READER, str(db)]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.fail("running as root without setpriv: cannot drop privileges for the test")
        cmd = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
    env = {**os.environ, "HOME": str(db.parent)}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)


@pytest.mark.parametrize("dead_writer", [False, True])
def test_store_in_a_read_only_folder_can_be_read(dead_writer):
    base = Path(tempfile.mkdtemp(prefix="mhzoo-ro-"))  # not under pytest's 0700 root
    folder = base / "ro"
    folder.mkdir()
    try:
        db = folder / "lat.sqlite"
        if dead_writer:
            _killed_writer(db, 5)
        else:
            _make_store(db, 5)
        assert _journal_mode(db) == "wal"
        for p in [base, folder, *folder.iterdir()]:
            p.chmod(0o755 if p.is_dir() else 0o644)
        folder.chmod(0o555)
        beside = _names(folder)
        proc = _read_as_other_user(db)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == "5"
        assert _names(folder) == beside
    finally:
        folder.chmod(0o755)
        shutil.rmtree(base, ignore_errors=True)
