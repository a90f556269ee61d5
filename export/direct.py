"""Latency-only .tflite files written straight from an ``ArchSpec``, without the TF converter.

Latency collection for a search measures thousands of architectures; converting each through
Keras and the TFLite converter costs seconds, writing the flatbuffer directly costs
milliseconds. :func:`spec_to_tflite_bytes` emits the graph that ``mhzoo.export.to_tflite``
produces for the benchmark harness's model (``mhzoo.build(spec, input_shape=(s, s, 3),
batch_size=1)``: [-1, 1] ``Rescaling`` inside, default head: pool, 1000-way classifier,
softmax), operator for operator: the same op sequence and versions, builtin options, tensor
shapes and types, and quantization granularity (``int8_full``: uint8 I/O through QUANTIZE,
per-tensor int8 activations, per-channel int8 conv weights, per-tensor int8 fully-connected
weights (``mhzoo.export.quant`` turns per-channel dense quantization off), per-channel int32
biases). Its weights are seeded random numbers, so the file is good for timing only.

What the converter does to that graph, and this writer repeats:

* batch norm folds into the conv before it, which always gets a bias; ReLU / ReLU6 fuse into
  the op that produces their input; hard-swish becomes HARD_SWISH;
* the squeeze-excite gate ``relu6(x + 3) / 6`` becomes a RELU6-fused 1x1 conv (the ``+ 3``
  folded into its bias), a MUL by a 1/6 constant, then the MUL that gates the feature map;
  the SE 1x1 convs use VALID padding (Keras' default), every other conv SAME;
* ``Flatten`` after a 1 x 1 global pool disappears into FULLY_CONNECTED, whose all-zero
  bias is dropped; without a pool block the head is MEAN (keepdims false) -> FULLY_CONNECTED;
* dropout disappears; the normalization is a MUL and an ADD by scalars;
* grouped 1x1 convs (``InvertedBottleneck.groups``, FBNet's ``_g2`` ops) stay one CONV_2D with
  ``(out, 1, 1, in / groups)`` weights; a model that has one gets CONV_2D version 6 for every
  conv (the converter writes one version per operator code, the highest any op needs).

:func:`compare_structure` lists the differences between two .tflite files under that notion
of equivalence (empty: equivalent); the tests hold the writer to it on every registry model.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from mhzoo.spec import ArchSpec, Conv, DepthwiseSeparable, GlobalPool, InvertedBottleneck
from mhzoo.widths import scale_spec, se_filters

__all__ = ["DIRECT_MODES", "compare_structure", "describe_structure", "spec_to_tflite_bytes"]

#: quantization modes the direct writer produces (those of the local CPU targets)
DIRECT_MODES = ("float32", "int8_full")

# TensorType values of the TFLite schema
_FLOAT32, _INT32, _UINT8, _INT8 = 0, 2, 3, 9
# ActivationFunctionType / Padding values
_ACT_NONE, _ACT_RELU, _ACT_RELU6 = 0, 1, 3
_SAME, _VALID = 0, 1

#: (op, quant) -> the version the TF 2.21 converter writes for mhzoo graphs
_VERSIONS = {
    "float32": {"CONV_2D": 1, "DEPTHWISE_CONV_2D": 1, "ADD": 1, "MUL": 1, "MEAN": 1,
                "FULLY_CONNECTED": 1, "SOFTMAX": 1, "HARD_SWISH": 1},
    "int8_full": {"CONV_2D": 3, "DEPTHWISE_CONV_2D": 3, "ADD": 2, "MUL": 2, "MEAN": 2,
                  "FULLY_CONNECTED": 4, "SOFTMAX": 2, "HARD_SWISH": 1, "QUANTIZE": 1},
}

#: CONV_2D version of a model with a grouped conv (TF 2.21 converter, float32 and int8)
_GROUPED_CONV_VERSION = 6

# int8 activation quantization (scale, zero point) by what produced the tensor; the values
# are those of a well-scaled network, so every requantization multiplier is in a normal range
_Q_RELU = (0.05, -128)
_Q_RELU6 = (6.0 / 255.0, -128)
_Q_LINEAR = (0.05, 0)
_Q_HSWISH = (0.05, -10)
_Q_GATE = (3.0 / 255.0, -128)  # relu6-fused SE expand conv (the +3 folded into its bias)


#: random int8 values that weights are cut from (one pool per process, fixed seed); a model's
#: seed picks where each tensor's values start, which keeps writing at memory-copy speed
_POOL_SIZE = 1 << 22
_POOL: np.ndarray | None = None


def _pool() -> np.ndarray:
    global _POOL
    if _POOL is None:
        pool = np.frombuffer(np.random.default_rng(0x6D687A6F).bytes(_POOL_SIZE), np.int8).copy()
        np.maximum(pool, -127, out=pool)  # symmetric weight range [-127, 127], as the converter's
        _POOL = pool
    return _POOL


@dataclass
class _Tensor:
    shape: tuple[int, ...]
    dtype: int
    name: str
    data: bytes | None = None  # small constants
    scale: np.ndarray | None = None
    zero_point: np.ndarray | None = None
    quantized_dimension: int = 0
    fill: Callable[[memoryview], None] | None = None  # large constants, written in place
    nbytes: int = 0

    @property
    def is_const(self) -> bool:
        return self.data is not None or self.fill is not None


@dataclass
class _Op:
    name: str
    inputs: list[int]
    outputs: list[int]
    options: Any = None  # an Object-API ...OptionsT of the schema, or None


class _Graph:
    """Tensors and operators of one subgraph, with random weights from one generator."""

    def __init__(self, quant: str, seed: int) -> None:
        from ai_edge_litert import schema_py_generated as schema

        self.S = schema
        self.quant = quant
        self.int8 = quant == "int8_full"
        self.rng = np.random.default_rng(seed)
        self.tensors: list[_Tensor] = []
        self.ops: list[_Op] = []
        self.grouped = False  # a grouped conv raises every CONV_2D to version 6

    # ------------------------------------------------------------------ tensors
    def tensor(self, shape: tuple[int, ...], name: str, q: tuple[float, int] | None = None,
               dtype: int | None = None) -> int:
        if dtype is None:
            dtype = _INT8 if self.int8 else _FLOAT32
        t = _Tensor(tuple(int(s) for s in shape), dtype, name)
        if q is not None and dtype != _FLOAT32:
            t.scale = np.array([q[0]], np.float32)
            t.zero_point = np.array([q[1]], np.int64)
        self.tensors.append(t)
        return len(self.tensors) - 1

    def const(self, shape: tuple[int, ...], name: str, dtype: int, data: bytes | None,
              scale: np.ndarray | None = None, zero_point: np.ndarray | None = None,
              qdim: int = 0, fill: Callable[[memoryview], None] | None = None,
              nbytes: int = 0) -> int:
        t = _Tensor(tuple(int(s) for s in shape), dtype, name, data, scale, zero_point, qdim,
                    fill, len(data) if data is not None else nbytes)
        self.tensors.append(t)
        return len(self.tensors) - 1

    def q(self, idx: int) -> tuple[float, int]:
        t = self.tensors[idx]
        assert t.scale is not None and t.zero_point is not None
        return float(t.scale[0]), int(t.zero_point[0])

    def shape(self, idx: int) -> tuple[int, ...]:
        return self.tensors[idx].shape

    def _pool_filler(self, n: int, dtype: type, factor: float | None) -> Callable:
        """Writes ``n`` random values into a buffer: int8 pool values, or float32 ones times
        ``factor``; the start offsets come from this model's generator."""
        starts = self.rng.integers(0, _POOL_SIZE, -(-n // _POOL_SIZE))

        def fill(out: memoryview) -> None:
            pool, dst = _pool(), np.frombuffer(out, dtype)
            for j, start in enumerate(starts):
                lo = j * _POOL_SIZE
                m = min(_POOL_SIZE, n - lo)
                first = min(m, _POOL_SIZE - int(start))
                parts = ((lo, int(start), first), (lo + first, 0, m - first))
                for at, src, k in parts:
                    if k == 0:
                        continue
                    if factor is None:
                        dst[at:at + k] = pool[src:src + k]
                    else:
                        np.multiply(pool[src:src + k], np.float32(factor), out=dst[at:at + k])
        return fill

    def weights(self, shape: tuple[int, ...], name: str, fan_in: int, qdim: int,
                gain: float = 2.0, per_tensor: bool = False) -> int:
        """A conv / FC weight tensor: He-uniform float32, or int8 with per-channel scales
        (one scale when ``per_tensor``: the converter's fully-connected weights)."""
        n = int(np.prod(shape))
        if not self.int8:
            bound = math.sqrt(3.0 * gain / fan_in)
            return self.const(shape, name, _FLOAT32, None,
                              fill=self._pool_filler(n, np.float32, bound / 127.0), nbytes=4 * n)
        channels = 1 if per_tensor else shape[qdim]
        scale = ((0.5 + self.rng.random(channels)) * (0.02 / math.sqrt(fan_in))).astype(
            np.float32)
        return self.const(shape, name, _INT8, None, scale, np.zeros(channels, np.int64), qdim,
                          fill=self._pool_filler(n, np.int8, None), nbytes=n)

    def bias(self, n: int, name: str, input_idx: int, weight_idx: int, value: float = 0.0
             ) -> int:
        """Per-channel bias: float ``value`` (0: batch norm at its initial statistics; 3: the
        SE gate's folded ``+ 3``), or int32 with scale input scale x weight scale (quantized
        dimension 0)."""
        if not self.int8:  # the builder's memory starts zeroed: nothing to write
            if value:
                return self.const((n,), name, _FLOAT32, np.full(n, value, np.float32).tobytes())
            return self.const((n,), name, _FLOAT32, None, fill=_no_fill, nbytes=4 * n)
        scale = (self.q(input_idx)[0] * self.tensors[weight_idx].scale).astype(np.float32)
        values = self.rng.integers(-64, 65, n, dtype=np.int32)
        return self.const((n,), name, _INT32, values.tobytes(), scale, np.zeros(n, np.int64))

    def scalar(self, value: float, name: str, q: tuple[float, int]) -> int:
        """A 0-d constant (float32, or int8 with per-tensor ``q``)."""
        if not self.int8:
            return self.const((), name, _FLOAT32, np.float32(value).tobytes())
        raw = int(np.clip(round(value / q[0]) + q[1], -128, 127))
        return self.const((), name, _INT8, np.int8(raw).tobytes(),
                          np.array([q[0]], np.float32), np.array([q[1]], np.int64))

    # ------------------------------------------------------------------ ops
    def op(self, name: str, inputs: list[int], outputs: list[int], options: Any = None) -> int:
        self.ops.append(_Op(name, inputs, outputs, options))
        return outputs[0]

    def conv(self, x: int, filters: int, k: int, stride: int, act: str | None, name: str, *,
             padding: int = _SAME, groups: int = 1) -> int:
        """CONV_2D (+ HARD_SWISH) with batch norm folded (always a bias); ``groups`` > 1 is a
        grouped conv (weights ``(filters, k, k, cin / groups)``)."""
        _, h, w, cin = self.shape(x)
        if groups > 1:
            if cin % groups or filters % groups:
                raise ValueError(f"{name}: {cin} -> {filters} channels are not divisible by "
                                 f"groups {groups}")
            self.grouped = True
        oh, ow = _out_size(h, k, stride, padding), _out_size(w, k, stride, padding)
        cg = cin // groups
        wt = self.weights((filters, k, k, cg), f"{name}/kernel", k * k * cg, 0,
                          gain=1.0 if act is None else 2.0)
        b = self.bias(filters, f"{name}/bias", x, wt, 3.0 if act == "gate" else 0.0)
        return self._fused(x, "CONV_2D", [x, wt, b], (1, oh, ow, filters), act, name,
                           lambda fused: self._conv_options(padding, stride, fused))

    def dwconv(self, x: int, k: int, stride: int, act: str, name: str) -> int:
        _, h, w, c = self.shape(x)
        oh, ow = _out_size(h, k, stride, _SAME), _out_size(w, k, stride, _SAME)
        wt = self.weights((1, k, k, c), f"{name}/depthwise_kernel", k * k, 3)
        b = self.bias(c, f"{name}/bias", x, wt)

        def options(fused: int) -> Any:
            o = self.S.DepthwiseConv2DOptionsT()
            o.padding, o.strideH, o.strideW = _SAME, stride, stride
            o.depthMultiplier, o.fusedActivationFunction = 1, fused
            o.dilationHFactor = o.dilationWFactor = 1
            return o

        return self._fused(x, "DEPTHWISE_CONV_2D", [x, wt, b], (1, oh, ow, c), act, name, options)

    def _conv_options(self, padding: int, stride: int, fused: int) -> Any:
        o = self.S.Conv2DOptionsT()
        o.padding, o.strideH, o.strideW, o.fusedActivationFunction = padding, stride, stride, fused
        o.dilationHFactor = o.dilationWFactor = 1
        return o

    def _fused(self, x: int, op: str, inputs: list[int], shape: tuple[int, ...],
               act: str | None, name: str, options: Any) -> int:
        fused = {"relu": _ACT_RELU, "relu6": _ACT_RELU6, "gate": _ACT_RELU6}.get(act or "",
                                                                                 _ACT_NONE)
        q = {"relu": _Q_RELU, "relu6": _Q_RELU6, "gate": _Q_GATE}.get(act or "", _Q_LINEAR)
        y = self.op(op, inputs, [self.tensor(shape, name, q)], options(fused))
        if act == "hard_swish":
            y = self.op("HARD_SWISH", [y], [self.tensor(shape, f"{name}/hard_swish", _Q_HSWISH)])
        return y

    def add(self, a: int, b: int, name: str, q: tuple[float, int] = _Q_LINEAR) -> int:
        o = self.S.AddOptionsT()
        o.fusedActivationFunction = _ACT_NONE
        return self.op("ADD", [a, b], [self.tensor(self.shape(a), name, q)], o)

    def mul(self, a: int, b: int, name: str, q: tuple[float, int]) -> int:
        o = self.S.MulOptionsT()
        o.fusedActivationFunction = _ACT_NONE
        return self.op("MUL", [a, b], [self.tensor(self.shape(a), name, q)], o)

    def mean(self, x: int, name: str, keepdims: bool) -> int:
        _, _, _, c = self.shape(x)
        axes = self.const((2,), f"{name}/axes", _INT32, np.array([1, 2], np.int32).tobytes())
        o = self.S.ReducerOptionsT()
        o.keepDims = keepdims
        q = None
        if self.int8:
            s, z = self.q(x)
            q = (s * 0.75, z)  # the converter's pooled scales differ from their inputs'
        shape = (1, 1, 1, c) if keepdims else (1, c)
        return self.op("MEAN", [x, axes], [self.tensor(shape, name, q)], o)

    # ------------------------------------------------------------------ blocks
    def block(self, x: int, i: int, b: Any) -> int:
        p = f"block{i}"
        if isinstance(b, Conv):
            return self.conv(x, b.filters, b.kernel, b.stride, b.activation, f"{p}_conv")
        if isinstance(b, DepthwiseSeparable):
            x = self.dwconv(x, b.kernel, b.stride, b.activation, f"{p}_dw")
            return self.conv(x, b.filters, 1, 1, b.activation, f"{p}_pw")
        if isinstance(b, InvertedBottleneck):
            shortcut, cin = x, self.shape(x)[-1]
            inner = cin
            if b.expansion_filters is not None:
                inner = b.expansion_filters
                k, s = (b.kernel, b.stride) if b.fused else (1, 1)
                x = self.conv(x, inner, k, s, b.activation, f"{p}_expand",
                              groups=1 if b.fused else b.groups)
            if not b.fused:
                x = self.dwconv(x, b.kernel, b.stride, b.activation, f"{p}_dw")
            if b.se_ratio is not None:
                x = self.squeeze_excite(x, inner, se_filters(inner, b.se_ratio), p)
            x = self.conv(x, b.filters, 1, 1, None, f"{p}_project", groups=b.groups)
            if b.residual and b.stride == 1 and cin == b.filters:
                x = self.add(shortcut, x, f"{p}_add")
            return x
        if isinstance(b, GlobalPool):
            return self.mean(x, f"{p}_pool", keepdims=True)
        raise ValueError(f"the direct writer cannot write block {b!r}")

    def squeeze_excite(self, x: int, channels: int, squeeze: int, p: str) -> int:
        s = self.mean(x, f"{p}_se_pool", keepdims=True)
        s = self.conv(s, squeeze, 1, 1, "relu", f"{p}_se_reduce", padding=_VALID)
        s = self.conv(s, channels, 1, 1, "gate", f"{p}_se_expand", padding=_VALID)
        sixth = self.scalar(1.0 / 6.0, f"{p}_se_gate/sixth", (1.0 / 6.0 / 255.0, -128))
        s = self.mul(s, sixth, f"{p}_se_gate", (0.5 / 255.0, -128))
        xs, xz = self.q(x) if self.int8 else (0.0, 0)
        return self.mul(x, s, f"{p}_se_mul", (xs * 0.5, xz))


def _no_fill(out: memoryview) -> None:
    """Leaves a buffer as the builder allocated it: zeros."""


def _out_size(size: int, k: int, stride: int, padding: int) -> int:
    if padding == _SAME:
        return -(-size // stride)
    return (size - k) // stride + 1


def _check_supported(spec: ArchSpec) -> None:
    if spec.padding != "same":
        raise ValueError(f"{spec.name}: the direct writer supports padding 'same' only, not "
                         f"{spec.padding!r}; export this spec with mhzoo.export.to_tflite")
    if spec.se_gate != "hard_sigmoid" and any(
            isinstance(b, InvertedBottleneck) and b.se_ratio is not None for b in spec.blocks):
        raise ValueError(f"{spec.name}: the direct writer supports the hard-sigmoid SE gate "
                         f"only, not {spec.se_gate!r}; export it with mhzoo.export.to_tflite")


def spec_to_tflite_bytes(spec: ArchSpec, *, quant: str, input_size: int = 224,
                         num_classes: int = 1000, seed: int = 0, width: float = 1.0,
                         divisible_by: int | None = None) -> bytes:
    """A latency-only .tflite of ``spec`` with seeded random weights, without the converter.

    The graph is that of ``mhzoo.export.to_tflite(mhzoo.build(spec, width,
    input_shape=(input_size, input_size, 3), batch_size=1, num_classes=num_classes,
    divisible_by=divisible_by), quant=quant)``, which is what the benchmark harness times.

    Args:
        spec: an ``ArchSpec`` (a concrete one, or a base spec scaled by ``width``).
        quant: ``"float32"`` or ``"int8_full"`` (integer-only, uint8 input and output).
        input_size: square input resolution (at least 32 px).
        num_classes: classifier width.
        seed: seed of the random weights (same arguments, same bytes).
        width, divisible_by: width multiplier and rule, as in ``mhzoo.build``.

    Returns:
        The flatbuffer bytes (``TFL3``), loadable by LiteRT.

    Raises:
        ValueError: an unknown mode, a bad size / class count, or a spec feature this writer
            does not emit (symmetric padding, sigmoid SE gate).
    """
    if quant not in DIRECT_MODES:
        raise ValueError(f"the direct writer supports quant modes {', '.join(DIRECT_MODES)}, "
                         f"not {quant!r}")
    if isinstance(input_size, bool) or not isinstance(input_size, int) or input_size < 32:
        raise ValueError(f"input_size must be an integer >= 32, got {input_size!r}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be an integer >= 1, got {num_classes!r}")
    if not isinstance(spec, ArchSpec):
        raise ValueError(f"expected an ArchSpec, got {type(spec).__name__}")
    concrete = scale_spec(spec, width, divisible_by)
    _check_supported(concrete)
    g = _Graph(quant, seed)
    shape = (1, input_size, input_size, 3)
    if g.int8:
        image = g.tensor(shape, "image", (1.0, 0), dtype=_UINT8)
        x = g.op("QUANTIZE", [image], [g.tensor(shape, "image_int8", (1.0, -128))])
        # Rescaling(1/127.5, -1): [0, 255] -> [0, 2] -> [-1, 1]
        scale = g.scalar(1 / 127.5, "preprocessing/scale", (1 / 127.5 / 255.0, -128))
        x = g.mul(x, scale, "preprocessing/mul", (2.0 / 255.0, -128))
        offset = g.scalar(-1.0, "preprocessing/offset", (1 / 255.0, 127))
        x = g.add(x, offset, "preprocessing", (2.0 / 255.0, -1))
    else:
        image = x = g.tensor(shape, "image")
        x = g.mul(x, g.scalar(1 / 127.5, "preprocessing/scale", (0, 0)), "preprocessing/mul",
                  (0, 0))
        x = g.add(x, g.scalar(-1.0, "preprocessing/offset", (0, 0)), "preprocessing")
    for i, b in enumerate(concrete.blocks):
        x = g.block(x, i, b)
    if not any(isinstance(b, GlobalPool) for b in concrete.blocks):
        x = g.mean(x, "avg_pool", keepdims=False)
    c = g.shape(x)[-1]
    wt = g.weights((num_classes, c), "classifier/kernel", c, 0, gain=1.0, per_tensor=True)
    fc = g.S.FullyConnectedOptionsT()
    logits = g.op("FULLY_CONNECTED", [x, wt, -1],
                  [g.tensor((1, num_classes), "classifier", (0.1, 0))], fc)
    sm = g.S.SoftmaxOptionsT()
    sm.beta = 1.0
    probs = g.op("SOFTMAX", [logits], [g.tensor((1, num_classes), "predictions",
                                                 (1 / 256, -128))], sm)
    if g.int8:
        probs = g.op("QUANTIZE", [probs], [g.tensor((1, num_classes), "predictions_uint8",
                                                    (1 / 256, 0), dtype=_UINT8)])
    return _serialize(g, [image], [probs])


# ---------------------------------------------------------------------- flatbuffer writing
def _serialize(g: _Graph, inputs: list[int], outputs: list[int]) -> bytes:
    import flatbuffers

    S = g.S  # noqa: N806  (the schema module, as everywhere in mhzoo)
    total = sum(t.nbytes + 16 for t in g.tensors if t.is_const)
    b = flatbuffers.Builder(total + 64 * 1024 + 256 * (len(g.tensors) + len(g.ops)))

    def ivec(values: list[int] | tuple[int, ...]) -> int:
        return b.CreateNumpyVector(np.asarray(values, np.int32))

    def offsets(items: list[int]) -> int:
        b.StartVector(4, len(items), 4)
        for off in reversed(items):
            b.PrependUOffsetTRelative(off)
        return b.EndVector()

    # buffers: 0 is the empty sentinel, then one per constant tensor (data 16-byte aligned)
    buffer_of: dict[int, int] = {}
    buffer_offs = []
    S.BufferStart(b)
    buffer_offs.append(S.BufferEnd(b))
    for ti, t in enumerate(g.tensors):
        if not t.is_const:
            continue
        b.StartVector(1, t.nbytes, 16)
        b.head -= t.nbytes
        if t.data is not None:
            b.Bytes[b.head:b.head + t.nbytes] = t.data
        else:
            assert t.fill is not None
            with memoryview(b.Bytes) as view:
                t.fill(view[b.head:b.head + t.nbytes])
        data = b.EndVector()
        S.BufferStart(b)
        S.BufferAddData(b, data)
        buffer_of[ti] = len(buffer_offs)
        buffer_offs.append(S.BufferEnd(b))

    tensor_offs = []
    for ti, t in enumerate(g.tensors):
        name = b.CreateString(t.name)
        shape = ivec(t.shape)
        quant = None
        if t.scale is not None:
            scale = b.CreateNumpyVector(t.scale.astype(np.float32))
            zp = b.CreateNumpyVector(t.zero_point.astype(np.int64))
            S.QuantizationParametersStart(b)
            S.QuantizationParametersAddScale(b, scale)
            S.QuantizationParametersAddZeroPoint(b, zp)
            S.QuantizationParametersAddQuantizedDimension(b, t.quantized_dimension)
            quant = S.QuantizationParametersEnd(b)
        S.TensorStart(b)
        S.TensorAddShape(b, shape)
        S.TensorAddType(b, t.dtype)
        S.TensorAddBuffer(b, buffer_of.get(ti, 0))
        S.TensorAddName(b, name)
        if quant is not None:
            S.TensorAddQuantization(b, quant)
        tensor_offs.append(S.TensorEnd(b))

    codes: dict[tuple[str, int], int] = {}
    op_offs = []
    versions = dict(_VERSIONS[g.quant])
    if g.grouped:
        versions["CONV_2D"] = _GROUPED_CONV_VERSION
    options_type = {name: getattr(S.BuiltinOptions, name) for name in (
        "Conv2DOptions", "DepthwiseConv2DOptions", "AddOptions", "MulOptions", "ReducerOptions",
        "FullyConnectedOptions", "SoftmaxOptions")}
    for op in g.ops:
        key = (op.name, versions[op.name])
        index = codes.setdefault(key, len(codes))
        ins, outs = ivec(op.inputs), ivec(op.outputs)
        opts = op.options.Pack(b) if op.options is not None else None
        S.OperatorStart(b)
        S.OperatorAddOpcodeIndex(b, index)
        S.OperatorAddInputs(b, ins)
        S.OperatorAddOutputs(b, outs)
        if opts is not None:
            S.OperatorAddBuiltinOptionsType(
                b, options_type[type(op.options).__name__[:-1]])
            S.OperatorAddBuiltinOptions(b, opts)
        op_offs.append(S.OperatorEnd(b))

    code_offs = []
    for name, version in codes:
        code = getattr(S.BuiltinOperator, name)
        S.OperatorCodeStart(b)
        S.OperatorCodeAddDeprecatedBuiltinCode(b, min(code, 127))
        S.OperatorCodeAddBuiltinCode(b, code)
        S.OperatorCodeAddVersion(b, version)
        code_offs.append(S.OperatorCodeEnd(b))

    sg_tensors, sg_ops = offsets(tensor_offs), offsets(op_offs)
    sg_in, sg_out = ivec(inputs), ivec(outputs)
    sg_name = b.CreateString("main")
    S.SubGraphStart(b)
    S.SubGraphAddTensors(b, sg_tensors)
    S.SubGraphAddInputs(b, sg_in)
    S.SubGraphAddOutputs(b, sg_out)
    S.SubGraphAddOperators(b, sg_ops)
    S.SubGraphAddName(b, sg_name)
    subgraph = S.SubGraphEnd(b)

    codes_vec, subgraphs = offsets(code_offs), offsets([subgraph])
    buffers = offsets(buffer_offs)
    desc = b.CreateString("mhzoo direct writer (latency only, random weights)")
    S.ModelStart(b)
    S.ModelAddVersion(b, 3)
    S.ModelAddOperatorCodes(b, codes_vec)
    S.ModelAddSubgraphs(b, subgraphs)
    S.ModelAddDescription(b, desc)
    S.ModelAddBuffers(b, buffers)
    b.Finish(S.ModelEnd(b), file_identifier=b"TFL3")
    with memoryview(b.Bytes) as view:
        return bytes(view[b.head:])


# ---------------------------------------------------------------------- structure comparison
def _enum_names(enum: type) -> dict[int, str]:
    return {v: k for k, v in vars(enum).items() if not k.startswith("_") and isinstance(v, int)}


def _granularity(t: Any) -> str:
    q = t.quantization
    n = 0 if q is None or q.scale is None else len(q.scale)
    if n == 0:
        return "none"
    if n == 1:
        return "per-tensor"
    return f"per-channel(dim {q.quantizedDimension}, {n})"


def describe_structure(model: bytes) -> dict[str, Any]:
    """What :func:`compare_structure` compares, as plain data: the subgraph's input / output
    tensors and, per operator, its name, version, builtin options and the shape, type, kind
    (constant or not) and quantization granularity of each input and output."""
    from ai_edge_litert import schema_py_generated as S

    if len(model) < 8 or not S.Model.ModelBufferHasIdentifier(model, 0):
        raise ValueError("not a TFLite model (no TFL3 flatbuffer identifier)")
    ops_by_code, types = _enum_names(S.BuiltinOperator), _enum_names(S.TensorType)
    m = S.ModelT.InitFromPackedBuf(model, 0)
    if len(m.subgraphs) != 1:
        raise ValueError(f"expected one subgraph, found {len(m.subgraphs)}")
    sg = m.subgraphs[0]

    def tensor(i: int) -> tuple[Any, ...]:
        if i < 0:
            return ("absent",)
        t = sg.tensors[i]
        buf = m.buffers[t.buffer] if t.buffer < len(m.buffers) else None
        const = buf is not None and buf.data is not None and len(buf.data) > 0
        shape = tuple(int(s) for s in t.shape) if t.shape is not None else ()
        return ("const" if const else "tensor", shape, types.get(t.type, str(t.type)),
                _granularity(t))

    ops = []
    for op in sg.operators:
        oc = m.operatorCodes[op.opcodeIndex]
        code = max(oc.builtinCode, oc.deprecatedBuiltinCode)
        opts = op.builtinOptions
        options = {k: v for k, v in sorted(vars(opts).items())} if opts is not None else {}
        ops.append({"op": ops_by_code.get(code, str(code)), "version": int(oc.version),
                    "options": options, "inputs": [tensor(int(i)) for i in op.inputs],
                    "outputs": [tensor(int(i)) for i in op.outputs]})
    return {"inputs": [tensor(int(i)) for i in sg.inputs],
            "outputs": [tensor(int(i)) for i in sg.outputs], "ops": ops}


def _fmt_op(op: dict[str, Any]) -> str:
    def t(x: tuple[Any, ...]) -> str:
        return "-" if x[0] == "absent" else f"{'C' if x[0] == 'const' else ''}{x[2]}" \
            f"{list(x[1])}{'' if x[3] == 'none' else ' ' + x[3]}"
    return f"{op['op']} v{op['version']} ({', '.join(t(x) for x in op['inputs'])} -> " \
           f"{', '.join(t(x) for x in op['outputs'])})"


def compare_structure(a: bytes, b: bytes) -> list[str]:
    """Differences between two .tflite files that can change their latency (empty: equivalent).

    Compared: the subgraph inputs and outputs, the operator sequence with each operator's
    version and builtin options, and each operator tensor's shape, type, constness and
    quantization granularity (none, per-tensor, or per-channel with its dimension). Not
    compared: weight values, quantization scales and zero points, names, buffer layout and
    metadata.
    """
    da, db = describe_structure(a), describe_structure(b)
    diffs: list[str] = []
    for key in ("inputs", "outputs"):
        if da[key] != db[key]:
            diffs.append(f"model {key}: {da[key]} != {db[key]}")
    ops_a, ops_b = da["ops"], db["ops"]
    if len(ops_a) != len(ops_b):
        diffs.append(f"operator count: {len(ops_a)} != {len(ops_b)}")
    for i, (x, y) in enumerate(zip(ops_a, ops_b)):
        if (x["op"], x["version"], x["inputs"], x["outputs"]) != (
                y["op"], y["version"], y["inputs"], y["outputs"]):
            diffs.append(f"op {i}: {_fmt_op(x)} != {_fmt_op(y)}")
        elif x["options"] != y["options"]:
            diffs.append(f"op {i} {x['op']}: options {x['options']} != {y['options']}")
        if len(diffs) >= 20:
            diffs.append("... (further differences not listed)")
            break
    return diffs
