"""Width multipliers: the one place where channel counts are rounded.

Two rules exist:

* **TF Model Garden** (default): ``round_filters(f * width, divisor, min_depth)`` with a guard
  that never shrinks a layer by more than 10 %; the stem scales; with ``finegrain`` the last
  width-carrying layer keeps its base width when width < 1 (1280 stays 1280); expanded widths
  are ``make_divisible(C_in * ratio, 8)`` from the *scaled* input width.
* **TuNAS search space** (``divisible_by=N``, the paper uses N = 32): every width, the stem, the
  head and the absolute expanded widths (ratio x base input width) are rounded half-up to a
  multiple of N, at least N, with no 10 % guard and no finegrain exception.

:func:`scale_spec` applies a rule and returns a *concrete* spec: every width is final and
every inverted bottleneck carries its absolute ``expansion_filters`` (``None`` when the block has
no expansion conv), so the builder and the profiler decode one form only.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from mhzoo.spec import ArchSpec, Conv, DepthwiseSeparable, InvertedBottleneck

__all__ = ["MAX_WIDTH", "check_width", "make_divisible", "round_filters", "round_half_up",
           "scale_spec"]

#: largest width multiplier (the paper's models use 0.35-1.4; 8x MobileNetV1 is ~270 M params)
MAX_WIDTH = 8.0

SE_DIVISOR = 8  # squeeze width divisor (TF Model Garden nn_layers.SqueezeExcitation)
EXPAND_DIVISOR = 8  # expanded width divisor for every non-V1 model (TF Model Garden)


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round ``value`` to the nearest multiple of ``divisor`` (not below ``min_value``), adding a
    divisor when rounding would lose more than 10 % (TF Model Garden ``make_divisible``)."""
    min_value = divisor if min_value is None else min_value
    new = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return int(new)


def round_filters(filters: int, width: float, divisor: int = 8, min_depth: int = 8) -> int:
    """TF Model Garden ``round_filters``: scale, round to ``divisor``, floor at ``min_depth``."""
    if width == 1.0:
        return int(filters)
    return make_divisible(filters * width, divisor, min_depth)


def round_half_up(value: float, base: int) -> int:
    """TuNAS rule: round half-up to a multiple of ``base``, at least ``base``."""
    return max(base, math.floor(value / base + 0.5) * base)


def check_width(width: Any) -> float:
    """Validate a width multiplier, ``0 < width <= MAX_WIDTH`` (8); returns it as float or
    raises ``ValueError``."""
    shown = repr(width) if len(repr(width)) <= 40 else repr(width)[:37] + "..."
    if isinstance(width, bool):
        raise ValueError(f"width must be a positive number, got {shown}")
    if not isinstance(width, int | float):
        try:
            width = float(width)
        except (TypeError, ValueError, OverflowError):
            raise ValueError(f"width must be a positive number, got {shown}") from None
    if (isinstance(width, float) and not math.isfinite(width)) or width <= 0:
        raise ValueError(f"width must be a positive finite number, got {shown}")
    if width > MAX_WIDTH:
        raise ValueError(f"width must be at most {MAX_WIDTH:g}, got {shown}")
    return float(width)


def _last_width_index(spec: ArchSpec) -> int:
    """Index of the last block that carries a width (the finegrain layer)."""
    for i in range(len(spec.blocks) - 1, -1, -1):
        if hasattr(spec.blocks[i], "filters"):
            return i
    raise ValueError(f"{spec.name}: no block carries a width")


def scale_spec(spec: ArchSpec, width: float = 1.0, divisible_by: int | None = None) -> ArchSpec:
    """Concrete spec of ``spec`` at ``width``.

    Args:
        spec: base spec (widths at multiplier 1.0).
        width: any positive float.
        divisible_by: ``None`` for the TF Model Garden rule with the spec's own divisor; an
            integer selects the TuNAS rule with that channel base (the paper's is 32).

    Returns:
        An ``ArchSpec`` whose widths are final; building it at width 1.0 gives the scaled model.
    """
    width = check_width(width)
    tunas = divisible_by is not None
    if tunas and (isinstance(divisible_by, bool) or not isinstance(divisible_by, int)
                  or not 1 <= divisible_by <= 1024):
        raise ValueError(f"divisible_by must be an integer in [1, 1024], got {divisible_by!r}")
    last = _last_width_index(spec)

    def out_width(i: int, base: int) -> int:
        if tunas:
            return round_half_up(base * width, divisible_by)
        if i == last and spec.finegrain and width < 1.0:
            return int(base)
        return round_filters(base, width, spec.divisible_by, spec.min_depth)

    blocks = []
    cin_base = None  # base (width 1.0) input width, for TuNAS absolute expansions
    cin = None  # scaled input width
    for i, b in enumerate(spec.blocks):
        if isinstance(b, Conv | DepthwiseSeparable):
            filters = out_width(i, b.filters)
            blocks.append(dataclasses.replace(b, filters=filters))
            cin_base, cin = b.filters, filters
        elif isinstance(b, InvertedBottleneck):
            if cin is None:
                raise ValueError(f"{spec.name}: block {i} (inverted bottleneck) has no input")
            filters = out_width(i, b.filters)
            exp = _expanded_width(b, cin_base, cin, width, divisible_by if tunas else None)
            blocks.append(dataclasses.replace(b, filters=filters, expansion=1.0,
                                              expansion_filters=exp))
            cin_base, cin = b.filters, filters
        else:
            blocks.append(b)
    return dataclasses.replace(spec, blocks=tuple(blocks), finegrain=False,
                               divisible_by=divisible_by or spec.divisible_by)


def _expanded_width(b: InvertedBottleneck, cin_base: int, cin: int, width: float,
                    tunas_base: int | None) -> int | None:
    """Absolute expanded width of ``b`` or ``None`` when it has no expansion conv."""
    if b.expansion_filters is not None:
        if tunas_base is not None:
            return round_half_up(b.expansion_filters * width, tunas_base)
        if width == 1.0:
            return b.expansion_filters
        return make_divisible(b.expansion_filters * width, EXPAND_DIVISOR)
    if b.expansion <= 1:
        return None
    if tunas_base is not None:
        return round_half_up(b.expansion * cin_base * width, tunas_base)
    return make_divisible(cin * b.expansion, EXPAND_DIVISOR)


def se_filters(expanded: int, se_ratio: float) -> int:
    """Squeeze width of an SE block on ``expanded`` channels (TF Model Garden rule)."""
    return make_divisible(max(1, int(expanded * se_ratio)), SE_DIVISOR)
