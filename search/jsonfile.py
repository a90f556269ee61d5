"""The one reader of the search side's JSON files: bounded, format-tagged, one-line errors.

Every file the search side writes carries a ``"format"`` tag (cost models, reference latencies,
genotypes, ``search_result.json``, run records). :func:`read_tagged_json` reads such a file
through :func:`mhzoo.safe_json.read_json_file` (size and depth bounds, no ``NaN`` / ``Infinity``,
regular files only) and checks that it is an object with the expected tag, so every caller
raises the same one-line ``ValueError`` ("cannot read ...", "... is not an mhzoo cost model").
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mhzoo.safe_json import MAX_JSON_BYTES, loads_bounded, read_json_file

__all__ = ["check_tagged", "parse_tagged_json", "read_json", "read_tagged_json"]

#: large files the search side reads (a lookup-table cost model, a long search's history)
MAX_BYTES = 8 * MAX_JSON_BYTES


def read_json(path: str | os.PathLike, what: str, *, missing_ok: bool = False) -> Any:
    """Parsed JSON of ``path`` (``None`` when it is absent and ``missing_ok``); ``ValueError``
    naming ``what`` and the file otherwise."""
    p = Path(path)
    if missing_ok and not p.exists():
        return None
    if not p.exists():
        raise ValueError(f"{what} not found: {p}")
    return read_json_file(p, what=f"{what} {p}", file_label=f"{what} {p}",
                          expected="JSON", max_bytes=MAX_BYTES)


def check_tagged(data: Any, fmt: str | tuple[str, ...], what: str, where: str) -> dict[str, Any]:
    """``data`` when it is a JSON object whose ``"format"`` is ``fmt`` (or one of them)."""
    formats = (fmt,) if isinstance(fmt, str) else fmt
    if not isinstance(data, dict) or data.get("format") not in formats:
        raise ValueError(f"{where} is not an mhzoo {what} (no format {formats[0]!r})")
    return data


def read_tagged_json(path: str | os.PathLike, fmt: str | tuple[str, ...], what: str, *,
                     missing_ok: bool = False) -> dict[str, Any] | None:
    """Read a format-tagged JSON file: the object, or ``None`` when absent and ``missing_ok``.

    Raises:
        ValueError: unreadable, malformed (``NaN`` and ``Infinity`` included), not an object or
            of another format; one line naming ``what`` and the file.
    """
    data = read_json(path, what, missing_ok=missing_ok)
    if data is None:
        return None
    return check_tagged(data, fmt, what, str(path))


def parse_tagged_json(text: str, fmt: str | tuple[str, ...], what: str, where: str
                      ) -> dict[str, Any]:
    """:func:`read_tagged_json` for text already read."""
    return check_tagged(loads_bounded(text, what=f"{what} {where}", max_bytes=MAX_BYTES), fmt,
                        what, where)
