"""TFLite classification models -> float mhzoo weights (e.g. the Model Garden's int8 Multi-AVG).

A ``.tflite`` keeps no layer names worth trusting, so the mapping is by structure: the
operators that carry weights (``CONV_2D``, ``DEPTHWISE_CONV_2D``, ``FULLY_CONNECTED``) are
taken in execution order and matched one by one to the convolutions the registry spec
implies (stem, expansion, depthwise, squeeze-excite, projection, head, classifier). Each is
checked for kind, kernel size, stride, padding, fused activation, input channels and data flow
(its input must come from the previous weighted operator, through non-weighted operators
only); the first operator that does not fit raises one line naming it and the block.

Weights are dequantized (int8 per-channel or per-tensor scales, int32 biases, float16 weights
behind ``DEQUANTIZE``), moved to Keras layout (``OHWI`` -> ``HWIO``, depthwise ``1HWC`` ->
``HWC1``, fully connected ``OI`` -> ``IO``). The converter folded every batch norm into its
convolution, so each batch norm becomes the identity (gamma 1, mean 0, variance 1 - eps) with
the folded bias as beta: the Keras model computes what the TFLite graph computes, in float.

Input normalization. Elementwise ``MUL`` / ``ADD`` / ``SUB`` / ``DIV`` by constants, or a
1x1 ``DEPTHWISE_CONV_2D`` on the 3 input channels, between the input and the stem are
composed (with the input's quantization, pixels fed as they are) into mean / std. When the graph
has none (the Model Garden exports with ``input_type=tflite`` expect normalized images),
the caller's ``preprocessing`` is used and the config records that it did not come from the
graph.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mhzoo.preprocessing import Preprocessing
from mhzoo.registry import get_spec
from mhzoo.spec import ArchSpec, Conv, DepthwiseSeparable, GlobalPool, InvertedBottleneck
from mhzoo.weights.fit import Converted, fit_classifier, fit_units, infer_width

__all__ = ["TFLiteGraph", "convert_tflite"]

WEIGHTED = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
_AFFINE = ("MUL", "ADD", "SUB", "DIV")
_PASS = ("QUANTIZE", "DEQUANTIZE", "CAST")
#: spec activation -> the fused activation the TFLite converter writes for it
_FUSED = {"relu": "RELU", "relu6": "RELU6", None: "NONE", "linear": "NONE",
          "hard_swish": "NONE", "swish": "NONE"}
_NP_TYPES = {"FLOAT32": np.float32, "FLOAT16": np.float16, "INT8": np.int8, "UINT8": np.uint8,
             "INT16": np.int16, "INT32": np.int32, "INT64": np.int64}


def _enum_names(enum: type) -> dict[int, str]:
    return {v: k for k, v in vars(enum).items() if not k.startswith("_") and isinstance(v, int)}


@dataclass
class _Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    scale: np.ndarray | None
    zero_point: np.ndarray | None
    axis: int
    raw: np.ndarray | None  # constant buffer contents (typed), None for activations


@dataclass
class _Op:
    index: int
    name: str
    inputs: list[int]
    outputs: list[int]
    options: Any

    def opt(self, attr: str, default: Any = None) -> Any:
        return getattr(self.options, attr, default) if self.options is not None else default


class TFLiteGraph:
    """Subgraph 0 of a TFLite flatbuffer: tensors, operators in execution order, constants."""

    def __init__(self, data: bytes) -> None:
        from ai_edge_litert import schema_py_generated as S

        if len(data) < 8 or not S.Model.ModelBufferHasIdentifier(data, 0):
            raise ValueError("not a TFLite model (no TFL3 flatbuffer identifier); is the file "
                             "corrupt or truncated?")
        try:
            m = S.ModelT.InitFromPackedBuf(data, 0)
        except Exception as exc:  # garbage flatbuffers raise struct / index errors
            raise ValueError(f"cannot parse the TFLite flatbuffer ({type(exc).__name__}); the "
                             "file is corrupt or truncated") from None
        if not m.subgraphs:
            raise ValueError("the TFLite model has no subgraph")
        ops_by_code = _enum_names(S.BuiltinOperator)
        types = _enum_names(S.TensorType)
        codes = [ops_by_code.get(max(c.builtinCode, c.deprecatedBuiltinCode), "CUSTOM")
                 for c in m.operatorCodes]
        sg = m.subgraphs[0]
        self.tensors: list[_Tensor] = []
        for i, t in enumerate(sg.tensors):
            dtype = types.get(t.type, str(t.type))
            raw = None
            buf = m.buffers[t.buffer] if 0 < t.buffer < len(m.buffers) else None
            if buf is not None and buf.data is not None and len(buf.data):
                if dtype not in _NP_TYPES:
                    raise ValueError(f"tensor {i} ({dtype}) has a constant type mhzoo cannot read")
                shape = tuple(int(x) for x in (t.shape if t.shape is not None else ()))
                arr = np.frombuffer(np.asarray(buf.data, np.uint8).tobytes(), _NP_TYPES[dtype])
                if arr.size != int(np.prod(shape)):
                    raise ValueError(f"tensor {i} holds {arr.size} values for shape {shape}; "
                                     "the file is corrupt")
                raw = arr.reshape(shape)
            elif buf is not None and getattr(buf, "offset", 0) > 1:
                shape = tuple(int(x) for x in (t.shape if t.shape is not None else ()))
                if dtype not in _NP_TYPES or buf.offset + buf.size > len(data):
                    raise ValueError(f"tensor {i} ({dtype}) has an unreadable constant buffer; "
                                     "the file is corrupt or truncated")
                arr = np.frombuffer(data[buf.offset:buf.offset + buf.size], _NP_TYPES[dtype])
                if arr.size != int(np.prod(shape)):
                    raise ValueError(f"tensor {i} holds {arr.size} values for shape {shape}; "
                                     "the file is corrupt")
                raw = arr.reshape(shape)
            q = t.quantization
            scale = zp = None
            axis = 0
            if q is not None and q.scale is not None and len(q.scale):
                scale = np.asarray(q.scale, np.float64)
                zp = np.asarray(q.zeroPoint if q.zeroPoint is not None else [0] * len(scale),
                                np.int64)
                axis = int(q.quantizedDimension)
                dims = t.shape if t.shape is not None else ()
                if zp.size != scale.size or (scale.size > 1 and (
                        axis >= len(dims) or dims[axis] != scale.size)):
                    raise ValueError(f"tensor {i} has {scale.size} quantization scales and "
                                     f"{zp.size} zero points for shape {tuple(dims)} (axis "
                                     f"{axis}); the file is corrupt")
            name = t.name.decode() if isinstance(t.name, bytes) else str(t.name or "")
            self.tensors.append(_Tensor(i, name, tuple(int(x) for x in (
                t.shape if t.shape is not None else ())), dtype, scale, zp, axis, raw))
        self.ops = [_Op(i, codes[o.opcodeIndex] if o.opcodeIndex < len(codes) else "?",
                        [int(x) for x in (o.inputs if o.inputs is not None else [])],
                        [int(x) for x in (o.outputs if o.outputs is not None else [])],
                        o.builtinOptions) for i, o in enumerate(sg.operators)]
        self.inputs = [int(x) for x in (sg.inputs if sg.inputs is not None else [])]
        self.outputs = [int(x) for x in (sg.outputs if sg.outputs is not None else [])]
        self.producer = {t: op for op in self.ops for t in op.outputs}
        self.padding = {v: k for k, v in vars(S.Padding).items() if not k.startswith("_")}
        self.activation = {v: k for k, v in vars(S.ActivationFunctionType).items()
                           if not k.startswith("_")}

    def value(self, index: int) -> np.ndarray | None:
        """A constant tensor in float (dequantized; through ``DEQUANTIZE`` of a constant), or
        ``None`` when the tensor is computed at run time."""
        if index < 0:
            return None
        t = self.tensors[index]
        if t.raw is None:
            op = self.producer.get(index)
            if op is not None and op.name == "DEQUANTIZE" and len(op.inputs) == 1:
                return self.value(op.inputs[0])
            return None
        if t.dtype in ("FLOAT32", "FLOAT16"):
            return t.raw.astype(np.float32)
        if t.scale is None:
            raise ValueError(f"tensor {index} ({t.name or 'unnamed'}) is {t.dtype} without "
                             "quantization parameters: its real values cannot be recovered")
        shape = [1] * t.raw.ndim
        if t.scale.size > 1:
            shape[t.axis] = t.scale.size
        scale = t.scale.reshape(shape) if t.raw.ndim else t.scale
        zp = t.zero_point.reshape(shape) if t.raw.ndim else t.zero_point
        return ((t.raw.astype(np.float64) - zp) * scale).astype(np.float32)

    def sources(self, index: int) -> set[int]:
        """Indices of the weighted operators whose outputs reach tensor ``index`` through
        non-weighted operators only (``-1``: the graph input)."""
        seen, out, todo = set(), set(), [index]
        while todo:
            t = todo.pop()
            if t in seen or t < 0:
                continue
            seen.add(t)
            if t in self.inputs:
                out.add(-1)
            op = self.producer.get(t)
            if op is None:
                continue
            if op.name in WEIGHTED:
                out.add(op.index)
            else:
                todo.extend(i for i in op.inputs if self.tensors[i].raw is None)
        return out

    def describe(self, op: _Op) -> str:
        w = self.tensors[op.inputs[1]].shape if len(op.inputs) > 1 else ()
        stride = (op.opt("strideH"), op.opt("strideW")) if op.name != "FULLY_CONNECTED" else None
        return f"operator {op.index} {op.name} weights {w}" + (
            f" stride {stride[0]}" if stride else "")


@dataclass(frozen=True)
class _Slot:
    """One weighted operator the spec implies."""

    block: int
    role: str  # conv, dw, pw, expand, se_reduce, se_expand, project, classifier
    kind: str  # conv or dw or fc
    kernel: int
    stride: int
    activation: str | None


def _slots(spec: ArchSpec, include_top: bool) -> list[_Slot]:
    out: list[_Slot] = []
    for i, b in enumerate(spec.blocks):
        if isinstance(b, Conv):
            out.append(_Slot(i, "conv", "conv", b.kernel, b.stride, b.activation))
        elif isinstance(b, DepthwiseSeparable):
            out += [_Slot(i, "dw", "dw", b.kernel, b.stride, b.activation),
                    _Slot(i, "pw", "conv", 1, 1, b.activation)]
        elif isinstance(b, InvertedBottleneck):
            if b.expansion_filters is not None or b.expansion != 1 or b.fused:
                out.append(_Slot(i, "expand", "conv", b.kernel if b.fused else 1,
                                 b.stride if b.fused else 1, b.activation))
            if not b.fused:
                out.append(_Slot(i, "dw", "dw", b.kernel, b.stride, b.activation))
            if b.se_ratio is not None:
                out += [_Slot(i, "se_reduce", "conv", 1, 1, "relu"),
                        _Slot(i, "se_expand", "conv", 1, 1, None)]
            out.append(_Slot(i, "project", "conv", 1, 1, None))
        elif not isinstance(b, GlobalPool):
            raise ValueError(f"block {i} ({type(b).__name__}) has no TFLite mapping")
    if include_top:
        out.append(_Slot(len(spec.blocks), "classifier", "fc", 1, 1, None))
    return out


def _keras_kernel(g: TFLiteGraph, op: _Op) -> np.ndarray:
    w = g.value(op.inputs[1])
    if w is None:
        raise ValueError(f"{g.describe(op)}: its weights are not constant")
    if op.name == "CONV_2D":
        return np.transpose(w, (1, 2, 3, 0))  # OHWI -> HWIO
    if op.name == "DEPTHWISE_CONV_2D":
        _, h, k, c = w.shape
        return w.reshape(h, k, c, 1)  # 1HWC -> HWC1 (depth multiplier 1)
    return np.transpose(w, (1, 0)).reshape(1, 1, w.shape[1], w.shape[0])  # OI -> 11IO


def _bias(g: TFLiteGraph, op: _Op, channels: int) -> np.ndarray:
    b = g.value(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
    return np.zeros(channels, np.float32) if b is None else b.reshape(channels)


def _check(g: TFLiteGraph, op: _Op, slot: _Slot, spec: ArchSpec, prev: int) -> None:
    block = (spec.blocks[slot.block].to_string() if slot.block < len(spec.blocks)
             else "classifier")
    where = (f"{g.describe(op)} does not fit block {slot.block} of {spec.name} "
             f"({block}, {slot.role})")
    want_kind = {"conv": ("CONV_2D",), "dw": ("DEPTHWISE_CONV_2D",),
                 "fc": ("FULLY_CONNECTED", "CONV_2D")}[slot.kind]
    if slot.kind == "conv" and slot.kernel == 1 and slot.stride == 1:
        want_kind = ("CONV_2D", "FULLY_CONNECTED")
    if op.name not in want_kind:
        raise ValueError(f"{where}: expected {' or '.join(want_kind)}; is the TFLite model "
                         "another architecture?")
    w = g.tensors[op.inputs[1]].shape
    if op.name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        k = (w[1], w[2])
        if k != (slot.kernel, slot.kernel):
            raise ValueError(f"{where}: kernel {k[0]}x{k[1]}, the spec has "
                             f"{slot.kernel}x{slot.kernel}")
        stride = (op.opt("strideH"), op.opt("strideW"))
        if stride != (slot.stride, slot.stride):
            raise ValueError(f"{where}: stride {stride[0]}, the spec has {slot.stride}")
        if op.opt("dilationHFactor", 1) != 1 or op.opt("dilationWFactor", 1) != 1:
            raise ValueError(f"{where}: dilated convolution")
        pad = g.padding.get(op.opt("padding"), "?")
        if pad != spec.padding.upper() and not (slot.kernel == 1 and slot.stride == 1):
            raise ValueError(f"{where}: padding {pad}, the spec has {spec.padding.upper()}")
        if op.name == "DEPTHWISE_CONV_2D" and op.opt("depthMultiplier", 1) not in (0, 1):
            raise ValueError(f"{where}: depth multiplier {op.opt('depthMultiplier')}")
    if slot.role != "classifier":
        fused = g.activation.get(op.opt("fusedActivationFunction", 0), "?")
        want = _FUSED.get(slot.activation, "NONE")
        if slot.role == "se_expand" and spec.se_gate == "hard_sigmoid" and fused == "RELU6":
            return _check_flow(g, op, where, prev)  # relu6(x + 3) / 6 with the +3 in the bias
        if fused != want:
            raise ValueError(f"{where}: fused activation {fused}, the spec's "
                             f"{slot.activation or 'linear'} gives {want}")
    _check_flow(g, op, where, prev)


def _check_flow(g: TFLiteGraph, op: _Op, where: str, prev: int) -> None:
    if prev not in g.sources(op.inputs[0]):
        raise ValueError(f"{where}: its input does not come from the previous weighted operator "
                         f"({'the model input' if prev < 0 else f'operator {prev}'}); the "
                         "operator order is not the architecture's")


def _normalization(g: TFLiteGraph) -> tuple[np.ndarray, np.ndarray, bool, int, int]:
    """Per-channel ``a``, ``b`` with normalized = a * pixels + b, whether the graph itself has
    normalization ops, the index of the first operator after them, and the weighted operator
    the stem reads from (``-1``: none, the graph input)."""
    (inp,) = g.inputs
    t = g.tensors[inp]
    a, b = np.ones(3), np.zeros(3)
    if t.scale is not None and t.dtype in ("UINT8", "INT8"):
        # pixels p go in as q = p (uint8) or q = p - 128 (int8): real = scale * (q - zero point)
        zp = float(t.zero_point[0]) + (128.0 if t.dtype == "INT8" else 0.0)
        a, b = a * float(t.scale[0]), b - float(t.scale[0]) * zp
    explicit = False
    current, source = inp, -1
    for op in g.ops:
        if current not in op.inputs:
            if op.name in WEIGHTED:
                return a, b, explicit, op.index, source
            continue
        if op.name in _PASS:
            if op.name == "CAST" and g.tensors[op.outputs[0]].dtype not in ("FLOAT32",
                                                                            "FLOAT16"):
                return a, b, explicit, op.index, source
            current = op.outputs[0]
            continue
        if op.name in _AFFINE and len(op.inputs) == 2:
            other = op.inputs[1] if op.inputs[0] == current else op.inputs[0]
            c = g.value(other)
            if c is None or c.size not in (1, 3) or (op.name in ("SUB", "DIV") and
                                                     op.inputs[0] != current):
                return a, b, explicit, op.index, source
            c = np.broadcast_to(c.reshape(-1).astype(np.float64), (3,))
            if op.name == "MUL":
                a, b = a * c, b * c
            elif op.name == "DIV":
                a, b = a / c, b / c
            elif op.name == "ADD":
                b = b + c
            else:
                b = b - c
            explicit, current = True, op.outputs[0]
            continue
        if op.name == "DEPTHWISE_CONV_2D" and g.tensors[op.inputs[1]].shape == (1, 1, 1, 3):
            w = g.value(op.inputs[1]).reshape(3).astype(np.float64)
            bias = _bias(g, op, 3).astype(np.float64)
            a, b = a * w, b * w + bias
            explicit, current, source = True, op.outputs[0], op.index
            continue
        return a, b, explicit, op.index, source
    raise ValueError("the TFLite model has no convolution")


def convert_tflite(src: str | os.PathLike | bytes, *, model: str, width: float | None = None,
                   num_classes: int | None = None,
                   preprocessing: Preprocessing | None = None,
                   origin: str | None = None) -> Converted:
    """Float weights of a registry model from a TFLite classification model (any quantization).

    Args:
        src: the ``.tflite`` file or its bytes.
        model: registry name whose spec fixes the structure (e.g. ``multi_avg``).
        width: checked against the tensors (inferred when ``None``).
        num_classes: expected classifier size (checked; ``None`` takes the file's).
        preprocessing: the normalization the weights expect when the graph contains none
            (required then: it cannot be known from the file).
        origin: where the file came from (URL, tag), recorded in the config.

    Returns:
        A :class:`~mhzoo.weights.fit.Converted` (write it with
        :func:`~mhzoo.weights.fit.write_converted`).

    Raises:
        ValueError: not a TFLite model, or one whose operators do not match the architecture
            (naming the first operator that does not fit).
    """
    if isinstance(src, bytes | bytearray):
        data, label = bytes(src), origin or "<bytes>"
    else:
        p = Path(src)
        if not p.is_file():
            raise ValueError(f"no such .tflite file: {p}")
        data, label = p.read_bytes(), origin or str(p)
    g = TFLiteGraph(data)
    if len(g.inputs) != 1:
        raise ValueError(f"{label}: a classification model has one input, this one has "
                         f"{len(g.inputs)}")
    ishape = g.tensors[g.inputs[0]].shape
    if len(ishape) != 4 or ishape[3] != 3:
        raise ValueError(f"{label}: the input has shape {ishape}, expected (1, H, W, 3)")
    base = get_spec(model)
    a, b, explicit, first, stem_source = _normalization(g)
    weighted = [op for op in g.ops if op.name in WEIGHTED and op.index >= first]
    structure_slots = _slots(base, include_top=True)
    include_top = len(weighted) == len(structure_slots)
    slots = structure_slots if include_top else _slots(base, include_top=False)
    if len(weighted) != len(slots):
        n = min(len(weighted), len(slots))
        # the walk below names the first misfit; the count is the fallback message
        _walk(g, base, weighted[:n], slots[:n], stem_source)
        raise ValueError(f"{label}: {len(weighted)} weighted operators, {base.name} implies "
                         f"{len(structure_slots)} (with classifier) or {len(slots)} (without); "
                         "is it a model of another architecture?")
    units, classifier = _walk(g, base, weighted, slots, stem_source)
    spec, layers = fit_units(base, units, desc=f"converting {base.name}")
    w, exact = infer_width(base, spec, width)
    classes = fit_classifier(spec, layers, classifier, "TFLite model", num_classes)
    std = 1.0 / a
    mean = -b / a
    graph_prep = {"mean": [float(x) for x in mean], "std": [float(x) for x in std]}
    if explicit:
        prep, where = graph_prep, "graph"
    elif preprocessing is not None:
        prep, where = preprocessing.to_dict(), "given (the graph has no normalization)"
    else:
        raise ValueError(f"{label}: the graph holds no input normalization, so what the weights "
                         "expect cannot be read from it; say it: --preprocessing imagenet | "
                         "minus_one_to_one | zero_one | none (Model Garden exports: imagenet)")
    t_in = g.tensors[g.inputs[0]]
    wtypes = sorted({g.tensors[op.inputs[1]].dtype for op in weighted})
    quantized = any(tp in ("INT8", "UINT8", "INT16") for tp in wtypes)
    pcfg = {**prep, "input_size": [ishape[1], ishape[2], 3], "normalization_source": where,
            "graph_normalization": graph_prep}
    source = {"format": "tflite", "path": label, "input_dtype": t_in.dtype,
              "input_quantization": None if t_in.scale is None else
              {"scale": float(t_in.scale[0]), "zero_point": int(t_in.zero_point[0])},
              "weight_types": wtypes, "quantized": quantized}
    return Converted(architecture=base.name, spec=spec, base=base, width=w, width_exact=exact,
                     layers=layers, num_classes=classes, pretrained_cfg=pcfg, source=source,
                     label_offset=1 if classes == 1001 else None)


def _walk(g: TFLiteGraph, spec: ArchSpec, ops: list[_Op], slots: list[_Slot], prev: int
          ) -> tuple[list[dict[str, Any]], tuple[np.ndarray, np.ndarray] | None]:
    """Per-block units for :func:`fit_units` and the classifier, checking every operator."""
    eps = float(spec.bn_epsilon)
    units: dict[int, dict[str, Any]] = {}
    classifier = None
    for op, slot in zip(ops, slots, strict=True):
        _check(g, op, slot, spec, prev)
        prev = op.index
        kernel = _keras_kernel(g, op)
        channels = kernel.shape[3] if op.name != "DEPTHWISE_CONV_2D" else kernel.shape[2]
        bias = _bias(g, op, channels)
        if slot.role == "classifier":
            classifier = (kernel.reshape(kernel.shape[2], kernel.shape[3]), bias)
            continue
        u = units.setdefault(slot.block, {"name": f"operators from {op.index}"})
        block = spec.blocks[slot.block]
        identity_bn = (np.ones(channels, np.float32), bias,
                       np.zeros(channels, np.float32),
                       np.full(channels, 1.0 - eps, np.float32))
        if slot.role == "se_expand" and g.activation.get(
                op.opt("fusedActivationFunction", 0)) == "RELU6":
            u[slot.role] = (kernel, bias - 3.0)  # the converter folded hard_sigmoid's +3
        elif slot.role in ("se_reduce", "se_expand"):
            u[slot.role] = (kernel, bias)
        elif slot.role == "conv":
            u["conv"] = kernel
            if block.batch_norm:
                u["bn"] = identity_bn
            elif block.bias:
                u["conv_bias"] = bias
            elif np.any(bias):
                raise ValueError(f"{g.describe(op)}: a bias where block {slot.block} of "
                                 f"{spec.name} has neither bias nor batch norm")
        else:
            u[slot.role] = kernel
            u[f"{slot.role}_bn"] = identity_bn
    return [units[i] for i in sorted(units)], classifier
