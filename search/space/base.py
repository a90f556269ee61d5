"""Search spaces as data: decisions, slots and the :class:`Space` base class (decode, encode,
sample, activeness).

A space is a list of :class:`Decision` values (TuNAS ``OneOf``: a path, a tag ``"op"`` or
``"filters"``, the choices and, for hierarchical activeness, the parent decision and the parent
choices under which it matters) and a list of :class:`Slot` values, one per block position of
the network. A :class:`~mhzoo.search.space.genotype.Genotype` is one choice index per decision,
plus the space name and the space options (input size, stride plan, width, ...). Decoding a
genotype runs every slot in order; each slot emits one concrete :class:`mhzoo.spec.Block` or
nothing (a skipped layer). Everything here is pure Python: no TensorFlow, no numpy.

Cost-model structure (TuNAS ``coupled_tf_features``): every slot names the decision of its
input width, of its output width (``None`` when fixed) and its own op decisions;
:meth:`Space.layer_choices` returns them per slot for one genotype. The linear cost features
built from them live in :mod:`mhzoo.search.cost.features`.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from mhzoo.search.space.encode import encode_spec
from mhzoo.search.space.genotype import Genotype
from mhzoo.spec import ArchSpec, Block

__all__ = ["TAGS", "Decision", "LayerChoice", "Slot", "Space"]

#: decision tags (TuNAS ``OP_TAG`` / ``FILTERS_TAG``)
TAGS = ("op", "filters")


@dataclass(frozen=True)
class Decision:
    """One categorical choice of a space (TuNAS ``OneOf``).

    Attributes:
        path: where it sits, e.g. ``"stage2/layer1/kernel"``.
        tag: ``"op"`` (operation, kernel, SE, skip) or ``"filters"`` (a width or an expansion
            width, TuNAS ``FILTERS_TAG``: filter warm-up forces its widest choice).
        choices: the values, in index order.
        parent: index of the decision this one hangs under (``None``: always active).
        parent_choices: indices of the parent's choices under which this decision is active.
    """

    path: str
    tag: str
    choices: tuple[Any, ...]
    parent: int | None = None
    parent_choices: tuple[int, ...] = ()

    @property
    def size(self) -> int:
        """Number of choices."""
        return len(self.choices)


@dataclass(frozen=True)
class LayerChoice:
    """The choices one slot depends on, for one genotype (see :meth:`Space.layer_choices`).

    ``in_width`` / ``out_width`` are ``(decision index, choice index)`` or ``None`` when that
    width is fixed; ``ops`` is ``(decision index, choice index or None when inactive)`` for each
    op decision of the slot, parents first.
    """

    name: str
    in_width: tuple[int, int] | None
    out_width: tuple[int, int] | None
    ops: tuple[tuple[int, int | None], ...]


@dataclass(frozen=True)
class Slot:
    """One block position: its decisions and how it turns choice indices into a block.

    ``emit(indices)`` returns a concrete block (endpoint flag unset) or ``None`` (skipped).
    ``role`` is ``"stem"``, ``"body"`` or ``"head"`` (endpoints are flagged on body blocks).
    """

    name: str
    role: str
    in_width: int | None
    out_width: int | None
    ops: tuple[int, ...]
    emit: Callable[[Sequence[int]], Block | None] = field(compare=False, repr=False)

    @property
    def refs(self) -> tuple[int, ...]:
        """Every decision this slot reads, in enumeration order (widths, then ops)."""
        out = [d for d in (self.in_width, self.out_width) if d is not None]
        return tuple(dict.fromkeys(out + list(self.ops)))


class Space:
    """Base class of every search space; subclasses declare decisions and slots in ``_build``.

    Subclasses set ``name``, ``summary``, ``DEFAULTS`` (the options and their defaults) and
    ``STRUCTURAL`` (options that change the decisions: a genotype decodes only in a space whose
    structural options are equal). Other options (input size, stride plan, width) may differ:
    the same genotype decodes to the proxy and to the deployment network (``variant``).
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    DEFAULTS: ClassVar[dict[str, Any]] = {}
    STRUCTURAL: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **options: Any) -> None:
        unknown = sorted(set(options) - set(self.DEFAULTS))
        if unknown:
            raise ValueError(f"unknown option(s) {', '.join(unknown)} for space {self.name!r}; "
                             f"expected some of {', '.join(sorted(self.DEFAULTS))}")
        merged = {**self.DEFAULTS, **{k: v for k, v in options.items() if v is not None}}
        self.options: dict[str, Any] = self._check_options(merged)
        self.decisions: list[Decision] = []
        self.slots: list[Slot] = []
        self._build()
        self.decisions = list(self.decisions)
        self._children: dict[int, list[int]] = {}
        for i, d in enumerate(self.decisions):
            if d.parent is not None:
                self._children.setdefault(d.parent, []).append(i)

    # ------------------------------------------------------------------ subclass hooks
    def _check_options(self, options: dict[str, Any]) -> dict[str, Any]:
        return options

    def _build(self) -> None:
        raise NotImplementedError

    def _spec_fields(self) -> dict[str, Any]:
        """Extra :class:`ArchSpec` fields of decoded specs (divisor, BN settings, ...)."""
        return {}

    # ------------------------------------------------------------------ declaring
    def decide(self, path: str, tag: str, choices: Sequence[Any], parent: int | None = None,
                on: Sequence[int] = ()) -> int:
        """Add a decision; returns its index."""
        if tag not in TAGS:
            raise ValueError(f"decision tag must be one of {TAGS}, got {tag!r}")
        if len(choices) < 2:
            raise ValueError(f"decision {path!r} needs at least 2 choices")
        self.decisions.append(Decision(path, tag, tuple(choices), parent, tuple(on)))
        return len(self.decisions) - 1

    def add_slot(self, name: str, role: str, emit: Callable[[Sequence[int]], Block | None], *,
              in_width: int | None = None, out_width: int | None = None,
              ops: Sequence[int] = ()) -> None:
        self.slots.append(Slot(name, role, in_width, out_width, tuple(ops), emit))

    def value(self, indices: Sequence[int], decision: int) -> Any:
        """The chosen value of ``decision``."""
        return self.decisions[decision].choices[indices[decision]]

    # ------------------------------------------------------------------ views
    def variant(self, **changes: Any) -> Space:
        """The same space with some options changed (e.g. deployment input size / strides)."""
        return type(self)(**{**self.options, **changes})

    @property
    def size_log10(self) -> float:
        """log10 of the number of genotypes that differ in an active decision.

        Still an upper bound on distinct networks: skipping layer 2 or layer 3 of a stage
        gives the same network (:meth:`encode` returns the form with the skips last).
        """
        def weight(d: int) -> int:
            total = 0
            for c in range(self.decisions[d].size):
                w = 1
                for k in self._children.get(d, ()):
                    if c in self.decisions[k].parent_choices:
                        w *= weight(k)
                total += w
            return total

        n = 1
        for i, d in enumerate(self.decisions):
            if d.parent is None:
                n *= weight(i)
        return math.log10(n)

    @property
    def raw_size_log10(self) -> float:
        """log10 of the product of all choice counts (the TuNAS README convention)."""
        return sum(math.log10(d.size) for d in self.decisions)

    def counts(self) -> dict[str, int]:
        """Decisions per tag."""
        out = {t: 0 for t in TAGS}
        for d in self.decisions:
            out[d.tag] += 1
        return out

    def describe(self) -> str:
        """Readable description: options, sizes, slots and decisions."""
        c = self.counts()
        lines = [f"space {self.name}: {self.summary}",
                 "  options: " + ", ".join(f"{k}={v}" for k, v in sorted(self.options.items())),
                 f"  decisions: {len(self.decisions)} ({c['op']} op, {c['filters']} filters); "
                 f"size 10^{self.size_log10:.2f} (raw product 10^{self.raw_size_log10:.2f})",
                 "  decisions:"]
        for i, d in enumerate(self.decisions):
            cond = ""
            if d.parent is not None:
                par = self.decisions[d.parent]
                vals = "/".join(str(par.choices[j]) for j in d.parent_choices)
                cond = f"  [if {par.path} in {vals}]"
            lines.append(f"    {i:>3} {d.tag:<7} {d.path}: "
                         f"{', '.join(str(v) for v in d.choices)}{cond}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Space {self.name} {len(self.decisions)} decisions 10^{self.size_log10:.1f}>"

    # ------------------------------------------------------------------ genotypes
    def genotype(self, indices: Sequence[int]) -> Genotype:
        """A genotype of this space (validated)."""
        g = Genotype(self.name, tuple(indices), tuple(self.options.items()))
        self._check(g)
        return g

    def _check(self, genotype: Genotype | str | Sequence[int]) -> tuple[int, ...]:
        if isinstance(genotype, str):
            genotype = Genotype.from_string(genotype)
        if not isinstance(genotype, Genotype):
            return self.genotype(genotype).indices
        if genotype.space != self.name:
            raise ValueError(f"genotype is of space {genotype.space!r}, not {self.name!r}")
        meta = genotype.meta
        for key in self.STRUCTURAL:
            if key in meta and meta[key] != self.options[key]:
                raise ValueError(f"genotype has {key}={meta[key]!r}, this {self.name} space "
                                 f"{key}={self.options[key]!r}: the decisions differ")
        idx = genotype.indices
        if len(idx) != len(self.decisions):
            raise ValueError(f"genotype has {len(idx)} indices; space {self.name} has "
                             f"{len(self.decisions)} decisions")
        for i, (j, d) in enumerate(zip(idx, self.decisions, strict=True)):
            if not 0 <= j < d.size:
                raise ValueError(f"index {j} at position {i} is out of range for decision "
                                 f"{d.path!r} ({d.size} choices)")
        return idx

    def active(self, genotype: Genotype | Sequence[int]) -> tuple[bool, ...]:
        """Per decision: does it matter (every ancestor chose a branch that contains it)?"""
        idx = self._check(genotype)
        out: list[bool] = []
        for d in self.decisions:  # parents always come before their children
            out.append(d.parent is None or (out[d.parent] and idx[d.parent] in d.parent_choices))
        return tuple(out)

    def sample(self, rng: Any = None) -> Genotype:
        """Uniform sample: every decision independently uniform (TuNAS at zero logits).

        ``rng``: ``None``, an int seed, a ``random.Random`` or a ``numpy.random.Generator``.
        """
        if rng is None or (isinstance(rng, int) and not isinstance(rng, bool)):
            rng = random.Random(rng)
        if hasattr(rng, "integers"):
            idx = [int(rng.integers(d.size)) for d in self.decisions]
        elif hasattr(rng, "randrange"):
            idx = [rng.randrange(d.size) for d in self.decisions]
        else:
            raise ValueError(f"rng must be a seed, random.Random or numpy Generator, got {rng!r}")
        return self.genotype(idx)

    # ------------------------------------------------------------------ decode
    def decode(self, genotype: Genotype | str | Sequence[int]) -> ArchSpec:
        """The concrete :class:`ArchSpec` of a genotype (build it at width 1.0)."""
        idx = self._check(genotype)
        g = Genotype(self.name, idx, tuple(self.options.items()))
        blocks = self._flag_endpoints(
            [(s.role, b) for s in self.slots if (b := s.emit(idx)) is not None])
        fields = self._spec_fields()
        # named by content: genotypes that give the same network give the same name
        text = "\n".join([repr(sorted(fields.items()))] + [b.to_string() for b in blocks])
        digest = hashlib.sha1(text.encode()).hexdigest()[:10]
        return ArchSpec(f"{self.name}_{digest}", blocks, finegrain=False,
                        description=g.to_string(), **fields)

    @staticmethod
    def _flag_endpoints(blocks: list[tuple[str, Block]]) -> tuple[Block, ...]:
        """Flag the last body block of every output stride beyond the stem's."""
        stem_stride = math.prod(getattr(b, "stride", 1) for r, b in blocks if r == "stem")
        stride = 1
        level: list[int | None] = []
        for role, b in blocks:
            stride *= getattr(b, "stride", 1)
            level.append(stride if role == "body" else None)
        out = []
        for i, (_, b) in enumerate(blocks):
            nxt = level[i + 1] if i + 1 < len(level) else None
            flag = level[i] is not None and level[i] > stem_stride and nxt != level[i]
            out.append(replace(b, endpoint=True) if flag and hasattr(b, "endpoint") else b)
        return tuple(out)

    # ------------------------------------------------------------------ encode
    def encode(self, spec: ArchSpec) -> Genotype:
        """The genotype whose decoding equals ``spec`` block for block.

        ``spec`` is concrete (e.g. from :func:`mhzoo.widths.scale_spec` or :meth:`decode`); a
        base spec is read at width 1.0. Endpoint flags are ignored. Raises ``ValueError`` naming
        the first block that no choice of the space produces.
        """
        return encode_spec(self, spec)

    # ------------------------------------------------------------------ cost-model structure
    def layer_choices(self, genotype: Genotype | Sequence[int]) -> list[LayerChoice]:
        """Per slot: the (input width, output width, op) choices it depends on."""
        idx = self._check(genotype)
        act = self.active(idx)
        out = []
        for s in self.slots:
            out.append(LayerChoice(
                s.name,
                None if s.in_width is None else (s.in_width, idx[s.in_width]),
                None if s.out_width is None else (s.out_width, idx[s.out_width]),
                tuple((d, idx[d] if act[d] else None) for d in s.ops)))
        return out
