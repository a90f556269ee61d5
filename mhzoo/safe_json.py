"""Bounded JSON reading for files users hand to mhzoo (specs, checkpoint configs).

``json.loads`` on hostile text fails in ways that are not ``ValueError``: ``RecursionError`` on
deep nesting, ``OverflowError`` later when a 300-digit integer meets a float, ``inf`` from
``1e999``, ``NaN`` tokens, a multi-gigabyte read of ``/dev/zero``. These helpers turn every
such input into one ``ValueError`` line before the data is used.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

__all__ = ["MAX_JSON_BYTES", "MAX_JSON_DEPTH", "loads_bounded", "read_json_file"]

#: largest JSON text read (a checkpoint's config.json with 1001 label names is ~40 kB)
MAX_JSON_BYTES = 4 << 20
#: deepest nesting of arrays / objects (an mhzoo spec inside a config.json needs 4)
MAX_JSON_DEPTH = 32
_MAX_INT_DIGITS = 18  # every count mhzoo reads fits; larger integers are not exact as floats


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_INT_DIGITS:
        raise ValueError(f"integer of {len(text.lstrip('-'))} digits is too large")
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:30]} is too large for a float")
    return value


def _parse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid JSON number")


def _depth(data: Any, limit: int) -> int:
    """Nesting depth of ``data``, counting stops just past ``limit``."""
    best, stack = 0, [(data, 1)]
    while stack:
        obj, d = stack.pop()
        if isinstance(obj, dict | list):
            best = max(best, d)
            if best > limit:
                return best
            stack.extend((v, d + 1) for v in (obj.values() if isinstance(obj, dict) else obj))
    return best


def loads_bounded(text: str | bytes | bytearray, *, what: str = "JSON",
                  max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` with bounds: size, nesting depth, integer digits, finite numbers only.

    Args:
        text: JSON text (bytes are decoded as UTF-8/16/32 the way ``json.loads`` does).
        what: how the text is named in error messages, e.g. ``"spec JSON in a.json"``.
        max_bytes: largest accepted text.
        max_depth: deepest accepted nesting of arrays and objects.

    Raises:
        ValueError: one line naming ``what`` and the reason.
    """
    if not isinstance(text, str | bytes | bytearray):
        raise ValueError(f"{what} must be text, got {type(text).__name__}")
    if len(text) > max_bytes:
        raise ValueError(f"{what} is too large ({len(text):,} bytes; at most {max_bytes:,})")
    try:
        data = json.loads(text, parse_int=_parse_int, parse_float=_parse_float,
                          parse_constant=_parse_constant)
    except RecursionError:
        raise ValueError(f"malformed {what}: nested too deeply (at most {max_depth} levels)"
                         ) from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, the parse hooks
        msg = " ".join(str(exc).split())
        raise ValueError(f"malformed {what}: {msg[:200]}") from None
    if _depth(data, max_depth) > max_depth:
        raise ValueError(f"malformed {what}: nested too deeply (at most {max_depth} levels)")
    return data


def read_json_file(path: str | os.PathLike, *, what: str | None = None,
                   file_label: str | None = None, expected: str = "JSON",
                   max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Read and parse a JSON file with :func:`loads_bounded`'s bounds.

    Only regular files are read (a FIFO or ``/dev/zero`` is refused), and never more than
    ``max_bytes + 1`` bytes. ``what`` names the content in parse errors (default ``"JSON file
    PATH"``), ``file_label`` the file in read errors (default: ``what``), ``expected`` what a
    non-text file should have been.

    Raises:
        ValueError: missing, unreadable, not a regular file, too large, not UTF-8 or malformed.
    """
    p = Path(path)
    label = what or f"JSON file {p}"
    file_label = file_label or label
    try:
        if not p.is_file():
            raise ValueError(f"{file_label}: not found or not a regular file")
        with open(p, "rb") as fh:
            raw = fh.read(max_bytes + 1)
    except OSError as exc:
        raise ValueError(f"cannot read {file_label}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{file_label} is not UTF-8 text (expected {expected})") from None
    return loads_bounded(text, what=label, max_bytes=max_bytes, max_depth=max_depth)
