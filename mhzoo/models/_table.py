"""Helper that turns a readable table of block strings into blocks."""

from __future__ import annotations

from mhzoo.spec import Block, parse_block


def table(*rows: str) -> tuple[Block, ...]:
    """Decode block strings (see :func:`mhzoo.spec.parse_block`), one per row."""
    return tuple(parse_block(r) for r in rows)
