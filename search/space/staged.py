"""Shared pieces of the MobileNet-like spaces: widths (fixed or a decision) and IB stages.

Widths follow TuNAS: a space defines *base* widths (multiples of the channel base ``B``); the
decoded spec carries ``round_half_up(base * width, B)`` (:func:`mhzoo.widths.round_half_up`), and
an expanded width ``x`` times the sampled base input width becomes
``round_half_up(round_half_up(x * c_in, B) * width, B)`` (TuNAS ``scale_filters``), so
``width != 1`` gives the same widths as :func:`mhzoo.widths.scale_spec` with ``divisible_by=B``.
A space may round the second step to a finer divisor than ``B`` (``scale_divisor``; the
``multi_hardware`` option ``width_divisor``) so that a small proxy width keeps choices apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mhzoo.spec import InvertedBottleneck
from mhzoo.widths import round_half_up

__all__ = ["MULTIPLIERS", "Width", "add_ib_stage", "check_common", "check_pos", "check_strides",
           "width", "width_choices"]

#: per-stage width multipliers of TuNAS ``block_filters_multipliers`` (paper section 6.1)
MULTIPLIERS = (0.5, 0.625, 0.75, 1.0, 1.25, 1.5, 2.0)


@dataclass(frozen=True)
class Width:
    """A base width: fixed (``decision is None``) or the value of a filters decision."""

    fixed: int | None = None
    decision: int | None = None

    def base(self, space: Any, idx: Sequence[int]) -> int:
        """The base width chosen by ``idx``."""
        return self.fixed if self.decision is None else space.value(idx, self.decision)


def width_choices(base: int, divisor: int, multipliers: Sequence[float] = MULTIPLIERS
                  ) -> tuple[int, ...]:
    """Distinct ``round_half_up(base * m, divisor)`` over the multipliers, ascending."""
    return tuple(sorted({round_half_up(base * m, divisor) for m in multipliers}))


def width(space: Any, path: str, base: int, divisor: int,
          multipliers: Sequence[float] | None = MULTIPLIERS) -> Width:
    """A fixed width, or a filters decision when the multipliers give several widths."""
    if multipliers is None:
        return Width(fixed=base)
    choices = width_choices(base, divisor, multipliers)
    if len(choices) == 1:
        return Width(fixed=choices[0])
    return Width(decision=space.decide(path, "filters", choices))


def check_strides(name: str, value: Any, count: int) -> tuple[int, ...]:
    """Validate a stride plan of ``count`` strides, each 1 or 2."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value,)
    try:
        plan = tuple(value)
    except TypeError:
        raise ValueError(f"{name} must be a list of {count} strides (1 or 2), got {value!r}"
                         ) from None
    if len(plan) != count or any(isinstance(s, bool) or s not in (1, 2) for s in plan):
        raise ValueError(f"{name} must be {count} strides, each 1 or 2, got {value!r}")
    return tuple(int(s) for s in plan)


def add_ib_stage(space: Any, *, stage: str, stride: int, layers: int, cin: Width, cout: Width,
                 divisor: int, scale: float, ops: Sequence[str], kernels: Sequence[int],
                 expansions: Sequence[int] | None, se: bool = False, activation: str = "relu",
                 scale_divisor: int | None = None) -> None:
    """Add one stage of inverted-bottleneck layers: decisions and slots.

    Args:
        ops: op choices of the first layer from ``("ib", "fused")``; later layers add
            ``"skip"``. A single op gives no op decision on the first layer.
        kernels / expansions: choices (one value: no decision). ``expansions=None`` builds no
            expansion conv (a depthwise-separable first block, e.g. ProxylessNAS block 1).
        se: search squeeze-excite (ratio 0.25) on or off.
        scale: the space's width multiplier (TuNAS rule with base ``divisor``).
        scale_divisor: divisor of the second rounding, after ``scale`` (default ``divisor``):
            a proxy decoding may round finer than the space (``width_divisor``) so that choices
            stay apart at a small width; the base widths and the decisions do not change.
    """
    div2 = divisor if scale_divisor is None else scale_divisor
    for j in range(layers):
        p = f"{stage}/layer{j}"
        layer_ops = tuple(ops) if j == 0 else (*ops, "skip")
        op = space.decide(f"{p}/op", "op", layer_ops) if len(layer_ops) > 1 else None
        real = tuple(i for i, o in enumerate(layer_ops) if o != "skip")

        def sub(name: str, choices: Sequence[Any], tag: str = "op", _op: int | None = op,
                _p: str = p, _on: tuple[int, ...] = real) -> int | None:
            if len(choices) < 2:
                return None
            return space.decide(f"{_p}/{name}", tag, choices, _op, _on if _op is not None
                                 else ())

        kdec = sub("kernel", kernels)
        # TuNAS tags expansion sizes FILTERS_TAG (search-algorithm.md 1.1, 1.3, 1.4): filter
        # warm-up then forces the widest expansion (section 2.2)
        edec = sub("expansion", expansions, "filters") if expansions is not None else None
        sdec = sub("se", (False, True)) if se else None
        w_in = cin if j == 0 else cout
        s = stride if j == 0 else 1

        def emit(idx: Sequence[int], *, _op: int | None = op, _k: int | None = kdec,
                 _e: int | None = edec, _s: int | None = sdec, _ops: tuple = layer_ops,
                 _win: Width = w_in, _st: int = s) -> InvertedBottleneck | None:
            kind = _ops[idx[_op]] if _op is not None else _ops[0]
            if kind == "skip":
                return None
            kernel = space.value(idx, _k) if _k is not None else kernels[0]
            exp = None
            if expansions is not None:
                ratio = space.value(idx, _e) if _e is not None else expansions[0]
                exp_base = round_half_up(ratio * _win.base(space, idx), divisor)
                exp = round_half_up(exp_base * scale, div2)
            use_se = space.value(idx, _s) if _s is not None else False
            return InvertedBottleneck(
                filters=round_half_up(cout.base(space, idx) * scale, div2), kernel=kernel,
                stride=_st, expansion=1.0, expansion_filters=exp,
                se_ratio=0.25 if use_se else None, activation=activation,
                fused=kind == "fused")

        space.add_slot(p, "body", emit, in_width=w_in.decision, out_width=cout.decision,
                    ops=[d for d in (op, kdec, edec, sdec) if d is not None])


def check_pos(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def check_common(o: dict[str, Any], n_stages: int) -> dict[str, Any]:
    """Validate ``input_size``, ``stem_stride`` and ``strides`` (shared by several spaces)."""
    size = o["input_size"]
    if isinstance(size, bool) or not isinstance(size, int) or not 32 <= size <= 4096:
        raise ValueError(f"input_size must be an integer in [32, 4096], got {size!r}")
    return {**o, "input_size": size,
            "stem_stride": check_strides("stem_stride", o["stem_stride"], 1)[0],
            "strides": check_strides("strides", o["strides"], n_stages)}
