"""Pure-Python layer inventory of a concrete spec: shapes, weights and multiply-adds.

This is the spec side of the profiler (no TensorFlow needed). Conventions follow how the paper's
Table 1 counts (architectures.md section 2): *weights* are conv / depthwise / SE / dense kernels
(no batch norm, no biases); MAdds are those of conv, depthwise, SE 1x1 and dense layers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mhzoo.spec import ArchSpec, Conv, DepthwiseSeparable, GlobalPool, InvertedBottleneck
from mhzoo.widths import se_filters

__all__ = ["LayerCount", "block_counts", "count_layers", "output_size"]


@dataclass(frozen=True)
class LayerCount:
    """One weight layer: which block it belongs to, kernel weights, biases, BN channels, MAdds."""

    block: int  # block index in the spec; -1 for the classifier
    name: str  # stable Keras layer name
    kind: str  # conv | depthwise | se | dense
    weights: int
    biases: int
    bn_channels: int
    madds: int


def output_size(size: int, stride: int) -> int:
    """Spatial size after a 'same' (or symmetric k//2) padded conv with ``stride``."""
    return math.ceil(size / stride)


def count_layers(
    spec: ArchSpec, input_size: tuple[int, int] = (224, 224), in_channels: int = 3,
    num_classes: int | None = 1001,
) -> list[LayerCount]:
    """Inventory of a *concrete* spec (see :func:`mhzoo.widths.scale_spec`).

    ``num_classes=None`` leaves out the classifier. Layer names match the Keras builder.
    """
    h, w = input_size
    c = in_channels
    out: list[LayerCount] = []

    def conv(block: int, name: str, k: int, cin: int, cout: int, hw: int, *, bn: bool = True,
             bias: bool = False, groups: int = 1) -> None:
        if cin % groups or cout % groups:
            raise ValueError(f"{name}: channels {cin} -> {cout} are not divisible by groups "
                             f"{groups}")
        per_out = k * k * (cin // groups)  # a grouped conv sees cin / groups inputs per output
        out.append(LayerCount(block, name, "conv", per_out * cout, cout if bias else 0,
                              cout if bn else 0, hw * per_out * cout))

    def dw(block: int, name: str, k: int, ch: int, hw: int) -> None:
        out.append(LayerCount(block, name, "depthwise", k * k * ch, 0, ch, hw * k * k * ch))

    for i, b in enumerate(spec.blocks):
        p = f"block{i}"
        if isinstance(b, Conv):
            h, w = output_size(h, b.stride), output_size(w, b.stride)
            conv(i, f"{p}_conv", b.kernel, c, b.filters, h * w, bn=b.batch_norm, bias=b.bias)
            c = b.filters
        elif isinstance(b, DepthwiseSeparable):
            h, w = output_size(h, b.stride), output_size(w, b.stride)
            dw(i, f"{p}_dw", b.kernel, c, h * w)
            conv(i, f"{p}_pw", 1, c, b.filters, h * w)
            c = b.filters
        elif isinstance(b, InvertedBottleneck):
            e = b.expansion_filters
            oh, ow = output_size(h, b.stride), output_size(w, b.stride)
            if e is not None:
                if b.fused:
                    conv(i, f"{p}_expand", b.kernel, c, e, oh * ow)
                else:
                    conv(i, f"{p}_expand", 1, c, e, h * w, groups=b.groups)
                inner = e
            else:
                inner = c
            if not b.fused:
                dw(i, f"{p}_dw", b.kernel, inner, oh * ow)
            if b.se_ratio is not None:
                s = se_filters(inner, b.se_ratio)
                out.append(LayerCount(i, f"{p}_se_reduce", "se", inner * s, s, 0, inner * s))
                out.append(LayerCount(i, f"{p}_se_expand", "se", s * inner, inner, 0, s * inner))
            h, w = oh, ow
            conv(i, f"{p}_project", 1, inner, b.filters, h * w, groups=b.groups)
            c = b.filters
        elif isinstance(b, GlobalPool):
            h, w = 1, 1
    if num_classes is not None:
        out.append(LayerCount(-1, "classifier", "dense", c * num_classes, num_classes, 0,
                              c * num_classes))
    return out


def block_counts(layers: list[LayerCount]) -> dict[int, dict[str, int]]:
    """Weights and MAdds summed per block index."""
    res: dict[int, dict[str, int]] = {}
    for lc in layers:
        d = res.setdefault(lc.block, {"weights": 0, "madds": 0})
        d["weights"] += lc.weights
        d["madds"] += lc.madds
    return res
