"""What the search-side commands share: the ``-O KEY=VALUE`` space options, opening a space, and
reading genotype files (kept apart from the group in :mod:`mhzoo.search.cli`, so that the
subcommand modules need not import the group that registers them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from mhzoo.search.jsonfile import read_json
from mhzoo.search.space import Genotype, get_space

__all__ = ["OPTION", "open_space", "parse_option_value", "read_genotypes", "space_options"]

#: the repeatable ``--option / -O KEY=VALUE`` of every command that opens a space
OPTION = click.option("--option", "-O", "options", multiple=True, metavar="KEY=VALUE",
                      help="Space option (repeatable), e.g. -O width=0.75 -O strides=1,1,2,2,1.")


def parse_option_value(text: str) -> Any:
    """One option value: JSON if it parses (lists become tuples), else a comma-separated tuple
    (each item parsed the same way, empty items dropped), else the text itself."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        if "," in text:
            return tuple(parse_option_value(t) for t in text.split(",") if t)
        return text
    return tuple(value) if isinstance(value, list) else value


def space_options(options: tuple[str, ...], input_size: int | None = None) -> dict[str, Any]:
    """``("key=value", ...)`` to keyword arguments for a space; ``input_size``, when given, is
    added as ``input_size``. Raises ``ValueError`` for an item without ``=`` or without a key."""
    out: dict[str, Any] = {}
    for item in options:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"space option must look like key=value, got {item!r}")
        out[key.strip()] = parse_option_value(value.strip())
    if input_size is not None:
        out["input_size"] = input_size
    return out


def open_space(name: str, options: tuple[str, ...] = (), input_size: int | None = None) -> Any:
    """The registered space ``name`` built with the parsed ``options`` (see
    :func:`space_options`)."""
    return get_space(name, **space_options(options, input_size))


def read_genotypes(path: str | Path, space: Any) -> list[Any]:
    """Genotypes of a file: one compact string per line (``#`` comments), a JSON genotype, or a
    JSON list of genotypes / strings; each is checked against ``space``."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read genotype file {p}: {exc}") from None
    items: list[Any]
    if text.lstrip().startswith(("{", "[")):
        data = read_json(p, "genotype file")
        items = data if isinstance(data, list) else [data]
    else:
        items = [ln.strip() for ln in text.splitlines()
                 if ln.strip() and not ln.lstrip().startswith("#")]
    out = []
    for j, item in enumerate(items):
        try:
            g = Genotype.from_string(item) if isinstance(item, str) else Genotype.from_dict(item)
            if g.space != space.name:
                raise ValueError(f"genotype is of space {g.space!r}, not {space.name!r}")
            space.active(g)  # checks the length, every index and the structural options
            out.append(g)
        except ValueError as exc:
            raise ValueError(f"{p}: genotype {j + 1}: {exc}") from None
    if not out:
        raise ValueError(f"{p} holds no genotypes")
    return out
