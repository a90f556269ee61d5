"""The kernels XNNPACK runs for a concrete architecture, and their named cost terms (numpy-free
helpers of :mod:`mhzoo.search.cost.kernel`).

A concrete ``ArchSpec`` splits into kernels (:func:`kernels_of`): dense k x k convolutions
(IGEMM: the stem, fused expansions), 1x1 convolutions (GEMM), depthwise convolutions, residual
ADDs, the global MEAN and the fully-connected layers after it. Each kernel gets a sparse set of
named terms (:func:`kernel_terms`):

* work: multiply-adds, also rounded up to the GEMM micro-kernel's row tile, and split by
  reduction depth ``K`` (a deep ``K`` makes the ``mr x K`` input panel leave L1);
* traffic: input / output / weight bytes, the same bytes again when the kernel's working set
  leaves L2 or the last-level cache, and hinges ``max(0, weight bytes - t)`` at fractions of the
  LLC (a float32 fused 5x5 conv at 7x7 px can hold 150 MB of weights, streamed from DRAM);
* context: multiply-adds and output bytes per (kind, output resolution, kernel size, stride),
  one efficiency per micro-kernel shape, as nn-Meter's per-kernel predictors;
* block terms on the block's last kernel: the expanded tensor's bytes and the skip tensor's
  bytes while it stays live across the block (both also beyond L2).

A block's terms depend only on the block and its input (resolution, width): the model built on
them is additive per block. Changing any term definition changes :data:`BASIS_VERSION`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["BASIS_VERSION", "KINDS", "Kernel", "Machine", "kernel_terms", "kernels_of",
           "kernels_of_blocks", "network_terms"]

#: version of the term definitions (a model fitted on other terms is refused)
BASIS_VERSION = 1
#: kernel kinds
KINDS = ("conv", "pw", "dw", "add", "mean", "fc")
#: weight-byte hinges, as fractions of the last-level cache
W_KNOTS = (0.125, 0.5, 1.0, 2.0)
#: reduction depths K above which a GEMM's multiply-adds get their own coefficient
K_KNOTS = (256, 512, 1024, 2048, 4096, 8192)


@dataclass(frozen=True)
class Machine:
    """What the kernel terms need to know about the CPU and the runtime.

    Attributes:
        bytes_per_element: 4 for float32, 1 for int8.
        l2_bytes: private L2 of one core (lscpu ``L2 cache`` / instances).
        llc_bytes: last-level cache (lscpu ``L3 cache``).
        gemm_mr: rows of the GEMM micro-kernel tile (XNNPACK f32 on AVX-512: 7).
    """

    bytes_per_element: int = 4
    l2_bytes: int = 1 << 20
    llc_bytes: int = 32 << 20
    gemm_mr: int = 7

    def __post_init__(self) -> None:
        for key in ("bytes_per_element", "l2_bytes", "llc_bytes", "gemm_mr"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"machine field {key!r} must be a positive integer, got {v!r}")

    def to_dict(self) -> dict[str, int]:
        """Plain-data form."""
        return {"bytes_per_element": self.bytes_per_element, "l2_bytes": self.l2_bytes,
                "llc_bytes": self.llc_bytes, "gemm_mr": self.gemm_mr}

    @classmethod
    def from_dict(cls, data: Any) -> Machine:
        """Inverse of :meth:`to_dict`; ``ValueError`` (one line) on a malformed value."""
        if not isinstance(data, Mapping):
            raise ValueError("machine must be an object")
        keys = ("bytes_per_element", "l2_bytes", "llc_bytes", "gemm_mr")
        missing = [k for k in keys if k not in data]
        if missing:
            raise ValueError(f"machine lacks {', '.join(missing)}")
        return cls(**{k: data[k] for k in keys})


@dataclass(frozen=True)
class Kernel:
    """One kernel as the runtime executes it (NHWC, 'same' padding, square feature maps).

    ``extra`` carries block-level terms (expanded tensor and skip tensor, in elements) on the
    block's last kernel.
    """

    kind: str  # one of KINDS
    block: int  # block index in the spec (-1: classifier)
    k: int = 1
    stride: int = 1
    hin: int = 1
    hout: int = 1
    cin: int = 1
    cout: int = 1
    extra: tuple[tuple[str, float], ...] = field(default=())


def _out(size: int, stride: int) -> int:
    return math.ceil(size / stride)


def kernels_of_blocks(blocks: Iterable[Any], res: int, cin: int, *, first_index: int = 0,
                      pooled: bool = False) -> tuple[list[Kernel], int, int, bool]:
    """Kernels of consecutive blocks with input ``res`` x ``res`` x ``cin``.

    Blocks must be concrete (:func:`mhzoo.widths.scale_spec`): an inverted bottleneck's
    ``expansion_filters`` is its expanded width, ``None`` meaning no expansion conv.
    Returns ``(kernels, output resolution, output width, pooled)``. Supports ``Conv``,
    ``InvertedBottleneck`` (regular or fused; no squeeze-excite, no groups) and ``GlobalPool``;
    anything else is a one-line ``ValueError``.
    """
    out: list[Kernel] = []
    h, c = int(res), int(cin)
    for i, b in enumerate(blocks, start=first_index):
        kind = getattr(b, "kind", type(b).__name__)
        if kind == "conv":
            ho = _out(h, b.stride)
            if pooled or h == 1:
                out.append(Kernel("fc", i, 1, 1, 1, 1, c, b.filters))
            else:
                out.append(Kernel("pw" if b.kernel == 1 else "conv", i, b.kernel, b.stride, h,
                                  ho, c, b.filters))
            h, c = ho, b.filters
        elif kind == "pool":
            out.append(Kernel("mean", i, 1, 1, h, 1, c, c))
            h, pooled = 1, True
        elif kind == "ib":
            if b.se_ratio is not None or b.groups != 1:
                raise ValueError(f"block {i}: squeeze-excite / grouped blocks are not modelled")
            # concrete specs (mhzoo.widths.scale_spec) carry the absolute expanded width, None
            # when the block has no expansion conv (as mhzoo.counting reads them)
            expand = b.expansion_filters is not None
            e = b.expansion_filters if expand else c
            ho = _out(h, b.stride)
            if b.fused:
                if expand:
                    out.append(Kernel("conv", i, b.kernel, b.stride, h, ho, c, e))
            else:
                if expand:
                    out.append(Kernel("pw", i, 1, 1, h, h, c, e))
                out.append(Kernel("dw", i, b.kernel, b.stride, h, ho, e, e))
            residual = b.residual and b.stride == 1 and c == b.filters
            exp_elems = float(ho * ho * e + (h * h * e if not b.fused and expand else 0))
            extra = (("expanded", exp_elems), ("skip", float(h * h * c) if residual else 0.0))
            proj = Kernel("pw", i, 1, 1, ho, ho, e, b.filters)
            if residual:
                out.append(proj)
                out.append(Kernel("add", i, 1, 1, ho, ho, b.filters, b.filters, extra))
            else:
                out.append(Kernel(proj.kind, i, 1, 1, ho, ho, e, b.filters, extra))
            h, c = ho, b.filters
        else:
            raise ValueError(f"block {i}: kind {kind!r} is not modelled")
    return out, h, c, pooled


def kernels_of(spec: Any, input_size: int = 224, num_classes: int | None = 1000,
               in_channels: int = 3) -> list[Kernel]:
    """The kernels of a concrete spec in execution order, then the classifier (unless
    ``num_classes`` is ``None``)."""
    out, _, c, _ = kernels_of_blocks(spec.blocks, input_size, in_channels)
    if num_classes:
        out.append(Kernel("fc", -1, 1, 1, 1, 1, c, int(num_classes)))
    return out


def kernel_terms(kern: Kernel, machine: Machine) -> dict[str, float]:
    """Named terms of one kernel (units: millions of multiply-adds, megabytes)."""
    t: dict[str, float] = {}

    def put(name: str, value: float) -> None:
        t[name] = t.get(name, 0.0) + value

    bpe, l2, llc = machine.bytes_per_element, machine.l2_bytes, machine.llc_bytes
    k = kern
    put("count", 1.0)
    if k.kind in ("conv", "pw", "dw"):
        rows = k.hout * k.hout
        depth = k.k * k.k * (1 if k.kind == "dw" else k.cin)
        macs = rows * depth * k.cout
        tile = macs if k.kind == "dw" else math.ceil(rows / machine.gemm_mr) * machine.gemm_mr \
            * depth * k.cout
        b_in, b_out, b_w = k.hin * k.hin * k.cin * bpe, rows * k.cout * bpe, depth * k.cout * bpe
        ws = b_in + b_out + b_w
        p = k.kind
        put(f"{p}_count", 1.0)
        put(f"{p}_macs", macs / 1e6)
        put(f"{p}_macs_tile", tile / 1e6)
        put(f"{p}_in", b_in / 1e6)
        put(f"{p}_out", b_out / 1e6)
        put(f"{p}_w", b_w / 1e6)
        if ws > l2:
            put(f"{p}_in_l2", b_in / 1e6)
            put(f"{p}_out_l2", b_out / 1e6)
        if b_w > l2:
            put(f"{p}_w_l2", b_w / 1e6)
        if ws > llc:
            put(f"{p}_out_llc", b_out / 1e6)
        ctx = f"{p}_r{k.hout}_k{k.k}_s{k.stride}"
        put(f"ctx_macs:{ctx}", macs / 1e6)
        put(f"ctx_out:{ctx}", b_out / 1e6)
        if p == "dw":
            if k.k >= 5:
                put("dw_k5_macs", macs / 1e6)
            if k.stride == 2:
                put("dw_s2_macs", macs / 1e6)
            if k.k >= 5 and k.stride == 2:
                put("dw_k5s2_macs", macs / 1e6)
        else:
            for frac in W_KNOTS:
                if b_w > frac * llc:
                    put(f"w_hinge_{frac:g}llc", (b_w - frac * llc) / 1e6)
            for knot in K_KNOTS:
                if depth > knot:
                    put(f"depth_gt{knot}_macs", macs / 1e6)
            if p == "conv":
                if k.k >= 5:
                    put("conv_k5_macs", macs / 1e6)
                if k.stride == 2:
                    put("conv_s2_macs", macs / 1e6)
            else:
                if depth <= 64:
                    put("pw_small_k_macs", macs / 1e6)
                if k.cout <= 64:
                    put("pw_small_n_macs", macs / 1e6)
    elif k.kind == "add":
        b = 3 * k.hout * k.hout * k.cout * bpe
        put("add_count", 1.0)
        put("add_bytes", b / 1e6)
        if b > l2:
            put("add_bytes_l2", b / 1e6)
    elif k.kind == "mean":
        put("mean_in", k.hin * k.hin * k.cin * bpe / 1e6)
    elif k.kind == "fc":
        put("fc_w", k.cin * k.cout * bpe / 1e6)
    else:
        raise ValueError(f"unknown kernel kind {k.kind!r}")
    extra = dict(k.extra)
    if extra:
        e = extra.get("expanded", 0.0) * bpe
        s = extra.get("skip", 0.0) * bpe
        put("blk_expanded", e / 1e6)
        if e > l2:
            put("blk_expanded_l2", e / 1e6)
        if s > 0:
            put("blk_skip", s / 1e6)
            if s + e > l2:
                put("blk_skip_l2", s / 1e6)
    return t


def network_terms(kernels: Iterable[Kernel], machine: Machine) -> dict[str, float]:
    """Sum of :func:`kernel_terms` over kernels."""
    out: dict[str, float] = {}
    for k in kernels:
        for name, v in kernel_terms(k, machine).items():
            out[name] = out.get(name, 0.0) + v
    return out
