"""``inspect_tflite``: ops, I/O types, metadata and hardware compatibility of any .tflite."""

from __future__ import annotations

import json
import os
from typing import Any

from mhzoo.export.compat import check_compatibility
from mhzoo.export.metadata import INFO_FILE, LABELS_FILE, read_associated_files, read_metadata
from mhzoo.export.op_inventory import inventory, load_tflite
from mhzoo.export.validate import validate_tflite

__all__ = ["format_inspection", "inspect_tflite"]


def inspect_tflite(path: str | os.PathLike) -> dict[str, Any]:
    """Everything ``mhzoo inspect`` shows, as a JSON-ready dict.

    Raises:
        ValueError: the file is missing, not a TFLite model, or corrupt (its structure is
            checked by :func:`mhzoo.export.validate.validate_tflite` first, so a damaged file
            is never reported as supported).
    """
    data = load_tflite(path)
    try:
        validate_tflite(data)
    except ValueError as exc:
        raise ValueError(f"{path} is a damaged TFLite model: {exc}") from None
    inv = inventory(data)
    try:
        meta = read_metadata(data)
    except Exception as exc:  # a damaged metadata buffer must not hide the rest
        meta = {"error": f"unreadable TFLITE_METADATA: {exc}"}
    files = read_associated_files(data)
    labels = files.get(LABELS_FILE, b"").decode("utf-8", "replace").splitlines()
    export_info = _export_info(files[INFO_FILE]) if INFO_FILE in files else None
    return {
        "path": str(path),
        "size_bytes": len(data),
        "inputs": [vars(t) for t in inv.inputs],
        "outputs": [vars(t) for t in inv.outputs],
        "ops": [{"op": o.name, "version": o.version, "count": o.count} for o in inv.ops],
        "integer_only": inv.integer_only,
        "float_ops": inv.float_ops,
        "static_shapes": inv.static_shapes,
        "activation_types": inv.activation_types,
        "metadata": meta,
        "labels": labels,
        "export_info": export_info,
        "compatibility": check_compatibility(inv).to_dict(),
        "_report": check_compatibility(inv),
    }


def _reject_constant(name: str) -> None:
    raise ValueError(f"non-JSON number {name}")


def _export_info(raw: bytes) -> dict[str, Any]:
    """The embedded export record; ``{"error": ...}`` when it is damaged. Infinite or NaN
    numbers written by older mhzoo versions (not valid JSON) read as ``null``."""
    try:
        text = raw.decode("utf-8")
        try:
            info = json.loads(text, parse_constant=_reject_constant)
        except ValueError as exc:
            if "non-JSON number" not in str(exc):
                raise
            info = json.loads(text, parse_constant=lambda _name: None)
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return {"error": f"unreadable {INFO_FILE}: {str(exc).splitlines()[0]}"}
    if not isinstance(info, dict):
        return {"error": f"unreadable {INFO_FILE}: expected a JSON object, got "
                         f"{type(info).__name__}"}
    return info


def format_inspection(info: dict[str, Any]) -> str:
    """Human-readable text of :func:`inspect_tflite`'s result."""
    lines = [f"{info['path']} ({info['size_bytes'] / 1e6:.2f} MB)"]
    for kind in ("inputs", "outputs"):
        for t in info[kind]:
            q = f", scale {t['scale']:.6g}, zero point {t['zero_point']}" \
                if t["scale"] is not None else ""
            lines.append(f"  {kind[:-1]:6s} {t['name']}: {t['dtype']} {list(t['shape'])}{q}")
    lines.append(f"  integer-only: {'yes' if info['integer_only'] else 'no'}"
                 + (f" (float ops: {', '.join(info['float_ops'])})" if info["float_ops"] else "")
                 + f"; static shapes: {'yes' if info['static_shapes'] else 'no'}")
    lines.append("Ops:")
    lines.extend(f"  {o['op']:22s} v{o['version']}  x{o['count']}" for o in info["ops"])
    meta = info["metadata"]
    lines.append("Metadata:")
    if meta is None:
        lines.append("  none")
    elif "error" in meta:
        lines.append(f"  {meta['error']}")
    else:
        lines.append(f"  name: {meta['name']}; version: {meta['version']}")
        lines.append(f"  description: {meta['description']}")
        for sub in meta["subgraphs"]:
            for t in sub["inputs"]:
                norm = t.get("normalization", {})
                lines.append(f"  input {t['name']}: {t.get('content')} {t.get('color_space', '')}"
                             f" normalization mean={norm.get('mean')} std={norm.get('std')}"
                             f" range={t.get('stats', {}).get('min')}..."
                             f"{t.get('stats', {}).get('max')}")
            for t in sub["outputs"]:
                files = ", ".join(f["name"] for f in t["associated_files"]) or "none"
                lines.append(f"  output {t['name']}: files {files}")
        export_info = info.get("export_info")
        if export_info is not None and "error" in export_info:
            lines.append(f"  export info: {export_info['error']}")
        elif export_info is not None:
            lines.append(f"  export: {export_info.get('model')} width "
                         f"{export_info.get('width')}, {export_info.get('quant')}, "
                         f"mhzoo {export_info.get('mhzoo_version')}")
        if info["labels"]:
            shown = ", ".join(info["labels"][:5])
            more = f", ... ({len(info['labels'])} in all)" if len(info["labels"]) > 5 else ""
            lines.append(f"  labels: {shown}{more}")
    lines.append("Hardware compatibility:")
    lines.append(info["_report"].format())
    return "\n".join(lines)
