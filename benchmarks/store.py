"""Results store: one SQLite file, one row per (architecture hash, width, target, machine).

Each row keeps the raw samples and how they were taken. Every row is written in its own
transaction (WAL journal), so a sweep killed at any point (even SIGKILL) leaves only finished
rows; rerunning the sweep skips them (``has``) and inserts no duplicates (a UNIQUE key).

Opening never changes a file it then refuses: a store opened for writing is checked (an SQLite
file with mhzoo's tables, columns and schema version, or an empty one) before the first write
or pragma (the switch to WAL included). A store opened ``readonly`` (a source of ``dataset``,
``merge``, ``report``) leaves nothing beside it: a cleanly closed store is read in SQLite's
``immutable`` mode (no ``-wal`` / ``-shm`` made, works in a read-only folder); a store with a
live writer is read through that writer's ``-wal`` / ``-shm``; the unfinished ``-wal`` (or
``-journal``) of a writer that died, or a live one's that this process cannot share (a
read-only folder), is read from a private copy, so its rows are not lost.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import stat
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mhzoo.spec import ArchSpec

__all__ = ["LatencyRecord", "LatencyStore", "arch_hash", "file_hash"]

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS latency (
    arch_hash   TEXT NOT NULL,
    width       REAL NOT NULL,
    target      TEXT NOT NULL,
    machine     TEXT NOT NULL,
    model       TEXT NOT NULL,
    input_size  INTEGER,
    supported   INTEGER NOT NULL DEFAULT 1,
    median_ms   REAL,
    p10_ms      REAL,
    p90_ms      REAL,
    mean_ms     REAL,
    n_samples   INTEGER NOT NULL DEFAULT 0,
    samples_ms  TEXT NOT NULL DEFAULT '[]',
    source      TEXT NOT NULL,
    info        TEXT NOT NULL DEFAULT '{}',
    created_at  REAL NOT NULL,
    PRIMARY KEY (arch_hash, width, target, machine)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_LATENCY_COLUMNS = frozenset((
    "arch_hash", "width", "target", "machine", "model", "input_size", "supported", "median_ms",
    "p10_ms", "p90_ms", "mean_ms", "n_samples", "samples_ms", "source", "info", "created_at"))
_SIDECARS = ("-wal", "-shm", "-journal")


def arch_hash(spec: ArchSpec, input_size: int = 224, num_classes: int = 1000) -> str:
    """Hash of what a latency depends on: the base architecture (blocks and width rules, not
    its name or description), the input size and the classifier size."""
    d = spec.to_dict()
    d.pop("name", None)
    d.pop("description", None)
    payload = json.dumps({"spec": d, "input_size": input_size, "num_classes": num_classes},
                         sort_keys=True, separators=(",", ":"))
    return "spec:" + hashlib.sha256(payload.encode()).hexdigest()[:20]


def file_hash(path: str | os.PathLike) -> str:
    """Key of a prebuilt .tflite file: the hash of its bytes."""
    from mhzoo.hashing import sha256_file

    return "file:" + sha256_file(path)[:20]


@dataclass
class LatencyRecord:
    """One stored measurement (``median_ms`` is the latency; ``None`` when unsupported)."""

    arch_hash: str
    width: float
    target: str
    machine: str
    model: str
    median_ms: float | None
    samples_ms: list[float] = field(default_factory=list)
    p10_ms: float | None = None
    p90_ms: float | None = None
    mean_ms: float | None = None
    supported: bool = True
    input_size: int | None = None
    source: str = "litert"
    info: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0

    @property
    def key(self) -> tuple[str, float, str, str]:
        """The store's unique key."""
        return (self.arch_hash, float(self.width), self.target, self.machine)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {k: getattr(self, k) for k in (
            "model", "width", "target", "machine", "arch_hash", "median_ms", "p10_ms", "p90_ms",
            "mean_ms", "supported", "input_size", "source", "samples_ms", "info", "created_at")}


class LatencyStore:
    """A SQLite latency database; use as a context manager or call :meth:`close`."""

    def __init__(self, path: str | os.PathLike, *, readonly: bool = False) -> None:
        """Open (or, unless ``readonly``, create) the database at ``path``.

        ``readonly=True`` opens an existing file read-only: no table is created, the journal
        mode is left alone, no ``-wal`` / ``-shm`` file is left beside it, and a store in a
        read-only folder can be read. A file that is not an mhzoo results database (or of
        another schema version) is a ``ValueError``, and is left unchanged.
        """
        self.path = Path(path)
        self.readonly = readonly
        self._copy: Path | None = None  # private copy read instead (see _open_ro)
        if self.path.is_dir():
            raise ValueError(f"results database path is a directory: {self.path}")
        if self.path.exists() and not stat.S_ISREG(self.path.stat().st_mode):
            raise ValueError(f"results database path is not a regular file: {self.path} "
                             "(give an SQLite file written by `mhzoo bench` or a new file name)")
        parent = self.path.parent if str(self.path.parent) else Path(".")
        if readonly:
            if not self.path.is_file():
                raise FileNotFoundError(f"results database not found: {self.path}")
            if not os.access(self.path, os.R_OK):
                raise ValueError(f"results database is not readable: {self.path}")
        elif not parent.is_dir():
            raise ValueError(f"folder of the results database does not exist: {parent}")
        elif not self.path.exists() and not os.access(parent, os.W_OK):
            raise ValueError(f"cannot create the results database {self.path.name}: folder "
                             f"{parent} is not writable")
        elif self.path.exists() and not os.access(self.path, os.W_OK):
            raise ValueError(f"results database is not writable: {self.path}")
        try:
            if readonly:
                self._open_ro()
                self._check_tables()
            else:
                self._open_rw()
        except sqlite3.DatabaseError as exc:
            self._close_quietly()
            raise ValueError(f"{self.path} is not a usable mhzoo results database ({exc})"
                             ) from None
        except BaseException:
            self._close_quietly()
            raise

    def _close_quietly(self) -> None:
        db = getattr(self, "_db", None)
        if db is not None:
            with contextlib.suppress(sqlite3.Error):
                db.close()
        if self._copy is not None:
            shutil.rmtree(self._copy, ignore_errors=True)
            self._copy = None

    def _open_ro(self) -> None:
        """Read-only connection that creates nothing beside the file (see the module doc)."""
        real = self.path.resolve()  # SQLite keeps -wal / -shm beside the file a link names
        present = {side for side in _SIDECARS if Path(f"{real}{side}").exists()}
        if not present:  # closed cleanly: every row is in the file itself
            self._db = self._connect(real, "immutable=1")
            return
        if {"-wal", "-shm"} <= present and "-journal" not in present:  # maybe a live writer
            try:
                self._db = self._connect(real, "mode=ro")
                self._db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
                return
            except sqlite3.OperationalError:  # cannot share its -shm (a read-only folder)
                self._close_quietly()
        # a dead writer's -wal / -journal (or one this process cannot share): read a copy,
        # which SQLite recovers in a folder of our own
        self._copy = Path(tempfile.mkdtemp(prefix="mhzoo-store-"))
        copy = self._copy / "store.sqlite"
        try:
            shutil.copyfile(real, copy)
            for side in present - {"-shm"}:
                with contextlib.suppress(FileNotFoundError):
                    shutil.copyfile(f"{real}{side}", f"{copy}{side}")
        except OSError as exc:
            raise ValueError(f"cannot read the results database {self.path}: "
                             f"{exc.strerror or exc}") from None
        self._db = self._connect(copy, "")

    @staticmethod
    def _connect(path: Path, query: str) -> sqlite3.Connection:
        uri = path.as_uri() + (f"?{query}" if query else "")
        return sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None)

    def _open_rw(self) -> None:
        self._db = sqlite3.connect(str(self.path), timeout=30, isolation_level=None)
        tables = self._tables()  # reads only: nothing is written before the checks pass
        if tables:
            self._check_tables(tables)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(  # tables and schema tag together: a kill leaves all or none
            f"BEGIN; {_SCHEMA} INSERT OR IGNORE INTO meta VALUES ('schema', "
            f"'{SCHEMA_VERSION}'); COMMIT;")

    def _tables(self) -> set[str]:
        """Names of the user tables (SQLite's own ``sqlite_*`` tables left out)."""
        return {r[0] for r in self._db.execute(
            "SELECT name FROM sqlite_master WHERE type='table'")
            if not str(r[0]).startswith("sqlite_")}

    def _check_tables(self, tables: set[str] | None = None) -> None:
        """Refuse (``ValueError``) a database that is not an mhzoo results database of this
        schema version; reads only."""
        tables = self._tables() if tables is None else tables
        if not {"latency", "meta"} <= tables:
            shown = ", ".join(sorted(tables)[:5]) + (" ..." if len(tables) > 5 else "")
            what = f"an SQLite database of something else (tables {shown})" if tables else (
                "an empty SQLite database")
            raise ValueError(f"{self.path} is {what}, not an mhzoo results database; give a "
                             "file written by `mhzoo bench` / `mhzoo search collect`"
                             + ("" if self.readonly else " or a new file name"))
        columns = {r[1] for r in self._db.execute("PRAGMA table_info(latency)")}
        if not columns >= _LATENCY_COLUMNS:
            missing = ", ".join(sorted(_LATENCY_COLUMNS - columns)[:4])
            raise ValueError(f"{self.path} has a 'latency' table of another layout (no column "
                             f"{missing}), not an mhzoo results database")
        row = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        if row is None and self._db.execute("SELECT COUNT(*) FROM meta").fetchone()[0] == 0:
            return  # tables made by an older mhzoo that died before tagging them: ours
        if row is None or row[0] != str(SCHEMA_VERSION):
            raise ValueError(f"{self.path}: results database schema "
                             f"{row[0] if row else 'unknown'}, this mhzoo reads schema "
                             f"{SCHEMA_VERSION}")

    # ---------------------------------------------------------------- context manager
    def __enter__(self) -> LatencyStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection (and drop the private copy a read-only open may have made)."""
        self._db.close()
        if self._copy is not None:
            shutil.rmtree(self._copy, ignore_errors=True)
            self._copy = None

    # ---------------------------------------------------------------- queries
    def has(self, arch_hash: str, width: float, target: str, machine: str) -> bool:
        """True when a finished row exists for this key."""
        return self._db.execute(
            "SELECT 1 FROM latency WHERE arch_hash=? AND width=? AND target=? AND machine=?",
            (arch_hash, float(width), target, machine)).fetchone() is not None

    def get(self, arch_hash: str, width: float, target: str, machine: str
            ) -> LatencyRecord | None:
        """The row for this key, or ``None``."""
        rows = list(self._select("WHERE arch_hash=? AND width=? AND target=? AND machine=?",
                                 (arch_hash, float(width), target, machine)))
        return rows[0] if rows else None

    def records(self, *, machine: str | None = None, targets: Iterable[str] | None = None,
                ) -> list[LatencyRecord]:
        """All rows (optionally of one machine / some targets), oldest first."""
        where, args = [], []
        if machine is not None:
            where.append("machine=?")
            args.append(machine)
        if targets is not None:
            ts = list(targets)
            where.append(f"target IN ({','.join('?' * len(ts))})")
            args.extend(ts)
        clause = ("WHERE " + " AND ".join(where)) if where else ""
        return list(self._select(clause + " ORDER BY created_at", tuple(args)))

    def machines(self) -> list[str]:
        """Machines that have rows."""
        return [r[0] for r in self._db.execute(
            "SELECT DISTINCT machine FROM latency ORDER BY machine")]

    def count(self) -> int:
        """Number of rows."""
        return int(self._db.execute("SELECT COUNT(*) FROM latency").fetchone()[0])

    def _select(self, clause: str, args: tuple) -> Iterator[LatencyRecord]:
        cols = ("arch_hash, width, target, machine, model, input_size, supported, median_ms, "
                "p10_ms, p90_ms, mean_ms, samples_ms, source, info, created_at")
        for r in self._db.execute(f"SELECT {cols} FROM latency {clause}", args):
            yield LatencyRecord(arch_hash=r[0], width=r[1], target=r[2], machine=r[3],
                                model=r[4], input_size=r[5], supported=bool(r[6]),
                                median_ms=r[7], p10_ms=r[8], p90_ms=r[9], mean_ms=r[10],
                                samples_ms=json.loads(r[11]), source=r[12],
                                info=json.loads(r[13]), created_at=r[14])

    # ---------------------------------------------------------------- writes
    def put(self, record: LatencyRecord, *, replace: bool = False) -> bool:
        """Store one finished measurement in its own transaction.

        Returns True when written; False when a row with the same key exists and ``replace``
        is False (the existing row is kept, so reruns never duplicate).
        """
        if record.supported and (record.median_ms is None or not record.median_ms > 0):
            raise ValueError(f"latency must be > 0 ms, got {record.median_ms!r}")
        verb = "INSERT OR REPLACE" if replace else "INSERT OR IGNORE"
        cur = self._db.execute(
            f"{verb} INTO latency (arch_hash, width, target, machine, model, input_size, "
            "supported, median_ms, p10_ms, p90_ms, mean_ms, n_samples, samples_ms, source, info,"
            " created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (record.arch_hash, float(record.width), record.target, record.machine, record.model,
             record.input_size, int(record.supported), record.median_ms, record.p10_ms,
             record.p90_ms, record.mean_ms, len(record.samples_ms),
             json.dumps([round(float(s), 6) for s in record.samples_ms]), record.source,
             json.dumps(record.info, sort_keys=True, default=str),
             record.created_at or time.time()))
        return cur.rowcount > 0

    def delete(self, arch_hash: str, width: float, target: str, machine: str) -> bool:
        """Remove one row (e.g. before re-measuring)."""
        cur = self._db.execute(
            "DELETE FROM latency WHERE arch_hash=? AND width=? AND target=? AND machine=?",
            (arch_hash, float(width), target, machine))
        return cur.rowcount > 0
