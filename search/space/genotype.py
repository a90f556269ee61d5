"""Genotypes: one choice index per decision of a space, with the space name and options.

Two forms, one value: JSON (``{"format": "mhzoo.genotype", "space", "options", "indices"}``,
optionally with the decoded ``"spec"`` so the core reads the file as a spec) and the compact
TuNAS-style string ``space;key=value:i:i:...``. Pure Python.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mhzoo.atomic import atomic_write_text
from mhzoo.safe_json import loads_bounded
from mhzoo.spec import ArchSpec

__all__ = ["GENOTYPE_FORMAT", "Genotype", "plain_options"]

GENOTYPE_FORMAT = "mhzoo.genotype"
_BAD_CHARS = set(":;=,\n ")


def _check_option_value(key: str, value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_check_option_value(key, v) for v in value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise ValueError(f"genotype option {key!r} must be a number, string, boolean, null or list, "
                     f"got {value!r}")


def _fmt_value(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(_fmt_value(v) for v in value) + ("," if len(value) == 1 else "")
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    text = str(value)
    if not text or _BAD_CHARS & set(text):
        raise ValueError(f"option value {text!r} cannot be written in a genotype string")
    return text


def _parse_scalar(text: str) -> Any:
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low == "none":
        return None
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return text


def _parse_value(text: str) -> Any:
    if "," in text:
        return tuple(_parse_scalar(t) for t in text.split(",") if t != "")
    return _parse_scalar(text)


@dataclass(frozen=True)
class Genotype:
    """One index per decision of a space, with the space name and options.

    The compact string is the TuNAS colon-separated ``indices`` behind a header that names the
    space and its options: ``multi_hardware;input_size=96;width=1.0:0:2:5:...``.
    """

    space: str
    indices: tuple[int, ...]
    options: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.space, str) or not self.space or _BAD_CHARS & set(self.space):
            raise ValueError(f"genotype space must be a plain name, got {self.space!r}")
        if isinstance(self.indices, str | bytes) or not isinstance(self.indices, Iterable):
            raise ValueError(f"genotype indices must be a list of integers, got "
                             f"{self.indices!r}")
        idx = tuple(self.indices)
        for i in idx:
            if isinstance(i, bool) or not isinstance(i, int):
                raise ValueError(f"genotype indices must be integers, got {i!r}")
        object.__setattr__(self, "indices", idx)
        opts = dict(self.options) if not isinstance(self.options, Mapping) else self.options
        object.__setattr__(self, "options", tuple(sorted(
            (str(k), _check_option_value(k, v)) for k, v in opts.items())))

    @property
    def meta(self) -> dict[str, Any]:
        """The options as a dict (input size, stride plan, width, ...)."""
        return dict(self.options)

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        """Plain-data form."""
        opts = plain_options(self.options)
        return {"format": GENOTYPE_FORMAT, "space": self.space, "options": opts,
                "indices": list(self.indices)}

    @classmethod
    def from_dict(cls, data: Any) -> Genotype:
        """Inverse of :meth:`to_dict`; ``ValueError`` on malformed data."""
        if not isinstance(data, dict) or "space" not in data or "indices" not in data:
            raise ValueError("genotype JSON must be an object with 'space' and 'indices'")
        # "spec": the decoded ArchSpec that save() adds for the core (ignored here)
        unknown = sorted(set(data) - {"format", "space", "options", "indices", "spec"})
        if unknown:
            raise ValueError(f"unknown genotype field(s): {', '.join(unknown)}")
        if data.get("format", GENOTYPE_FORMAT) != GENOTYPE_FORMAT:
            raise ValueError(f"not a genotype: format {data.get('format')!r}")
        options = data.get("options", {})
        if not isinstance(options, dict):
            raise ValueError("genotype 'options' must be an object")
        if not isinstance(data["indices"], list):
            raise ValueError("genotype 'indices' must be a list of integers")
        return cls(data["space"], tuple(data["indices"]), tuple(options.items()))

    def to_json(self, indent: int | None = 1) -> str:
        """JSON text."""
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_json(cls, text: str) -> Genotype:
        """Parse :meth:`to_json` output."""
        return cls.from_dict(loads_bounded(text, what="genotype JSON"))

    # ------------------------------------------------------------------ compact string
    def to_string(self) -> str:
        """``space;key=value;...:i:i:i`` (options sorted by key)."""
        head = ";".join([self.space] + [f"{k}={_fmt_value(v)}" for k, v in self.options])
        return ":".join([head] + [str(i) for i in self.indices])

    @classmethod
    def from_string(cls, text: str) -> Genotype:
        """Parse :meth:`to_string` output."""
        if not isinstance(text, str) or ":" not in text:
            raise ValueError(f"genotype string must look like 'space[;k=v]:i:i:...', got "
                             f"{text!r:.60}")
        head, *rest = text.strip().split(":")
        name, *opts = head.split(";")
        options = []
        for opt in opts:
            key, sep, val = opt.partition("=")
            if not sep or not key:
                raise ValueError(f"malformed genotype option {opt!r} (expected key=value)")
            options.append((key, _parse_value(val)))
        try:
            indices = tuple(int(t) for t in rest)
        except ValueError:
            raise ValueError(f"genotype indices must be integers: {':'.join(rest)!r:.60}"
                             ) from None
        return cls(name, indices, tuple(options))

    def __str__(self) -> str:
        return self.to_string()

    # ------------------------------------------------------------------ files
    def save(self, path: str | Path, *, spec: ArchSpec | None = None) -> Path:
        """Write the JSON form atomically.

        With ``spec`` (the decoded ``ArchSpec``) it is stored too, under ``"spec"``, so the core
        reads the file as a spec: ``mhzoo.build("g.json")``, ``mhzoo info/export/bench g.json``
        work without importing :mod:`mhzoo.search`. :func:`mhzoo.search.save_genotype`
        decodes and stores it for you.
        """
        data = self.to_dict()
        if spec is not None:
            data["spec"] = spec.to_dict()
        return atomic_write_text(path, json.dumps(data, indent=1) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> Genotype:
        """Read a genotype file: JSON, or one compact string."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"cannot read genotype file {p}: {exc}") from None
        try:
            return cls.from_json(text) if text.lstrip().startswith("{") else \
                cls.from_string(text.strip())
        except ValueError as exc:
            raise ValueError(f"{p}: {exc}") from None




def plain_options(options: Any) -> dict[str, Any]:
    """Space / genotype options (a mapping or ``(key, value)`` pairs) as plain, comparable data:
    tuples become lists, so a genotype's options equal its space's whatever their source."""
    items = options.items() if hasattr(options, "items") else options
    return {k: list(v) if isinstance(v, tuple) else v for k, v in items}
