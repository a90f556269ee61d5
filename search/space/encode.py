"""Encoding: the genotype of a concrete ``ArchSpec`` in a space (a depth-first search over the
slots' choices, memoized per slot, cursor and width assignment). Pure Python."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from mhzoo.spec import ArchSpec, Block, Conv, DepthwiseSeparable, InvertedBottleneck
from mhzoo.widths import scale_spec

__all__ = ["encode_spec"]


def _normalise(blocks: Sequence[Block], in_channels: int = 3) -> list[Block]:
    """Blocks without endpoint flags, with ``residual`` set where it cannot apply."""
    out = []
    c = in_channels
    for b in blocks:
        if isinstance(b, InvertedBottleneck):
            if not (b.stride == 1 and c == b.filters):
                b = replace(b, residual=True)
            b = replace(b, endpoint=False, expansion=1.0)
        elif isinstance(b, Conv | DepthwiseSeparable):
            b = replace(b, endpoint=False)
        out.append(b)
        c = getattr(b, "filters", c)
    return out



def encode_spec(space: Any, spec: ArchSpec) -> Any:
    """The genotype of ``space`` whose decoding equals ``spec`` block for block (see
    :meth:`mhzoo.search.space.base.Space.encode`)."""
    if not isinstance(spec, ArchSpec):
        raise ValueError(f"encode needs an ArchSpec, got {type(spec).__name__}")
    target = _normalise(scale_spec(spec, 1.0).blocks)
    n = len(space.decisions)
    assign: list[int | None] = [None] * n
    failed: set[tuple[int, int, tuple[int | None, ...]]] = set()
    # the decisions that fix a tensor width between slots (the memo key of ``rec``): read from
    # the slots, not from the tags (expansions are tagged "filters" too, as in TuNAS, but are
    # internal to their slot)
    width_dec = sorted({d for s in space.slots for d in (s.in_width, s.out_width)
                        if d is not None})
    best = [-1, ""]

    def enum(slot: Any, refs: list[int], k: int, si: int, cursor: int) -> bool:
        if k == len(refs):
            idx = [a if a is not None else 0 for a in assign]
            blk = slot.emit(idx)
            if blk is None:
                return rec(si + 1, cursor)
            if cursor < len(target) and _normalise([blk], _cin(cursor))[0] == target[cursor]:
                return rec(si + 1, cursor + 1)
            if cursor > best[0] or (cursor == best[0] and not best[1]):
                best[0], best[1] = cursor, slot.name
            return False
        d = refs[k]
        if assign[d] is not None:
            return enum(slot, refs, k + 1, si, cursor)
        dec = space.decisions[d]
        par = dec.parent
        if par is not None and assign[par] is not None and \
                assign[par] not in dec.parent_choices:
            assign[d] = 0  # inactive: any index decodes the same
            if enum(slot, refs, k + 1, si, cursor):
                return True
            assign[d] = None
            return False
        for c in range(dec.size):
            assign[d] = c
            if enum(slot, refs, k + 1, si, cursor):
                return True
        assign[d] = None
        return False

    def _cin(cursor: int) -> int:
        for b in reversed(target[:cursor]):
            if hasattr(b, "filters"):
                return b.filters
        return 3

    def rec(si: int, cursor: int) -> bool:
        if si == len(space.slots):
            if cursor == len(target):
                return True
            if cursor > best[0]:
                best[0], best[1] = cursor, ""
            return False
        key = (si, cursor, tuple(assign[d] for d in width_dec))
        if key in failed:
            return False
        slot = space.slots[si]
        if enum(slot, list(slot.refs), 0, si, cursor):
            return True
        failed.add(key)
        return False

    if not rec(0, 0):
        pos, where = best
        if pos >= len(target):
            raise ValueError(f"spec {spec.name!r} ends after block {len(target) - 1}; space "
                             f"{space.name} needs more blocks ({where or 'a block'})")
        reason = f" (no choice of {where} gives it)" if where else \
            " (more blocks than the space has)"
        raise ValueError(f"block {pos} {spec.blocks[pos].to_string()!r} of spec "
                         f"{spec.name!r} is not in space {space.name}{reason}")
    return space.genotype([a if a is not None else 0 for a in assign])
