"""Size bounds on a concrete spec, checked before any graph is built.

Each block field is bounded when the spec is made (:mod:`mhzoo.spec`: filters <= 16384, odd
kernels <= 15, strides 1 or 2, expansion <= 32, <= 512 blocks) and the width multiplier by
:func:`mhzoo.widths.check_width` (<= 8). Combinations can still be absurd (16384 filters at
4096 px), which TensorFlow answers with ``ResourceExhaustedError`` after minutes, or the TFLite
converter with a crash (flatbuffers stop at 2 GiB). :func:`check_spec_bounds` bounds what such
a model costs, from the spec alone (no TensorFlow), so it fails in milliseconds with one line.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

from mhzoo.counting import count_layers, output_size
from mhzoo.spec import (
    MAX_FILTERS,
    ArchSpec,
    Conv,
    DepthwiseSeparable,
    GlobalPool,
    InvertedBottleneck,
)

__all__ = ["MAX_ACTIVATION_ELEMENTS", "MAX_CLASSES", "MAX_INPUT_SIZE", "MAX_MADDS", "MAX_PARAMS",
           "check_input_size", "check_spec_bounds"]

#: largest input height / width in pixels
MAX_INPUT_SIZE = 4096
#: largest classifier
MAX_CLASSES = 100_000
#: most weights and biases (300 M float32 = 1.2 GB, below the 2 GiB flatbuffer limit)
MAX_PARAMS = 300_000_000
#: most multiply-adds of one image (Multi-MAX: 0.35 G at 224 px, ~100 G at 2048 px width 2)
MAX_MADDS = 1_000_000_000_000
#: most elements of one activation tensor (2**29 float32 = 2 GiB)
MAX_ACTIVATION_ELEMENTS = 1 << 29
_ESTIMATE_SIZE = 224  # used for a dynamic (None) height or width


def check_input_size(value: object, label: str = "input size", minimum: int = 32) -> int:
    """An input height / width in ``[minimum, MAX_INPUT_SIZE]``; ``ValueError`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{label} must be an integer number of pixels, got {value!r:.40}")
    if not minimum <= value <= MAX_INPUT_SIZE:
        raise ValueError(f"{label} must be between {minimum} and {MAX_INPUT_SIZE} px, got "
                         f"{value if abs(value) < 10**12 else 'a huge number'}")
    return int(value)


def check_spec_bounds(spec: ArchSpec, input_shape: Sequence[int | None] = (224, 224, 3), *,
                      num_classes: int | None = 1000) -> None:
    """Refuse a concrete spec whose model would be absurdly large, before it is built.

    Args:
        spec: a *concrete* spec (:func:`mhzoo.widths.scale_spec` output; widths final).
        input_shape: ``(height, width, channels)``; ``None`` sides are estimated at 224 px.
        num_classes: classifier size, or ``None`` without a classifier.

    Raises:
        ValueError: naming the first bound exceeded: input size (<= 4096 px), scaled widths
            (<= 16384), classes (<= 100,000), weights (<= 300 M), MAdds (<= 1 T) or the
            largest activation tensor (<= 2**29 elements).
    """
    if not isinstance(spec, ArchSpec):
        raise ValueError(f"expected an ArchSpec, got {type(spec).__name__}")
    try:
        h, w, c = input_shape
    except (TypeError, ValueError):
        raise ValueError(f"input_shape must be (height, width, channels), got {input_shape!r:.60}"
                         ) from None
    h = _ESTIMATE_SIZE if h is None else check_input_size(h, "input height", minimum=1)
    w = _ESTIMATE_SIZE if w is None else check_input_size(w, "input width", minimum=1)
    if isinstance(c, bool) or not isinstance(c, numbers.Integral) or not 1 <= c <= 4:
        raise ValueError(f"input channels must be 1 to 4, got {c!r:.40}")
    if num_classes is not None and (isinstance(num_classes, bool) or not isinstance(
            num_classes, numbers.Integral) or not 1 <= num_classes <= MAX_CLASSES):
        raise ValueError(f"num_classes must be an integer in [1, {MAX_CLASSES:,}], got "
                         f"{num_classes!r:.40}")
    for i, b in enumerate(spec.blocks):
        for name in ("filters", "expansion_filters"):
            v = getattr(b, name, None)
            if v is not None and v > MAX_FILTERS:
                raise ValueError(f"{spec.name}: block {i} has {v:,} {name} after width scaling; "
                                 f"at most {MAX_FILTERS:,} (use a smaller width)")
    layers = count_layers(spec, (h, w), int(c), num_classes)
    params = sum(lc.weights + lc.biases for lc in layers)
    if params > MAX_PARAMS:
        raise ValueError(f"{spec.name}: {params / 1e6:,.0f} M weights; at most "
                         f"{MAX_PARAMS / 1e6:,.0f} M are supported (use a smaller width or "
                         "fewer classes)")
    madds = sum(lc.madds for lc in layers)
    if madds > MAX_MADDS:
        raise ValueError(f"{spec.name}: {madds / 1e9:,.0f} G multiply-adds at {h}x{w}; at most "
                         f"{MAX_MADDS / 1e9:,.0f} G are supported (use a smaller input or width)")
    elements, where = _largest_activation(spec, h, w, int(c))
    if elements > MAX_ACTIVATION_ELEMENTS:
        raise ValueError(f"{spec.name}: block {where} makes an activation of {elements:,} values "
                         f"at {h}x{w}; at most {MAX_ACTIVATION_ELEMENTS:,} are supported (use a "
                         "smaller input or width)")


def _largest_activation(spec: ArchSpec, h: int, w: int, c: int) -> tuple[int, int]:
    """``(elements, block index)`` of the largest tensor, bounded by the block's input size
    times its widest channel count."""
    best, where = h * w * c, -1
    for i, b in enumerate(spec.blocks):
        if isinstance(b, GlobalPool):
            h = w = 1
            continue
        channels = c
        if isinstance(b, Conv | DepthwiseSeparable):
            channels = max(c, b.filters)
        elif isinstance(b, InvertedBottleneck):
            channels = max(c, b.filters, b.expansion_filters or 0)
        if h * w * channels > best:
            best, where = h * w * channels, i
        h, w = output_size(h, b.stride), output_size(w, b.stride)
        c = getattr(b, "filters", c)
    return best, where
