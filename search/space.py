"""Search spaces as data: decisions, genotypes and the generic decode / encode machinery.

A space is a list of :class:`Decision` values (TuNAS ``OneOf``: a path, a tag ``"op"`` or
``"filters"``, the choices and, for hierarchical activeness, the parent decision and the parent
choices under which it matters) and a list of :class:`Slot` values, one per block position of
the network. A :class:`Genotype` is one choice index per decision, plus the space name and the
space options (input size, stride plan, width, ...). Decoding a genotype runs every slot in
order; each slot emits one concrete :class:`mhzoo.spec.Block` or nothing (a skipped layer).
Everything here is pure Python: no TensorFlow, no numpy.

Cost-model structure (TuNAS ``coupled_tf_features``, search-algorithm.md section 4): every slot
names the decision of its input width, of its output width (``None`` when fixed) and its own op
decisions. :meth:`Space.layer_choices` returns them per slot for one genotype and
:meth:`Space.features` builds the one-hot Kronecker feature vector
``onehot(out) (x) onehot(in) (x) g(ops)`` of every slot, where ``g`` is the nested one-hot of the
slot's op-decision tree (a decision gives ``concat_c [chosen == c] * kron(g(children on c))``).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

from mhzoo.spec import ArchSpec, Block, Conv, DepthwiseSeparable, InvertedBottleneck
from mhzoo.widths import scale_spec

__all__ = ["TAGS", "Decision", "Genotype", "LayerChoice", "Slot", "Space"]

#: decision tags (TuNAS ``OP_TAG`` / ``FILTERS_TAG``)
TAGS = ("op", "filters")
GENOTYPE_FORMAT = "mhzoo.genotype"
_BAD_CHARS = set(":;=,\n ")


@dataclass(frozen=True)
class Decision:
    """One categorical choice of a space (TuNAS ``OneOf``).

    Attributes:
        path: where it sits, e.g. ``"stage2/layer1/kernel"``.
        tag: ``"op"`` (operation, kernel, expansion, SE, skip) or ``"filters"`` (a width).
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


# ---------------------------------------------------------------------------- genotype
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
        opts = {k: list(v) if isinstance(v, tuple) else v for k, v in self.options}
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
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, TypeError, UnicodeDecodeError) as exc:
            raise ValueError(f"malformed genotype JSON: {exc}") from None
        return cls.from_dict(data)

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
        work without importing :mod:`mhzoo.search`. :func:`mhzoo.search.spaces.save_genotype`
        decodes and stores it for you.
        """
        from mhzoo.atomic import atomic_write_text

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


# ---------------------------------------------------------------------------- space
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
    def _decide(self, path: str, tag: str, choices: Sequence[Any], parent: int | None = None,
                on: Sequence[int] = ()) -> int:
        """Add a decision; returns its index."""
        if tag not in TAGS:
            raise ValueError(f"decision tag must be one of {TAGS}, got {tag!r}")
        if len(choices) < 2:
            raise ValueError(f"decision {path!r} needs at least 2 choices")
        self.decisions.append(Decision(path, tag, tuple(choices), parent, tuple(on)))
        return len(self.decisions) - 1

    def _slot(self, name: str, role: str, emit: Callable[[Sequence[int]], Block | None], *,
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
        if not isinstance(spec, ArchSpec):
            raise ValueError(f"encode needs an ArchSpec, got {type(spec).__name__}")
        target = _normalise(scale_spec(spec, 1.0).blocks)
        n = len(self.decisions)
        assign: list[int | None] = [None] * n
        failed: set[tuple[int, int, tuple[int | None, ...]]] = set()
        width_dec = [i for i, d in enumerate(self.decisions) if d.tag == "filters"]
        best = [-1, ""]

        def enum(slot: Slot, refs: list[int], k: int, si: int, cursor: int) -> bool:
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
            dec = self.decisions[d]
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
            if si == len(self.slots):
                if cursor == len(target):
                    return True
                if cursor > best[0]:
                    best[0], best[1] = cursor, ""
                return False
            key = (si, cursor, tuple(assign[d] for d in width_dec))
            if key in failed:
                return False
            slot = self.slots[si]
            if enum(slot, list(slot.refs), 0, si, cursor):
                return True
            failed.add(key)
            return False

        if not rec(0, 0):
            pos, where = best
            if pos >= len(target):
                raise ValueError(f"spec {spec.name!r} ends after block {len(target) - 1}; space "
                                 f"{self.name} needs more blocks ({where or 'a block'})")
            reason = f" (no choice of {where} gives it)" if where else \
                " (more blocks than the space has)"
            raise ValueError(f"block {pos} {spec.blocks[pos].to_string()!r} of spec "
                             f"{spec.name!r} is not in space {self.name}{reason}")
        return self.genotype([a if a is not None else 0 for a in assign])

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

    def _op_features(self, slot: Slot, idx: Sequence[int] | None) -> list[float]:
        """Nested one-hot of the slot's op tree (``idx=None`` gives the zero vector's size)."""
        own = set(slot.ops)

        def g(d: int) -> list[float]:
            parts: list[float] = []
            for c in range(self.decisions[d].size):
                sub = [1.0]
                for k in self._children.get(d, ()):
                    if k in own and c in self.decisions[k].parent_choices:
                        sub = _kron(sub, g(k))
                hit = 1.0 if idx is not None and idx[d] == c else 0.0
                parts.extend(hit * v for v in sub)
            return parts

        vec = [1.0]
        for d in slot.ops:
            if self.decisions[d].parent not in own:
                vec = _kron(vec, g(d))
        return vec

    def _slot_features(self, slot: Slot, idx: Sequence[int]) -> list[float]:
        vec = self._op_features(slot, idx)
        for d in (slot.in_width, slot.out_width):
            if d is not None:
                vec = _kron(_onehot(idx[d], self.decisions[d].size), vec)
        return vec

    def features(self, genotype: Genotype | Sequence[int]) -> list[float]:
        """TuNAS linear cost-model features: per slot ``onehot(out) (x) onehot(in) (x) g(ops)``,
        slots of length 1 dropped, concatenated (pure Python; wrap in numpy for fitting)."""
        idx = self._check(genotype)
        out: list[float] = []
        for s in self.slots:
            v = self._slot_features(s, idx)
            if len(v) > 1:
                out.extend(v)
        return out

    @property
    def feature_size(self) -> int:
        """Length of :meth:`features`."""
        zero = [0] * len(self.decisions)
        return sum(n for s in self.slots if (n := len(self._slot_features(s, zero))) > 1)


def _onehot(i: int, n: int) -> list[float]:
    return [1.0 if j == i else 0.0 for j in range(n)]


def _kron(a: list[float], b: list[float]) -> list[float]:
    return [x * y for x in a for y in b]
