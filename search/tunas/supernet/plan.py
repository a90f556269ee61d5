"""The supernet's plan of a space: per slot, its weight families, branches and mask tables.

Pure Python / numpy (no TensorFlow). For every slot the plan enumerates the *entries*: every
assignment of the slot's op decisions (inactive ones left out: a *leaf*) times every assignment
of its width decisions (input and output width). Each entry emits one concrete block (or none:
a skipped layer), and the block fixes

* its **branch**, the weights it runs on: a family (``ib`` regular, ``fused``, ``conv``,
  ``ds``; grouped and expand-less variants apart) and, inside it, the kernel size and SE flag.
  Weights that do not depend on the kernel are shared by the family (TuNAS collapsed ops: the
  1x1 expand and project convs of a regular IB, the SE block); the kernel-sized ones are
  separate per kernel (TuNAS: no kernel slicing);
* its **widths**: every width is a prefix of the family's widest weights (TuNAS masking).

At run time (see :mod:`mhzoo.search.tunas.supernet.model`) the weight of an entry is the product of
the mask values of its choices; a branch runs when its entries' total weight is > 0, with
channel masks ``sum_e (weight_e / W_branch) * prefix(width_e)``. One-hot masks select exactly
one entry, so exactly that architecture's widths; fractional (op warm-up) masks give the
weighted sum of the branches.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mhzoo.spec import Block, Conv, DepthwiseSeparable, GlobalPool, InvertedBottleneck
from mhzoo.widths import se_filters

__all__ = ["BranchPlan", "ChannelState", "SlotPlan", "SupernetPlan", "block_branch",
           "plan_space"]


@dataclass(frozen=True)
class ChannelState:
    """The width of a tensor: fixed (``decision is None``, one width) or chosen by a decision."""

    decision: int | None
    widths: tuple[int, ...]

    @property
    def max(self) -> int:
        return max(self.widths)

    def width(self, choice: int | None) -> int:
        return self.widths[0] if self.decision is None else self.widths[choice]


def block_branch(block: Block | None) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """``(family key, branch key)`` of a concrete block (``None``: the identity)."""
    if block is None:
        return ("skip",), ("skip",)
    if isinstance(block, GlobalPool):
        return ("pool",), ("pool",)
    if isinstance(block, Conv):
        fam = ("conv", block.stride, block.activation, block.batch_norm, block.bias)
        return fam, (*fam, block.kernel)
    if isinstance(block, DepthwiseSeparable):
        fam = ("ds", block.stride, block.activation)
        return fam, (*fam, block.kernel)
    if isinstance(block, InvertedBottleneck):
        if block.expansion_filters is None and block.expansion > 1:
            raise ValueError(f"block {block.to_string()!r} is not concrete (expansion ratio "
                             "without an absolute width)")
        fam = ("fused" if block.fused else "ib", block.stride, block.activation, block.groups,
               block.expansion_filters is not None)
        return fam, (*fam, block.kernel, block.se_ratio)
    raise ValueError(f"the supernet cannot build block {block!r}")


@dataclass
class BranchPlan:
    """One branch of a slot: the entries that run on the same weights.

    ``rows`` are ``(leaf, width assignment)`` entry indices; the tables give, per row, the
    expanded width (prefix mask over ``family.inner_max``), the SE squeeze width and whether
    the residual add applies.
    """

    key: tuple[Any, ...]
    family: int
    kind: str
    kernel: int | None
    se_ratio: float | None
    leaf_rows: np.ndarray  # int32 [rows]: leaf index of each row
    width_rows: np.ndarray  # int32 [rows]: width-assignment index of each row
    inner: np.ndarray  # int [rows]: expanded width (IB / DS: inner width)
    squeeze: np.ndarray  # int [rows]: SE squeeze width (0: no SE)
    residual: np.ndarray  # float32 [rows]: 1 where the residual add applies
    blocks: list[Block | None] = field(default_factory=list)


@dataclass
class FamilyPlan:
    """Weights shared by branches: kind, widths at the maximum, kernels that need their own."""

    name: str
    key: tuple[Any, ...]
    kind: str
    stride: int
    activation: str
    groups: int = 1
    has_expand: bool = False
    batch_norm: bool = True
    bias: bool = False
    kernels: list[int] = field(default_factory=list)
    inner_max: int = 0
    squeeze_max: int = 0
    se: bool = False


@dataclass
class SlotPlan:
    """One slot: its input / output channel states, leaves, width decisions and branches."""

    index: int
    name: str
    in_state: ChannelState
    out_state: ChannelState
    stride: int
    ops: tuple[int, ...]
    leaves: list[dict[int, int | None]]
    leaf_index: np.ndarray  # int32 [leaves, max(1, len(ops))]: flat mask index (pad = total)
    width_decisions: tuple[int, ...]
    width_sizes: tuple[int, ...]
    families: list[FamilyPlan]
    branches: list[BranchPlan]
    lookup: dict[tuple[int, int], tuple[int, int]]  # (leaf, width idx) -> (branch, row)

    @property
    def cin_max(self) -> int:
        return self.in_state.max

    @property
    def cout_max(self) -> int:
        return self.out_state.max

    def entry(self, indices: Sequence[int]) -> tuple[int, int, int]:
        """``(leaf, width assignment, branch)`` of a genotype's indices."""
        leaf = self.leaf_of(indices)
        w = 0
        for d, n in zip(self.width_decisions, self.width_sizes):
            w = w * n + int(indices[d])
        return leaf, w, self.lookup[(leaf, w)][0]

    def leaf_of(self, indices: Sequence[int]) -> int:
        for k, leaf in enumerate(self.leaves):
            if all(c is None or int(indices[d]) == c for d, c in leaf.items()):
                return k
        raise ValueError(f"slot {self.name}: no leaf matches the genotype")


@dataclass
class SupernetPlan:
    """The plan of a whole space (see module docstring)."""

    space_name: str
    sizes: tuple[int, ...]
    offsets: tuple[int, ...]
    slots: list[SlotPlan]
    pooled: bool
    last_state: ChannelState
    spec_fields: dict[str, Any]

    @property
    def total(self) -> int:
        """Length of the flat mask vector (without the trailing pad entry)."""
        return self.offsets[-1]


def _leaves(space: Any, ops: Sequence[int]) -> list[dict[int, int | None]]:
    own = set(ops)
    out: list[dict[int, int | None]] = []

    def rec(k: int, assign: dict[int, int | None]) -> None:
        if k == len(ops):
            out.append(dict(assign))
            return
        d = ops[k]
        dec = space.decisions[d]
        par = dec.parent
        if par in own and (assign[par] is None or assign[par] not in dec.parent_choices):
            assign[d] = None
            rec(k + 1, assign)
        else:
            for c in range(dec.size):
                assign[d] = c
                rec(k + 1, assign)
        del assign[d]

    rec(0, {})
    return out


def _family_name(key: tuple[Any, ...], used: set[str]) -> str:
    base = key[0]
    if key[0] in ("ib", "fused"):
        if key[3] > 1:
            base += f"_g{key[3]}"
        if not key[4]:
            base += "_noexp"
    name, n = base, 1
    while name in used:
        n += 1
        name = f"{base}{n}"
    used.add(name)
    return name


def _plan_slot(space: Any, si: int, slot: Any, state: ChannelState, offsets: Sequence[int],
               total: int) -> SlotPlan:
    if slot.in_width is not None and slot.in_width != state.decision:
        raise ValueError(f"slot {slot.name}: it reads input width decision {slot.in_width}, but "
                         f"its input width is set by decision {state.decision}")
    ops = tuple(slot.ops)
    leaves = _leaves(space, ops)
    # the input width is the running state's decision (a slot may leave it out: e.g. a pool)
    wdec = tuple(dict.fromkeys(d for d in (state.decision, slot.out_width) if d is not None))
    wsizes = tuple(space.decisions[d].size for d in wdec)
    wassign = list(itertools.product(*[range(n) for n in wsizes]))
    leaf_index = np.full((len(leaves), max(1, len(ops))), total, dtype=np.int32)
    for k, leaf in enumerate(leaves):
        for j, d in enumerate(ops):
            if leaf[d] is not None:
                leaf_index[k, j] = offsets[d] + leaf[d]

    entries = []  # (leaf, w, block, cin)
    n = len(space.decisions)
    for k, leaf in enumerate(leaves):
        for w, wa in enumerate(wassign):
            idx = [0] * n
            for d, c in leaf.items():
                idx[d] = 0 if c is None else c
            for d, c in zip(wdec, wa):
                idx[d] = c
            cin = state.width(idx[state.decision] if state.decision is not None else None)
            entries.append((k, w, slot.emit(idx), cin, idx))

    # output channel state
    out_map: dict[int | None, int] = {}
    kinds = set()
    for _, _, b, _, idx in entries:
        if b is None or isinstance(b, GlobalPool):
            kinds.add("pass")
            continue
        kinds.add("real")
        key = None if slot.out_width is None else idx[slot.out_width]
        if out_map.setdefault(key, b.filters) != b.filters:
            raise ValueError(f"slot {slot.name}: its output width depends on more than its "
                             "output width decision")
    if "real" in kinds:
        if slot.out_width is None:
            out_state = ChannelState(None, (out_map[None],))
        else:
            size = space.decisions[slot.out_width].size
            out_state = ChannelState(slot.out_width, tuple(out_map[c] for c in range(size)))
        if "pass" in kinds and out_state != state:
            raise ValueError(f"slot {slot.name}: a skipped layer would change the width "
                             f"({state.widths} -> {out_state.widths})")
    else:
        out_state = state
    if any(isinstance(e[2], GlobalPool) for e in entries) and len(
            {block_branch(e[2])[1] for e in entries}) > 1:
        raise ValueError(f"slot {slot.name}: a pooling slot cannot have other choices")

    families: list[FamilyPlan] = []
    fam_index: dict[tuple[Any, ...], int] = {}
    branch_rows: dict[tuple[Any, ...], list[Any]] = {}
    used: set[str] = set()
    for e in entries:
        fkey, bkey = block_branch(e[2])
        if fkey not in fam_index:
            fam_index[fkey] = len(families)
            families.append(_new_family(fkey, _family_name(fkey, used)))
        branch_rows.setdefault(bkey, []).append(e)
    branches: list[BranchPlan] = []
    lookup: dict[tuple[int, int], tuple[int, int]] = {}
    for bkey, rows in branch_rows.items():
        fkey = block_branch(rows[0][2])[0]
        fam = families[fam_index[fkey]]
        inner, squeeze, resid = [], [], []
        for k, w, b, cin, _ in rows:
            i, s, r = _widths(b, cin)
            inner.append(i)
            squeeze.append(s)
            resid.append(r)
            lookup[(k, w)] = (len(branches), len(inner) - 1)
        fam.inner_max = max(fam.inner_max, *inner)
        fam.squeeze_max = max(fam.squeeze_max, *squeeze)
        kernel = getattr(rows[0][2], "kernel", None)
        if kernel is not None and kernel not in fam.kernels:
            fam.kernels.append(kernel)
        se_ratio = getattr(rows[0][2], "se_ratio", None)
        fam.se = fam.se or se_ratio is not None
        branches.append(BranchPlan(
            key=bkey, family=fam_index[fkey], kind=fam.kind, kernel=kernel, se_ratio=se_ratio,
            leaf_rows=np.array([r[0] for r in rows], np.int32),
            width_rows=np.array([r[1] for r in rows], np.int32),
            inner=np.array(inner), squeeze=np.array(squeeze),
            residual=np.array(resid, np.float32), blocks=[r[2] for r in rows]))
    for fi, fam in enumerate(families):
        inners = {int(x) for b_ in branches if b_.family == fi for x in b_.inner}
        if fam.groups > 1 and (state.decision is not None or out_state.decision is not None
                               or len(inners) > 1):
            raise ValueError(f"slot {slot.name}: grouped convolutions need fixed widths")
    stride = max((getattr(e[2], "stride", 1) for e in entries), default=1)
    return SlotPlan(si, slot.name, state, out_state, stride, ops, leaves, leaf_index, wdec,
                    wsizes, families, branches, lookup)


def _new_family(key: tuple[Any, ...], name: str) -> FamilyPlan:
    kind = key[0]
    if kind in ("skip", "pool"):
        return FamilyPlan(name, key, kind, 1, "relu")
    if kind == "conv":
        return FamilyPlan(name, key, kind, key[1], key[2], batch_norm=key[3], bias=key[4])
    if kind == "ds":
        return FamilyPlan(name, key, kind, key[1], key[2])
    return FamilyPlan(name, key, kind, key[1], key[2], groups=key[3], has_expand=key[4])


def _widths(b: Block | None, cin: int) -> tuple[int, int, float]:
    """(inner width, SE squeeze width, residual flag) of an entry's block."""
    if isinstance(b, InvertedBottleneck):
        inner = b.expansion_filters if b.expansion_filters is not None else cin
        sq = se_filters(inner, b.se_ratio) if b.se_ratio is not None else 0
        res = float(b.residual and b.stride == 1 and cin == b.filters)
        return inner, sq, res
    if isinstance(b, DepthwiseSeparable):
        return cin, 0, 0.0
    return 0, 0, 0.0


def plan_space(space: Any) -> SupernetPlan:
    """The :class:`SupernetPlan` of a search space (``ValueError`` if a slot cannot be shared)."""
    sizes = tuple(d.size for d in space.decisions)
    offsets = tuple(int(x) for x in np.concatenate([[0], np.cumsum(sizes)]))
    total = offsets[-1]
    state = ChannelState(None, (3,))
    slots = []
    pooled = False
    for si, slot in enumerate(space.slots):
        sp = _plan_slot(space, si, slot, state, offsets, total)
        pooled = pooled or any(b.kind == "pool" for b in sp.branches)
        slots.append(sp)
        state = sp.out_state
    sample = space.decode([0] * len(space.decisions))
    fields = {"bn_epsilon": sample.bn_epsilon, "padding": sample.padding,
              "se_gate": sample.se_gate}
    return SupernetPlan(space.name, sizes, offsets, slots, pooled, state, fields)
