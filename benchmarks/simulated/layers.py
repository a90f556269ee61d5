"""The layers of a concrete spec as the simulator sees them (pure Python, no TensorFlow).

A simulated accelerator costs a network one layer at a time (ZigZag reads every layer's inputs
from DRAM and writes its outputs back; nothing is reused between layers), so a model's latency
is the sum of its layers' and each layer is keyed by everything that changes its cycles:

* ``conv``: a (possibly grouped) convolution: input height/width, channels in and out, kernel,
  stride, groups and the padding on each side (which, with the stride, fixes the output size).
  Depthwise convolutions are grouped convs with ``groups == c_in == c_out``; the classifier
  (dense / fully connected) is a 1x1 conv on a 1x1 input; the squeeze-excite 1x1 convs too.
* ``add`` (residual), ``mul`` (the squeeze-excite gate) and ``pool`` (global average pool):
  elementwise / reduction layers, costed from the bytes they move (see
  :func:`elementwise_cycles`), not by ZigZag.

Batch norm folds into the conv before it and ReLU / ReLU6 / hard-swish / the hard-sigmoid gate
fuse into the op that produces their input (what TFLite and the Edge TPU compiler do), so they
cost nothing here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from mhzoo.spec import ArchSpec, Conv, DepthwiseSeparable, GlobalPool, InvertedBottleneck
from mhzoo.widths import se_filters

__all__ = ["CONV_KINDS", "ELEMENTWISE_KINDS", "LAYER_KINDS", "SimLayer", "UnsupportedLayerError",
           "elementwise_cycles", "parse_layer_key", "spec_layers"]

#: layer kinds ZigZag costs
CONV_KINDS = ("conv",)
#: layer kinds costed by the bytes they move
ELEMENTWISE_KINDS = ("add", "mul", "pool")
LAYER_KINDS = CONV_KINDS + ELEMENTWISE_KINDS


class UnsupportedLayerError(ValueError):
    """A layer (or model) the simulator cannot cost."""


@dataclass(frozen=True)
class SimLayer:
    """One layer for the simulator; :attr:`key` names its cycles in a lookup table.

    For ``conv``: input ``h`` x ``w`` x ``c_in`` -> ``c_out`` channels, ``kernel``, ``stride``,
    ``groups`` and ``pad`` = (top, bottom, left, right). For ``add`` / ``mul``: ``h`` x ``w`` x
    ``c_in`` elements per operand (``mul``: the second operand is a per-channel vector). For
    ``pool``: a global average pool of ``h`` x ``w`` x ``c_in`` to ``c_in``.
    """

    kind: str
    h: int
    w: int
    c_in: int
    c_out: int
    kernel: int = 1
    stride: int = 1
    groups: int = 1
    pad: tuple[int, int, int, int] = (0, 0, 0, 0)
    name: str = ""

    def __post_init__(self) -> None:
        if self.kind not in LAYER_KINDS:
            raise UnsupportedLayerError(
                f"layer type {self.kind!r} cannot be costed by the simulator (it costs "
                f"{', '.join(LAYER_KINDS)})")
        for f in ("h", "w", "c_in", "c_out", "kernel", "stride", "groups"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"layer {self.name or self.kind}: {f} must be an integer >= 1, "
                                 f"got {v!r}")
        if self.c_in % self.groups or self.c_out % self.groups:
            raise ValueError(f"layer {self.name or self.kind}: channels {self.c_in} -> "
                             f"{self.c_out} not divisible by groups {self.groups}")

    @property
    def out_hw(self) -> tuple[int, int]:
        """Output height and width."""
        if self.kind != "conv":
            return (1, 1) if self.kind == "pool" else (self.h, self.w)
        t, b, left, r = self.pad
        return ((self.h + t + b - self.kernel) // self.stride + 1,
                (self.w + left + r - self.kernel) // self.stride + 1)

    @property
    def depthwise(self) -> bool:
        """A depthwise conv (one group per channel)."""
        return self.kind == "conv" and self.groups > 1 and self.groups == self.c_in == self.c_out

    @property
    def macs(self) -> int:
        """Multiply-accumulates (conv) or elements written (others)."""
        oh, ow = self.out_hw
        if self.kind == "conv":
            return oh * ow * self.c_out * (self.c_in // self.groups) * self.kernel ** 2
        return oh * ow * self.c_out

    @property
    def key(self) -> str:
        """Lookup-table key: every field that changes the cycles (not the name)."""
        if self.kind == "conv":
            p = ",".join(map(str, self.pad))
            return (f"conv:{self.h}x{self.w}:{self.c_in}>{self.c_out}:k{self.kernel}:"
                    f"s{self.stride}:g{self.groups}:p{p}")
        return f"{self.kind}:{self.h}x{self.w}:{self.c_in}>{self.c_out}"


def parse_layer_key(key: str) -> SimLayer:
    """Inverse of :attr:`SimLayer.key` (``ValueError`` on a malformed key)."""
    try:
        parts = key.split(":")
        kind = parts[0]
        h, w = (int(v) for v in parts[1].split("x"))
        c_in, c_out = (int(v) for v in parts[2].split(">"))
        if kind != "conv":
            if len(parts) != 3:
                raise ValueError
            return SimLayer(kind, h, w, c_in, c_out)
        if len(parts) != 7 or parts[3][0] != "k" or parts[4][0] != "s" or parts[5][0] != "g" \
                or parts[6][0] != "p":
            raise ValueError
        pad = tuple(int(v) for v in parts[6][1:].split(","))
        if len(pad) != 4:
            raise ValueError
        return SimLayer(kind, h, w, c_in, c_out, int(parts[3][1:]), int(parts[4][1:]),
                        int(parts[5][1:]), pad)  # type: ignore[arg-type]
    except UnsupportedLayerError:
        raise
    except (ValueError, IndexError):
        raise ValueError(f"malformed layer key {key!r}") from None


def _same_pad(size: int, k: int, s: int) -> tuple[int, int]:
    """TF 'same' padding: the extra row / column goes at the end."""
    out = math.ceil(size / s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def _conv(name: str, h: int, w: int, cin: int, cout: int, k: int, s: int, groups: int,
          padding: str) -> SimLayer:
    if padding == "symmetric" and s > 1 and k > 1:  # ZeroPadding2D(k // 2) + VALID conv
        pad = (k // 2,) * 4
    else:
        t, b = _same_pad(h, k, s)
        left, r = _same_pad(w, k, s)
        pad = (t, b, left, r)
    return SimLayer("conv", h, w, cin, cout, k, s, groups, pad, name)  # type: ignore[arg-type]


def spec_layers(spec: ArchSpec, input_size: int | tuple[int, int] = 224,
                num_classes: int | None = 1000, in_channels: int = 3) -> list[SimLayer]:
    """The layers of a *concrete* spec (``scale_spec`` / a space's ``decode``) in order, with
    the default classifier head of :func:`mhzoo.build` (global pool unless the spec pools,
    then a ``num_classes``-way dense layer; ``None`` leaves the head out).

    Raises:
        UnsupportedLayerError: a block type the simulator does not know.
    """
    h, w = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    c = in_channels
    pad = spec.padding
    out: list[SimLayer] = []
    pooled = False
    for i, b in enumerate(spec.blocks):
        p = f"block{i}"
        if isinstance(b, Conv):
            out.append(_conv(f"{p}_conv", h, w, c, b.filters, b.kernel, b.stride, 1, pad))
            h, w = out[-1].out_hw
            c = b.filters
        elif isinstance(b, DepthwiseSeparable):
            out.append(_conv(f"{p}_dw", h, w, c, c, b.kernel, b.stride, c, pad))
            h, w = out[-1].out_hw
            out.append(_conv(f"{p}_pw", h, w, c, b.filters, 1, 1, 1, pad))
            c = b.filters
        elif isinstance(b, InvertedBottleneck):
            cin = c
            e = b.expansion_filters
            if e is None and b.expansion > 1:
                raise ValueError(f"{spec.name}: block {i} has no absolute expansion width; "
                                 "simulate a concrete spec (mhzoo.widths.scale_spec)")
            inner = e if e is not None else c
            if e is not None:
                if b.fused:
                    out.append(_conv(f"{p}_expand", h, w, c, e, b.kernel, b.stride, 1, pad))
                    h, w = out[-1].out_hw
                else:
                    out.append(_conv(f"{p}_expand", h, w, c, e, 1, 1, b.groups, pad))
            if not b.fused:
                out.append(_conv(f"{p}_dw", h, w, inner, inner, b.kernel, b.stride, inner, pad))
                h, w = out[-1].out_hw
            if b.se_ratio is not None:
                s = se_filters(inner, b.se_ratio)
                out.append(SimLayer("pool", h, w, inner, inner, name=f"{p}_se_pool"))
                out.append(_conv(f"{p}_se_reduce", 1, 1, inner, s, 1, 1, 1, pad))
                out.append(_conv(f"{p}_se_expand", 1, 1, s, inner, 1, 1, 1, pad))
                out.append(SimLayer("mul", h, w, inner, inner, name=f"{p}_se_gate"))
            out.append(_conv(f"{p}_project", h, w, inner, b.filters, 1, 1, b.groups, pad))
            # (a fused block without expansion is the lone 1x1 projection, as mhzoo.build makes it)
            if b.residual and b.stride == 1 and cin == b.filters:
                out.append(SimLayer("add", h, w, b.filters, b.filters, name=f"{p}_add"))
            c = b.filters
        elif isinstance(b, GlobalPool):
            out.append(SimLayer("pool", h, w, c, c, name=f"{p}_pool"))
            h, w, pooled = 1, 1, True
        else:
            raise UnsupportedLayerError(f"{spec.name}: block {i} ({type(b).__name__}) is a "
                                        "layer type the simulator cannot cost")
    if num_classes is not None:
        if not pooled:
            out.append(SimLayer("pool", h, w, c, c, name="avg_pool"))
        out.append(_conv("classifier", 1, 1, c, num_classes, 1, 1, 1, "same"))
    return out


def elementwise_cycles(layer: SimLayer, dram_bits_per_cycle: int, bits: int = 8) -> int:
    """Cycles of an ``add`` / ``mul`` / ``pool`` layer: the bytes it reads and writes over the
    accelerator's DRAM port (ZigZag's own per-layer assumption: every layer reads its inputs
    from DRAM and writes its output back), one element per ``bits``; the arithmetic is
    assumed to keep up with the port.

    ``add``: two h*w*c operands in, one out. ``mul`` (SE gate): h*w*c and c in, h*w*c out.
    ``pool``: h*w*c in, c out.
    """
    if layer.kind not in ELEMENTWISE_KINDS:
        raise UnsupportedLayerError(f"layer type {layer.kind!r} is not elementwise")
    n = layer.h * layer.w * layer.c_in
    elements = {"add": 3 * n, "mul": 2 * n + layer.c_in, "pool": n + layer.c_in}[layer.kind]
    return math.ceil(elements * bits / dram_bits_per_cycle)


def distinct(layers: Iterable[SimLayer]) -> dict[str, SimLayer]:
    """Layers by key, first occurrence kept (what a lookup table needs)."""
    out: dict[str, SimLayer] = {}
    for lay in layers:
        out.setdefault(lay.key, lay)
    return out
