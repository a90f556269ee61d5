"""Structural check of a TFLite flatbuffer: a damaged file is an error, not a report.

A file whose ``TFL3`` header parses can still be garbage inside: flatbuffers read lazily, so
an inventory of such a file may list no ops at all (and every target "fully supports" nothing)
or odd ones. :func:`validate_tflite` walks the whole model once and checks every index and
size against what the file holds: subgraphs and operators exist, each tensor's buffer index
is in range, operator inputs / outputs and subgraph inputs / outputs name existing tensors,
operator-code indices are in range and name a builtin operator this LiteRT knows, constant
data lies inside the file and has the size the tensor's shape and type need. (Flipped bytes
inside weight data keep the structure intact; a TFLite file carries no checksum of them.)
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["validate_tflite"]

#: bytes per element of the fixed-size tensor types (schema.fbs TensorType)
_ITEMSIZE = {"FLOAT32": 4, "FLOAT16": 2, "INT32": 4, "UINT8": 1, "INT64": 8, "BOOL": 1,
             "INT16": 2, "COMPLEX64": 8, "INT8": 1, "FLOAT64": 8, "COMPLEX128": 16,
             "UINT64": 8, "UINT32": 4, "UINT16": 2, "BFLOAT16": 2}


def validate_tflite(data: bytes) -> None:
    """Check the structure of a TFLite flatbuffer.

    Raises:
        ValueError: one line naming the first inconsistency (``"subgraph 0, operator 12:
            input tensor 9999 out of range (412 tensors)"``), or that the flatbuffer cannot
            be read at all.
    """
    from ai_edge_litert import schema_py_generated as S

    if len(data) < 8 or not S.Model.ModelBufferHasIdentifier(data, 0):
        raise ValueError("not a TFLite model (no TFL3 flatbuffer identifier)")
    try:
        _validate(S, data)
    except ValueError:
        raise
    except Exception as exc:  # struct.error / IndexError from reads past the end
        raise ValueError(f"the flatbuffer cannot be read ({type(exc).__name__}: "
                         f"{' '.join(str(exc).split())[:120]}); the file is damaged or "
                         "truncated") from None


def _validate(schema: Any, data: bytes) -> None:
    size = len(data)
    root = int.from_bytes(data[:4], "little")
    if not 8 <= root < size:
        raise ValueError(f"root table offset {root} outside the file ({size} bytes)")
    m = schema.Model.GetRootAsModel(data, 0)
    builtin = {v for k, v in vars(schema.BuiltinOperator).items()
               if not k.startswith("_") and isinstance(v, int)}
    types = {v: k for k, v in vars(schema.TensorType).items()
             if not k.startswith("_") and isinstance(v, int)}
    n_codes, n_buffers, n_sub = m.OperatorCodesLength(), m.BuffersLength(), m.SubgraphsLength()
    if n_sub < 1:
        raise ValueError("the model has no subgraph")
    if n_buffers < 1:
        raise ValueError("the model has no buffer table (buffer 0 must exist)")
    for i in range(n_codes):
        oc = m.OperatorCodes(i)
        code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
        if code not in builtin:
            raise ValueError(f"operator code {i}: unknown builtin operator {code}")
    buffer_bytes: dict[int, int] = {}
    for b in range(n_buffers):
        buf = m.Buffers(b)
        if buf.Offset() > 1:  # data stored after the flatbuffer (models over 2 GiB)
            if buf.Offset() + buf.Size() > size:
                raise ValueError(f"buffer {b}: data at offset {buf.Offset()} (+{buf.Size()} "
                                 f"bytes) runs past the end of the file ({size} bytes)")
            buffer_bytes[b] = int(buf.Size())
        elif buf.DataLength():
            try:
                arr = buf.DataAsNumpy()
            except ValueError:
                raise ValueError(f"buffer {b}: {buf.DataLength()} bytes of data run past the "
                                 f"end of the file ({size} bytes); it is truncated") from None
            buffer_bytes[b] = int(arr.size)
    n_ops = 0
    for s in range(n_sub):
        sg = m.Subgraphs(s)
        _validate_subgraph(sg, s, n_codes, n_buffers, buffer_bytes, types)
        n_ops += sg.OperatorsLength()
    if n_ops == 0:
        raise ValueError("the model has no operators")


def _validate_subgraph(sg: Any, s: int, n_codes: int, n_buffers: int,
                       buffer_bytes: dict[int, int], types: dict[int, str]) -> None:
    n_t = sg.TensorsLength()
    where = f"subgraph {s}"
    for ti in range(n_t):
        t = sg.Tensors(ti)
        b = t.Buffer()
        if not 0 <= b < n_buffers:
            raise ValueError(f"{where}, tensor {ti}: buffer {b} out of range ({n_buffers} "
                             "buffers)")
        if t.Type() not in types:
            raise ValueError(f"{where}, tensor {ti}: unknown tensor type {t.Type()}")
        shape = [int(x) for x in t.ShapeAsNumpy()] if t.ShapeLength() else []
        if any(d < 0 for d in shape):
            raise ValueError(f"{where}, tensor {ti}: negative dimension in shape {shape}")
        itemsize = _ITEMSIZE.get(types[t.Type()])
        have = buffer_bytes.get(b)
        if have and itemsize and t.Sparsity() is None:
            need = math.prod(shape) * itemsize
            if need != have:
                name = (t.Name() or b"").decode(errors="replace")[:40]
                raise ValueError(f"{where}, tensor {ti} ({name}): buffer {b} holds {have} "
                                 f"bytes, its shape {shape} of {types[t.Type()]} needs {need}")
    for label, n, get in (("input", sg.InputsLength(), sg.Inputs),
                          ("output", sg.OutputsLength(), sg.Outputs)):
        for i in range(n):
            if not 0 <= get(i) < n_t:
                raise ValueError(f"{where}: {label} {i} names tensor {get(i)}, out of range "
                                 f"({n_t} tensors)")
    for oi in range(sg.OperatorsLength()):
        op = sg.Operators(oi)
        if not 0 <= op.OpcodeIndex() < n_codes:
            raise ValueError(f"{where}, operator {oi}: operator code {op.OpcodeIndex()} out of "
                             f"range ({n_codes} codes)")
        for label, n, get, low in (("input", op.InputsLength(), op.Inputs, -1),
                                   ("output", op.OutputsLength(), op.Outputs, 0)):
            for i in range(n):
                if not low <= get(i) < n_t:
                    raise ValueError(f"{where}, operator {oi}: {label} tensor {get(i)} out of "
                                     f"range ({n_t} tensors)")
