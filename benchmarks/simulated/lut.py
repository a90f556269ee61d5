"""Lookup tables of layer cycles per simulated target: shipped, cached, checked.

A table maps :attr:`SimLayer.key <mhzoo.benchmarks.simulated.layers.SimLayer.key>` to ZigZag
cycles. It belongs to exactly one ZigZag version and one content of the target's files (the
hardware YAML, the mapping YAML and the cycle-relevant fields of ``target.json``: precision and
engine settings), both recorded in its header; a table whose header does not match the
installed ZigZag or the files on disk is refused with a one-line error (never used silently):
rebuild it (``python -m mhzoo.benchmarks.simulated.build_lut``; the shipped tables:
``benchmarks/perf/sim_tables.py``) or delete it.

Two tables serve a target: the one shipped in the target's folder (``lut.json``: the
``multi_hardware`` space's layers and the zoo's models) and the user's cache
(``<mhzoo cache>/simulated/<target>-<hash>.json``), where layers missing from both are
computed with ZigZag on demand and added, written atomically.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from mhzoo.atomic import atomic_write_text

__all__ = ["FORMAT", "LookupTable", "StaleTableError"]

FORMAT = "mhzoo-sim-lut/1"


class StaleTableError(ValueError):
    """A lookup table made with another ZigZag version or other target files."""


class LookupTable:
    """Layer key -> cycles for one target, with the header that says what made them."""

    def __init__(self, path: Path, header: dict[str, Any], entries: dict[str, int] | None = None
                 ) -> None:
        self.path = Path(path)
        self.header = dict(header)
        self.entries: dict[str, int] = dict(entries or {})
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- reading
    @classmethod
    def load(cls, path: Path, expected: dict[str, Any]) -> LookupTable:
        """Read ``path`` and check its header against ``expected`` (target name, ZigZag
        version, target-files hash); :class:`StaleTableError` when they differ, ``ValueError``
        when the file is not a table."""
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"cannot read lookup table {path}: {exc}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT \
                or not isinstance(data.get("entries"), dict) \
                or not isinstance(data.get("header"), dict):
            raise ValueError(f"{path} is not an mhzoo simulator lookup table ({FORMAT})")
        header = data["header"]
        for field, what in (("target", "target"), ("zigzag_version", "ZigZag version"),
                            ("target_sha256", "target files")):
            if header.get(field) != expected[field]:
                have, want = header.get(field), expected[field]
                if field == "target_sha256":
                    have, want = f"sha256 {str(have)[:12]}", f"sha256 {str(want)[:12]}"
                raise StaleTableError(
                    f"lookup table {path} was made for {what} {have}, not {want} (installed / "
                    f"on disk); refusing it: rebuild it with `python -m "
                    f"mhzoo.benchmarks.simulated.build_lut --target {expected['target']} --zoo "
                    "--rebuild` (benchmarks/perf/sim_tables.py for the shipped tables) or "
                    "delete it")
        entries = data["entries"]
        for k, v in entries.items():
            if not isinstance(k, str) or isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"{path}: bad entry {k!r}: {v!r}")
        return cls(path, header, entries)

    # ---------------------------------------------------------------- writing
    def save(self) -> Path:
        """Write the table atomically (sorted keys: stable diffs)."""
        with self._lock:
            body = {"format": FORMAT, "header": self.header,
                    "entries": dict(sorted(self.entries.items()))}
            text = json.dumps(body, indent=0, separators=(",", ":"))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return atomic_write_text(self.path, text + "\n")

    def get(self, key: str) -> int | None:
        """Cycles of ``key`` or ``None``."""
        return self.entries.get(key)

    def put(self, key: str, cycles: int) -> None:
        """Add one entry (in memory; :meth:`save` writes)."""
        with self._lock:
            self.entries[key] = int(cycles)

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, key: object) -> bool:
        return key in self.entries


def cache_table_path(cache_root: Path, target: str, sha: str) -> Path:
    """Where the on-demand cache of ``target`` lives (named by the target-files hash, so
    editing the files starts a new cache)."""
    return Path(cache_root) / "simulated" / f"{target}-{sha[:16]}.json"


def env_cache_root() -> Path:
    """mhzoo's cache folder (``$MHZOO_HOME``)."""
    from mhzoo.names import cache_dir

    return cache_dir()


def writable(path: Path) -> bool:
    """True when ``path`` (or its first existing parent) can be written."""
    p = Path(path)
    while not p.exists():
        p = p.parent
    return os.access(p, os.W_OK)
