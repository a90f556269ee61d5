"""``mhzoo.model_info``: everything the registry knows about a model at one width."""

from __future__ import annotations

from typing import Any

from mhzoo.builder import resolve_spec
from mhzoo.paper import table1_row
from mhzoo.profiler import profile
from mhzoo.registry import get_entry, list_models
from mhzoo.widths import check_width, scale_spec

__all__ = ["model_info"]


def model_info(name: str, width: float = 1.0, *, input_size: int = 224,
               divisible_by: int | None = None, verify: bool = False) -> dict[str, Any]:
    """Spec, counts, the paper's Table-1 figures (where a row exists) and source references.

    Returns a JSON-ready dict with at least ``params_m`` (Table-1 convention), ``madds_m``,
    ``keras_params`` and ``backbone_params``.
    """
    if not isinstance(name, str):
        raise ValueError(f"model name must be a string, got {type(name).__name__}")
    width = check_width(width)
    base = resolve_spec(name)  # a registered name, or a spec JSON file (e.g. a searched one)
    entry = get_entry(name) if name in list_models() else None
    prof = profile(base, width, input_size, divisible_by=divisible_by, verify=verify)
    concrete = scale_spec(base, width, divisible_by)
    info: dict[str, Any] = {
        "name": base.name,
        "title": entry.title if entry else base.name,
        "kind": entry.kind if entry else "classifier",
        "description": entry.description if entry else base.description,
        "width": width,
        "divisible_by": divisible_by,
        **prof.to_dict(),
        "spec_string": concrete.to_string(),
        "spec": base.to_dict(),
        "sources": list(entry.sources) if entry else [],
        "paper": None,
    }
    row = table1_row(entry.paper_row) if entry and entry.paper_row else None
    if row is not None:
        info["paper"] = {
            "table": "Table 1 (Pixel 4)",
            "width_multiplier": row.width_multiplier,
            "top1_accuracy_pct": row.top1_accuracy_pct,
            "params_m": row.params_m,
            "madds_m": row.madds_m,
            "latency_ms": row.latency_ms,
            "mn_norm_avg": row.mn_norm_avg,
            "mn_norm_max": row.mn_norm_max,
            "same_width": abs(row.width_multiplier - width) < 1e-9,
        }
    return info
