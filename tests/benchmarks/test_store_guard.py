"""`bench --db` on somebody else's SQLite file: refused, and the file is left as it was."""

from __future__ import annotations

import sqlite3

import pytest

from mhzoo.benchmarks.store import LatencyStore


def _tables(db):
    with sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True) as con:
        names = {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
    con.close()
    return names


def test_unrelated_database_gets_no_tables(tmp_path):
    db = tmp_path / "other.sqlite"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE t (x)")
    con.close()
    with pytest.raises(ValueError, match="something else"):
        LatencyStore(db)
    assert _tables(db) == {"t"}
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] != "wal"
    con.close()
    with LatencyStore(tmp_path / "new.sqlite") as store:  # a new file is fine
        assert store.count() == 0
    with LatencyStore(tmp_path / "new.sqlite") as store:  # and reopens
        assert store.count() == 0


def test_empty_sqlite_file_becomes_a_results_database(tmp_path):
    db = tmp_path / "empty.sqlite"
    sqlite3.connect(db).close()  # a database without tables
    with LatencyStore(db) as store:
        assert store.count() == 0
    assert {"latency", "meta"} <= _tables(db)
