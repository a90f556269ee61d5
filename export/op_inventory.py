"""What a .tflite contains: operators with versions, I/O tensors, tensor types, conv geometry.

Read straight from the flatbuffer (``ai_edge_litert.schema_py_generated``), so it works on any
.tflite, not only mhzoo exports. This is the input of the hardware compatibility check.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ConvInfo", "ModelInventory", "OpDetail", "OpInfo", "TensorInfo", "inventory",
           "load_tflite"]

#: activation types that count as integer arithmetic
INTEGER_TYPES = ("INT8", "UINT8", "INT16", "INT32", "INT64", "BOOL")
FLOAT_TYPES = ("FLOAT32", "FLOAT16", "FLOAT64", "BFLOAT16")


@dataclass(frozen=True)
class OpInfo:
    """One operator kind in the model: builtin name, version and how often it occurs."""

    name: str
    version: int
    count: int


@dataclass(frozen=True)
class TensorInfo:
    """A model input or output tensor."""

    name: str
    shape: tuple[int, ...]
    shape_signature: tuple[int, ...]
    dtype: str
    scale: float | None = None
    zero_point: int | None = None


@dataclass(frozen=True)
class ConvInfo:
    """Geometry of one CONV_2D / DEPTHWISE_CONV_2D operator."""

    op: str
    output: str
    kernel: tuple[int, int]
    filters: int
    stride: tuple[int, int]


@dataclass(frozen=True)
class OpDetail:
    """One operator instance, in execution order: what per-op delegate rules look at.

    ``inputs`` keeps the operator's input slots in order; an omitted optional input (index -1
    in the flatbuffer, e.g. a CONV_2D without bias) is ``None``. ``const_inputs`` says which
    inputs are constant buffers, ``const_values`` holds the values of small integer constants
    (axes, paddings, shapes; ``None`` otherwise). ``options`` are the builtin options in snake
    case (``fused_activation``, ``stride``, ``dilation``, ``depth_multiplier``, ``beta``,
    ``keep_dims``, ``weights_format``, ...) plus ``per_channel_weights`` for weighted ops.
    ``madds`` estimates the multiply-adds of CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV,
    FULLY_CONNECTED and BATCH_MATMUL (0 for other ops). ``patterns`` names graph patterns the op
    is part of (``SE_GATE``).
    """

    index: int
    name: str
    version: int
    inputs: tuple[TensorInfo | None, ...]
    outputs: tuple[TensorInfo, ...]
    const_inputs: tuple[bool, ...] = ()
    const_values: tuple[tuple[int, ...] | None, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)
    madds: int = 0
    subgraph: int = 0
    patterns: tuple[str, ...] = ()
    graph_input: bool = False
    graph_output: bool = False


@dataclass
class ModelInventory:
    """Everything the compatibility rules look at."""

    ops: list[OpInfo]
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    activation_types: list[str]
    float_ops: list[str]
    dynamic_tensors: list[str]
    convs: list[ConvInfo]
    se_gates: int
    metadata_names: list[str]
    max_leading_dim: int
    size_bytes: int
    patterns: dict[str, int] = field(default_factory=dict)
    #: every operator instance in execution order (subgraph 0 first); empty for inventories
    #: built by hand from ``ops`` only
    op_details: list[OpDetail] = field(default_factory=list)

    @property
    def total_madds(self) -> int:
        """Multiply-adds of the weighted ops (see :attr:`OpDetail.madds`)."""
        return sum(d.madds for d in self.op_details)

    @property
    def integer_only(self) -> bool:
        """No float arithmetic between the I/O (quantize/dequantize at the ends allowed)."""
        return not self.float_ops

    @property
    def static_shapes(self) -> bool:
        return not self.dynamic_tensors

    def op_names(self) -> list[str]:
        return [o.name for o in self.ops]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (``op_details`` left out: see :attr:`op_details`)."""
        d = asdict(self)
        d.pop("op_details", None)
        d["total_madds"] = self.total_madds
        d["integer_only"] = self.integer_only
        d["static_shapes"] = self.static_shapes
        return d


def load_tflite(path: str | Path) -> bytes:
    """Read a .tflite file; ``ValueError`` when it is missing or not a TFLite flatbuffer."""
    from ai_edge_litert import schema_py_generated as S

    p = Path(path)
    if p.is_dir():
        raise ValueError(f"{p} is a directory, expected a .tflite file")
    if not p.is_file():
        raise ValueError(f"no such .tflite file: {p}")
    data = p.read_bytes()
    if len(data) < 8 or not S.Model.ModelBufferHasIdentifier(data, 0):
        raise ValueError(f"{p} is not a TFLite model (no TFL3 flatbuffer identifier); "
                         "is the file corrupt or truncated?")
    return data


def _enum_names(enum: type) -> dict[int, str]:
    return {v: k for k, v in vars(enum).items() if not k.startswith("_") and isinstance(v, int)}


def inventory(model: bytes) -> ModelInventory:
    """Inventory of a TFLite flatbuffer; ``ValueError`` when it cannot be parsed."""
    try:
        return _inventory(model)
    except ValueError:
        raise
    except Exception as exc:  # flatbuffer reads of garbage raise struct/index errors
        raise ValueError(f"cannot parse the TFLite flatbuffer ({type(exc).__name__}: {exc}); "
                         "the file is corrupt or truncated") from None


def _inventory(model: bytes) -> ModelInventory:
    from ai_edge_litert import schema_py_generated as S

    if len(model) < 8 or not S.Model.ModelBufferHasIdentifier(model, 0):
        raise ValueError("not a TFLite model (no TFL3 flatbuffer identifier)")
    ops_by_code = _enum_names(S.BuiltinOperator)
    types = _enum_names(S.TensorType)
    m = S.Model.GetRootAsModel(model, 0)
    codes: list[tuple[str, int]] = []
    for i in range(m.OperatorCodesLength()):
        oc = m.OperatorCodes(i)
        code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
        name = ops_by_code.get(code, str(code))
        if name == "CUSTOM" and oc.CustomCode():
            name = f"CUSTOM:{oc.CustomCode().decode()}"
        codes.append((name, oc.Version()))

    def is_const(sg: Any, t: Any) -> bool:
        b = t.Buffer()
        if b <= 0 or b >= m.BuffersLength():
            return False
        buf = m.Buffers(b)
        return buf.DataLength() > 0 or buf.Offset() > 1

    counts: Counter[tuple[str, int]] = Counter()
    act_types: set[str] = set()
    float_ops: list[str] = []
    dynamic: list[str] = []
    convs: list[ConvInfo] = []
    se_gates = 0
    max_lead = 1
    inputs: list[TensorInfo] = []
    outputs: list[TensorInfo] = []
    details: list[OpDetail] = []
    enums = _OptionEnums(S)
    for s in range(m.SubgraphsLength()):
        sg = m.Subgraphs(s)
        # tensors computed only from constants (fp16 / dynamic-range weights DEQUANTIZE'd at
        # load time): weights, not activations, for the tensor-shape rules
        derived = _constant_derived(sg, lambda t, sg=sg: is_const(sg, t))

        def info(idx: int, sg: Any = sg) -> TensorInfo:
            t = sg.Tensors(idx)
            q = t.Quantization()
            scale = zp = None
            if q is not None and q.ScaleLength() == 1:
                scale, zp = float(q.Scale(0)), int(q.ZeroPoint(0))
            sig = tuple(int(x) for x in t.ShapeSignatureAsNumpy()) if t.ShapeSignatureLength() \
                else tuple(int(x) for x in t.ShapeAsNumpy()) if t.ShapeLength() else ()
            shape = tuple(int(x) for x in t.ShapeAsNumpy()) if t.ShapeLength() else ()
            return TensorInfo((t.Name() or b"").decode(), shape, sig,
                              types.get(t.Type(), str(t.Type())), scale, zp)

        io_in = {sg.Inputs(i) for i in range(sg.InputsLength())}
        io_out = {sg.Outputs(i) for i in range(sg.OutputsLength())}
        if s == 0:
            inputs = [info(sg.Inputs(i)) for i in range(sg.InputsLength())]
            outputs = [info(sg.Outputs(i)) for i in range(sg.OutputsLength())]
        for ti in range(sg.TensorsLength()):
            t = sg.Tensors(ti)
            if is_const(sg, t):
                continue
            act_types.add(types.get(t.Type(), str(t.Type())))
            if t.ShapeSignatureLength() and -1 in list(t.ShapeSignatureAsNumpy()):
                dynamic.append((t.Name() or b"").decode())
            if t.ShapeLength() > 3 and ti not in derived:
                max_lead = max(max_lead, int(t.Shape(0)))
        for oi in range(sg.OperatorsLength()):
            op = sg.Operators(oi)
            name, version = codes[op.OpcodeIndex()]
            counts[(name, version)] += 1
            ins = [op.Inputs(i) for i in range(op.InputsLength()) if op.Inputs(i) >= 0]
            outs = [op.Outputs(i) for i in range(op.OutputsLength())]
            live = [sg.Tensors(i) for i in ins + outs if not is_const(sg, sg.Tensors(i))]
            has_float = any(types.get(t.Type()) in FLOAT_TYPES for t in live)
            edge = (name == "QUANTIZE" and set(ins) <= io_in) or (
                name == "DEQUANTIZE" and set(outs) <= io_out)
            if has_float and not edge:
                float_ops.append(name)
            if name in ("CONV_2D", "DEPTHWISE_CONV_2D") and len(ins) >= 2:
                w = sg.Tensors(ins[1])
                shape = [int(x) for x in w.ShapeAsNumpy()]
                opts_t = S.Conv2DOptions() if name == "CONV_2D" else S.DepthwiseConv2DOptions()
                table = op.BuiltinOptions()
                stride = (1, 1)
                if table is not None:
                    opts_t.Init(table.Bytes, table.Pos)
                    stride = (opts_t.StrideH(), opts_t.StrideW())
                filters = shape[0] if name == "CONV_2D" else shape[3]
                convs.append(ConvInfo(name, _short((sg.Tensors(outs[0]).Name() or b"").decode()),
                                      (shape[1], shape[2]), filters, stride))
            gate = False
            if name == "MUL" and len(ins) == 2:
                a, b = (sg.Tensors(i) for i in ins)
                if not is_const(sg, a) and not is_const(sg, b) and _is_channel_gate(a, b):
                    se_gates += 1
                    gate = True
            raw_ins = [op.Inputs(i) for i in range(op.InputsLength())]
            consts = tuple(i >= 0 and is_const(sg, sg.Tensors(i)) for i in raw_ins)
            in_infos = tuple(info(i) if i >= 0 else None for i in raw_ins)
            out_infos = tuple(info(i) for i in outs)
            options = _builtin_options(S, op, enums)
            if len(raw_ins) >= 2 and raw_ins[1] >= 0 and name in _WEIGHTED:
                q = sg.Tensors(raw_ins[1]).Quantization()
                options["per_channel_weights"] = q is not None and q.ScaleLength() > 1
            details.append(OpDetail(
                index=len(details), name=name, version=version, inputs=in_infos,
                outputs=out_infos, const_inputs=consts,
                const_values=tuple(_const_ints(m, sg.Tensors(i), types) if c else None
                                   for i, c in zip(raw_ins, consts, strict=True)),
                options=options, madds=_madds(name, in_infos, out_infos), subgraph=s,
                patterns=("SE_GATE",) if gate else (),
                graph_input=bool(ins) and set(ins) <= io_in,
                graph_output=bool(outs) and set(outs) <= io_out))
    metadata = [(m.Metadata(i).Name() or b"").decode() for i in range(m.MetadataLength())]
    ops = [OpInfo(n, v, c) for (n, v), c in counts.items()]
    return ModelInventory(
        ops=ops, inputs=inputs, outputs=outputs, activation_types=sorted(act_types),
        float_ops=sorted(set(float_ops)), dynamic_tensors=dynamic, convs=convs,
        se_gates=se_gates, metadata_names=metadata, max_leading_dim=max_lead,
        size_bytes=len(model), patterns={"SE_GATE": se_gates} if se_gates else {},
        op_details=details)


#: ops whose input 1 is a weight tensor
_WEIGHTED = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
#: builtin option accessors read into OpDetail.options (accessor -> key); pairs become tuples
_OPTION_FIELDS = {
    "FusedActivationFunction": "fused_activation", "Padding": "padding",
    "DepthMultiplier": "depth_multiplier", "Beta": "beta", "KeepDims": "keep_dims",
    "KeepNumDims": "keep_num_dims", "WeightsFormat": "weights_format", "Axis": "axis",
    "AlignCorners": "align_corners", "HalfPixelCenters": "half_pixel_centers",
    "EllipsisMask": "ellipsis_mask", "NewAxisMask": "new_axis_mask",
    "ShrinkAxisMask": "shrink_axis_mask", "Mode": "mode", "NumSplits": "num_splits",
}
_OPTION_PAIRS = {"stride": ("StrideH", "StrideW"),
                 "dilation": ("DilationHFactor", "DilationWFactor"),
                 "filter": ("FilterHeight", "FilterWidth")}


class _OptionEnums:
    """Names of the schema enums that builtin options use."""

    def __init__(self, schema: Any) -> None:
        self.options = _enum_names(schema.BuiltinOptions)
        self.values = {"fused_activation": _enum_names(schema.ActivationFunctionType),
                       "padding": _enum_names(schema.Padding),
                       "weights_format": _enum_names(schema.FullyConnectedOptionsWeightsFormat),
                       "mode": _enum_names(schema.MirrorPadMode)}


def _builtin_options(schema: Any, op: Any, enums: _OptionEnums) -> dict[str, Any]:
    """The builtin options of ``op`` as a flat dict (see :class:`OpDetail`)."""
    kind = enums.options.get(op.BuiltinOptionsType())
    table = op.BuiltinOptions()
    cls = getattr(schema, kind, None) if kind and kind != "NONE" else None
    if table is None or cls is None:
        return {}
    obj = cls()
    obj.Init(table.Bytes, table.Pos)
    out: dict[str, Any] = {}
    for accessor, key in _OPTION_FIELDS.items():
        if hasattr(obj, accessor):
            value = getattr(obj, accessor)()
            names = enums.values.get(key)
            out[key] = names.get(value, str(value)) if names else value
    for key, (a, b) in _OPTION_PAIRS.items():
        if hasattr(obj, a) and hasattr(obj, b):
            out[key] = (int(getattr(obj, a)()), int(getattr(obj, b)()))
    if isinstance(out.get("beta"), float):
        out["beta"] = float(out["beta"])
    return out


def _const_ints(m: Any, t: Any, types: dict[int, str], limit: int = 16) -> tuple[int, ...] | None:
    """Values of a small constant INT32 / INT64 tensor (axes, paddings, shapes), else None."""
    import numpy as np

    dtype = {"INT32": np.int32, "INT64": np.int64}.get(types.get(t.Type(), ""))
    if dtype is None:
        return None
    buf = m.Buffers(t.Buffer())
    if buf.DataLength() == 0:  # stored outside the flatbuffer (large-model format)
        return None
    data = buf.DataAsNumpy()
    if data.size % np.dtype(dtype).itemsize or data.size // np.dtype(dtype).itemsize > limit:
        return None
    return tuple(int(v) for v in np.frombuffer(data.tobytes(), dtype=dtype))


def _prod(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= max(int(d), 1)
    return n


def _madds(name: str, ins: tuple[TensorInfo | None, ...], outs: tuple[TensorInfo, ...]) -> int:
    """Multiply-adds of one weighted op from its tensor shapes (0 for other ops)."""
    if not outs or len(ins) < 2 or ins[1] is None:
        return 0
    w, out = ins[1].shape, outs[0].shape
    if name == "CONV_2D" and len(w) == 4:  # weights [Cout, kh, kw, Cin/groups]
        return _prod(out) * w[1] * w[2] * w[3]
    if name == "DEPTHWISE_CONV_2D" and len(w) == 4:  # weights [1, kh, kw, Cout]
        return _prod(out) * w[1] * w[2]
    if name == "FULLY_CONNECTED" and len(w) == 2:  # weights [units, depth]
        return _prod(out) * w[1]
    if name == "TRANSPOSE_CONV" and len(ins) >= 3 and ins[2] is not None and len(w) == 4:
        return _prod(ins[2].shape) * w[0] * w[1] * w[2]  # input x [Cout, kh, kw]
    if name == "BATCH_MATMUL" and ins[0] is not None and ins[0].shape:
        return _prod(out) * int(ins[0].shape[-1])
    return 0


def _constant_derived(sg: Any, is_const: Any) -> set[int]:
    """Tensors of subgraph ``sg`` that ops compute from constants only (transitively)."""
    const = {i for i in range(sg.TensorsLength()) if is_const(sg.Tensors(i))}
    derived: set[int] = set()
    changed = True
    while changed:
        changed = False
        for oi in range(sg.OperatorsLength()):
            op = sg.Operators(oi)
            ins = [op.Inputs(i) for i in range(op.InputsLength()) if op.Inputs(i) >= 0]
            if ins and all(i in const or i in derived for i in ins):
                for j in range(op.OutputsLength()):
                    if op.Outputs(j) not in derived:
                        derived.add(op.Outputs(j))
                        changed = True
    return derived


def _short(tensor_name: str) -> str:
    """``model/block3_expand_act_1/Relu;...`` -> ``block3_expand_act`` (else the first part)."""
    hit = re.search(r"(block\d+_[a-z_]+?)(?:_\d+)?/", tensor_name)
    return hit.group(1) if hit else tensor_name.split(";")[0]


def _is_channel_gate(a: Any, b: Any) -> bool:
    """MUL of a feature map [1,H,W,C] (H*W > 1) by a per-channel gate [1,1,1,C]: the
    squeeze-and-excite recalibration."""
    sa = [int(x) for x in a.ShapeAsNumpy()] if a.ShapeLength() else []
    sb = [int(x) for x in b.ShapeAsNumpy()] if b.ShapeLength() else []
    for fmap, gate in ((sa, sb), (sb, sa)):
        if len(fmap) == 4 and len(gate) == 4 and gate[1] == gate[2] == 1 \
                and fmap[1] * fmap[2] > 1 and gate[3] == fmap[3]:
            return True
    return False
