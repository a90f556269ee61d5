"""Standard TFLite metadata (``TFLITE_METADATA``) written and read without tflite-support.

tflite-support cannot be installed beside TensorFlow 2.21 (protobuf pins), so this module
writes the metadata flatbuffer itself with the ``flatbuffers`` package. The layout follows
``metadata_schema.fbs`` of the TFLite metadata format (file identifier ``M001``): a
``ModelMetadata`` table whose one ``SubGraphMetadata`` describes the image input (RGB
``ImageProperties``, ``NormalizationOptions``, value ``Stats``) and the score output (a
``TENSOR_AXIS_LABELS`` associated file). The metadata buffer is referenced from the model's
``metadata`` list under the name ``TFLITE_METADATA``; associated files are appended to the
.tflite as an uncompressed zip archive, which interpreters ignore and metadata readers (MediaPipe
Tasks, the TFLite Task Library) open.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import flatbuffers
from flatbuffers import encode
from flatbuffers import number_types as N
from flatbuffers.table import Table

__all__ = [
    "LABELS_FILE",
    "METADATA_NAME",
    "ImageClassifierMetadata",
    "add_metadata",
    "read_associated_files",
    "read_metadata",
]

METADATA_NAME = "TFLITE_METADATA"  # metadata key read by the TFLite metadata parsers
METADATA_IDENTIFIER = b"M001"  # metadata_schema.fbs: file_identifier "M001"
MODEL_IDENTIFIER = b"TFL3"  # schema.fbs: file_identifier "TFL3"
MIN_PARSER_VERSION = "1.0.0"  # only fields of metadata schema 1.0.0 are written
LABELS_FILE = "labels.txt"
INFO_FILE = "mhzoo_export.json"

# metadata_schema.fbs enum values
_FILE_UNKNOWN, _FILE_DESCRIPTIONS, _FILE_AXIS_LABELS = 0, 1, 2
_COLOR_RGB, _COLOR_GRAYSCALE = 1, 2
_CONTENT_FEATURE, _CONTENT_IMAGE = 1, 2  # ContentProperties union tags
_PU_NORMALIZATION = 1  # ProcessUnitOptions union tag


@dataclass
class ImageClassifierMetadata:
    """What the metadata says about an exported image classifier.

    ``mean``/``std`` are the normalization a client must apply to [0, 255] pixels before the
    input tensor (``(0,), (1,)`` for mhzoo exports, whose normalization is inside the model);
    ``input_min``/``input_max`` the value range of the input tensor.
    """

    name: str
    description: str
    version: str
    author: str
    license: str
    input_name: str = "image"
    input_description: str = "RGB image, pixel values in [0, 255]."
    channels: int = 3
    width: int = 224
    height: int = 224
    mean: Sequence[float] = (0.0,)
    std: Sequence[float] = (1.0,)
    input_min: Sequence[float] = (0.0,)
    input_max: Sequence[float] = (255.0,)
    output_name: str = "probability"
    output_description: str = "Scores of the classes."
    output_min: Sequence[float] = ()
    output_max: Sequence[float] = ()
    labels: Sequence[str] | None = None
    extra_files: dict[str, bytes] = field(default_factory=dict)


# ---------------------------------------------------------------- writing (flatbuffers)

def _str(b: flatbuffers.Builder, s: str | None) -> int | None:
    return None if s is None else b.CreateString(s)


def _floats(b: flatbuffers.Builder, values: Sequence[float]) -> int:
    b.StartVector(4, len(values), 4)
    for v in reversed(list(values)):
        b.PrependFloat32(float(v))
    return b.EndVector()


def _offsets(b: flatbuffers.Builder, offs: Sequence[int]) -> int:
    b.StartVector(4, len(offs), 4)
    for o in reversed(list(offs)):
        b.PrependUOffsetTRelative(o)
    return b.EndVector()


def _table(b: flatbuffers.Builder, nslots: int, offsets: dict[int, int | None],
           bytes_: dict[int, int] | None = None, uints: dict[int, int] | None = None) -> int:
    """A table with offset fields, int8 fields (``bytes_``) and uint32 fields (``uints``)."""
    b.StartObject(nslots)
    for slot, off in offsets.items():
        if off is not None:
            b.PrependUOffsetTRelativeSlot(slot, off, 0)
    for slot, val in (uints or {}).items():
        b.PrependUint32Slot(slot, val, 0)
    for slot, val in (bytes_ or {}).items():
        b.PrependInt8Slot(slot, val, 0)
    return b.EndObject()


def _associated_file(b: flatbuffers.Builder, name: str, description: str, ftype: int) -> int:
    # AssociatedFile: name 0, description 1, type 2, locale 3, version 4
    return _table(b, 5, {0: _str(b, name), 1: _str(b, description)}, bytes_={2: ftype})


def _stats(b: flatbuffers.Builder, lo: Sequence[float], hi: Sequence[float]) -> int | None:
    if not lo or not hi:
        return None
    # Stats: max 0, min 1
    return _table(b, 2, {0: _floats(b, hi), 1: _floats(b, lo)})


def metadata_buffer(md: ImageClassifierMetadata) -> bytes:
    """Serialize ``md`` as a ``ModelMetadata`` flatbuffer (identifier ``M001``)."""
    b = flatbuffers.Builder(1024)
    # input tensor: ImageProperties + NormalizationOptions + Stats
    size = _table(b, 2, {}, uints={0: md.width, 1: md.height})  # ImageSize: width 0, height 1
    color = _COLOR_RGB if md.channels == 3 else _COLOR_GRAYSCALE
    image_props = _table(b, 2, {1: size}, bytes_={0: color})  # color_space 0, default_size 1
    content_in = _table(b, 3, {1: image_props}, bytes_={0: _CONTENT_IMAGE})
    norm = _table(b, 2, {0: _floats(b, md.mean), 1: _floats(b, md.std)})  # mean 0, std 1
    unit = _table(b, 2, {1: norm}, bytes_={0: _PU_NORMALIZATION})  # options_type 0, options 1
    units = _offsets(b, [unit])
    stats_in = _stats(b, md.input_min, md.input_max)
    # TensorMetadata: name 0, description 1, dimension_names 2, content 3, process_units 4,
    # stats 5, associated_files 6
    tin = _table(b, 7, {0: _str(b, md.input_name), 1: _str(b, md.input_description),
                        3: content_in, 4: units, 5: stats_in})
    # output tensor: FeatureProperties + labels
    feature = _table(b, 0, {})
    content_out = _table(b, 3, {1: feature}, bytes_={0: _CONTENT_FEATURE})
    out_files = None
    if md.labels:
        out_files = _offsets(b, [_associated_file(
            b, LABELS_FILE, "Labels for the classes of the output tensor.", _FILE_AXIS_LABELS)])
    stats_out = _stats(b, md.output_min, md.output_max)
    tout = _table(b, 7, {0: _str(b, md.output_name), 1: _str(b, md.output_description),
                         3: content_out, 5: stats_out, 6: out_files})
    # SubGraphMetadata: name 0, description 1, input_tensor_metadata 2, output_tensor_metadata 3
    sub = _table(b, 10, {0: _str(b, md.name), 2: _offsets(b, [tin]), 3: _offsets(b, [tout])})
    model_files = None
    if md.extra_files:
        model_files = _offsets(b, [_associated_file(b, n, "mhzoo export record (JSON).",
                                                    _FILE_UNKNOWN) for n in md.extra_files])
    # ModelMetadata: name 0, description 1, version 2, subgraph_metadata 3, author 4, license 5,
    # associated_files 6, min_parser_version 7
    root = _table(b, 8, {0: _str(b, md.name), 1: _str(b, md.description),
                         2: _str(b, md.version), 3: _offsets(b, [sub]),
                         4: _str(b, md.author), 5: _str(b, md.license), 6: model_files,
                         7: _str(b, MIN_PARSER_VERSION)})
    b.Finish(root, file_identifier=METADATA_IDENTIFIER)
    return bytes(b.Output())


def add_metadata(model: bytes, md: ImageClassifierMetadata) -> bytes:
    """Return ``model`` with ``md`` attached as ``TFLITE_METADATA`` and its files zipped on."""
    from ai_edge_litert import schema_py_generated as S

    if not S.Model.ModelBufferHasIdentifier(model, 0):
        raise ValueError("not a TFLite flatbuffer (missing TFL3 identifier)")
    obj = S.ModelT.InitFromPackedBuf(bytearray(model), 0)
    buf = S.BufferT()
    buf.data = list(metadata_buffer(md))
    obj.buffers.append(buf)
    entry = S.MetadataT()
    entry.name = METADATA_NAME
    entry.buffer = len(obj.buffers) - 1
    obj.metadata = [m for m in (obj.metadata or []) if m.name not in (METADATA_NAME.encode(),
                                                                       METADATA_NAME)]
    obj.metadata.append(entry)
    b = flatbuffers.Builder(len(model) + 65536)
    b.Finish(obj.Pack(b), file_identifier=MODEL_IDENTIFIER)
    out = io.BytesIO(bytes(b.Output()))
    files = dict(md.extra_files)
    if md.labels:
        files[LABELS_FILE] = ("\n".join(md.labels) + "\n").encode()
    if files:
        out.seek(0, io.SEEK_END)
        with zipfile.ZipFile(out, "a", compression=zipfile.ZIP_STORED) as zf:
            for name, data in files.items():
                zf.writestr(name, data)
    return out.getvalue()


# ---------------------------------------------------------------- reading

def _field(t: Table, slot: int) -> int:
    return t.Offset(4 + 2 * slot)


def _get_str(t: Table, slot: int) -> str | None:
    o = _field(t, slot)
    return t.String(o + t.Pos).decode() if o else None


def _get_table(t: Table, slot: int) -> Table | None:
    o = _field(t, slot)
    return Table(t.Bytes, t.Indirect(o + t.Pos)) if o else None


def _get_tables(t: Table, slot: int) -> list[Table]:
    o = _field(t, slot)
    if not o:
        return []
    start, n = t.Vector(o), t.VectorLen(o)
    return [Table(t.Bytes, t.Indirect(start + 4 * i)) for i in range(n)]


def _get_floats(t: Table, slot: int) -> list[float]:
    o = _field(t, slot)
    if not o:
        return []
    start, n = t.Vector(o), t.VectorLen(o)
    return [t.Get(N.Float32Flags, start + 4 * i) for i in range(n)]


def _get_int(t: Table, slot: int, flags: Any, default: int = 0) -> int:
    o = _field(t, slot)
    return t.Get(flags, o + t.Pos) if o else default


def _files(t: Table, slot: int) -> list[dict[str, Any]]:
    return [{"name": _get_str(f, 0), "description": _get_str(f, 1),
             "type": _get_int(f, 2, N.Int8Flags)} for f in _get_tables(t, slot)]


def _tensor(t: Table) -> dict[str, Any]:
    out: dict[str, Any] = {"name": _get_str(t, 0), "description": _get_str(t, 1)}
    content = _get_table(t, 3)
    if content is not None:
        kind = _get_int(content, 0, N.Uint8Flags)
        out["content"] = {_CONTENT_IMAGE: "image", _CONTENT_FEATURE: "feature"}.get(kind, kind)
        props = _get_table(content, 1)
        if kind == _CONTENT_IMAGE and props is not None:
            cs = _get_int(props, 0, N.Int8Flags)
            out["color_space"] = {_COLOR_RGB: "RGB", _COLOR_GRAYSCALE: "GRAYSCALE"}.get(cs, cs)
            size = _get_table(props, 1)
            if size is not None:
                out["default_size"] = [_get_int(size, 0, N.Uint32Flags),
                                       _get_int(size, 1, N.Uint32Flags)]
    for unit in _get_tables(t, 4):
        if _get_int(unit, 0, N.Uint8Flags) == _PU_NORMALIZATION:
            norm = _get_table(unit, 1)
            if norm is not None:
                out["normalization"] = {"mean": _get_floats(norm, 0), "std": _get_floats(norm, 1)}
    stats = _get_table(t, 5)
    if stats is not None:
        out["stats"] = {"max": _get_floats(stats, 0), "min": _get_floats(stats, 1)}
    out["associated_files"] = _files(t, 6)
    return out


def _metadata_bytes(model: bytes) -> bytes | None:
    from ai_edge_litert import schema_py_generated as S

    m = S.Model.GetRootAsModel(model, 0)
    for i in range(m.MetadataLength()):
        entry = m.Metadata(i)
        if entry.Name() is not None and entry.Name().decode() == METADATA_NAME:
            return m.Buffers(entry.Buffer()).DataAsNumpy().tobytes()
    return None


def read_metadata(model: bytes) -> dict[str, Any] | None:
    """The ``TFLITE_METADATA`` of a .tflite as a dict (``None`` when the model has none)."""
    raw = _metadata_bytes(model)
    if raw is None:
        return None
    if not flatbuffers.util.BufferHasIdentifier(raw, 0, METADATA_IDENTIFIER):
        raise ValueError("TFLITE_METADATA buffer lacks the M001 identifier")
    root = Table(raw, encode.Get(N.UOffsetTFlags.packer_type, raw, 0))
    out: dict[str, Any] = {
        "name": _get_str(root, 0), "description": _get_str(root, 1),
        "version": _get_str(root, 2), "author": _get_str(root, 4),
        "license": _get_str(root, 5), "associated_files": _files(root, 6),
        "min_parser_version": _get_str(root, 7), "subgraphs": [],
    }
    for sub in _get_tables(root, 3):
        out["subgraphs"].append({
            "name": _get_str(sub, 0),
            "inputs": [_tensor(t) for t in _get_tables(sub, 2)],
            "outputs": [_tensor(t) for t in _get_tables(sub, 3)],
        })
    return out


def read_associated_files(model: bytes) -> dict[str, bytes]:
    """Files zipped onto a .tflite (``{}`` when there are none)."""
    try:
        with zipfile.ZipFile(io.BytesIO(model)) as zf:
            return {n: zf.read(n) for n in zf.namelist()}
    except zipfile.BadZipFile:
        return {}
