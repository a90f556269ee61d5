"""The cost-model folder: per-target linear cost models read from files, checked against a space,
and the MN-Norm factors beside them.

A cost-model folder holds one linear model JSON per target (``mhzoo search costmodel fit``;
models of other kinds are ignored, since only linear ones evaluate in-graph from fractional
masks: a kernel model is kept beside the linear model compiled from it; a simulated target's
linear model, compiled from its layer tables, is refused once ZigZag or the target's files
changed) and optionally ``reference_ms.json``, the reference model's latency per target
(MobileNetV1 1.0, the paper's MN-Norm factors ``C_i``)::

    {"format": "mhzoo.reference_ms", "reference": "mobilenet_v1@1.0", "input_size": 224,
     "factors_ms": {"cpu_fp32": 31.2, "cpu_int8": 14.9}}

The cost models' own space options are the deployment decoding (224 px, the space's strides);
the supernet trains another decoding of the same decisions (the proxy), so the structural
options (those that change the decisions) must agree: :func:`load_cost_models` checks them.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mhzoo.atomic import atomic_write_text
from mhzoo.search.cost.base import FORMAT, load_model
from mhzoo.search.cost.linear import LinearCostModel
from mhzoo.search.cost.simulated import check_simulated_model
from mhzoo.search.jsonfile import read_json, read_tagged_json
from mhzoo.search.space import Space

__all__ = ["REFERENCE_FILE", "load_cost_models", "model_digest", "read_reference",
           "write_reference"]

REFERENCE_FILE = "reference_ms.json"
REFERENCE_FORMAT = "mhzoo.reference_ms"


def _model_files(sources: Sequence[str | os.PathLike]) -> list[Path]:
    files: list[Path] = []
    for s in sources:
        p = Path(s)
        if p.is_dir():
            files += sorted(f for f in p.glob("*.json") if f.name != REFERENCE_FILE)
        elif p.is_file():
            files.append(p)
        else:
            raise ValueError(f"cost models not found: {p}")
    return files


def load_cost_models(sources: Sequence[str | os.PathLike] | str | os.PathLike,
                     space: Space) -> dict[str, Any]:
    """Linear cost models (one per target) from folders / files, checked against ``space``.

    Returns ``{target: LinearCostModel}`` in target-name order. ``ValueError`` (one line) when
    there are none, when one is of another space or structural options, when two linear models
    predict one target, or when the models disagree on the deployment decoding.
    """
    if isinstance(sources, str | os.PathLike):
        sources = [sources]
    files = _model_files(sources)
    models: dict[str, Any] = {}
    skipped: list[str] = []
    for f in files:
        head = read_json(f, "cost model")
        if not isinstance(head, dict) or head.get("format") != FORMAT:
            continue  # other JSON files in the folder (datasets' summaries, reports)
        try:
            m = load_model(head)
        except ValueError as exc:
            raise ValueError(f"{f}: {exc}") from None
        try:
            m.check(space)
        except ValueError as exc:
            raise ValueError(f"{f}: {exc} (the search space is {space.name} with "
                             f"{_structural(space)})") from None
        if not isinstance(m, LinearCostModel):
            skipped.append(f"{f.name} ({m.kind})")
            continue
        try:
            check_simulated_model(m)
        except ValueError as exc:
            raise ValueError(f"{f}: {exc}") from None
        if m.target in models:
            raise ValueError(f"two linear cost models for target {m.target!r} ({f}); keep one "
                             "per target")
        models[m.target] = m
    if not models:
        extra = f" (only {', '.join(skipped)}: not linear)" if skipped else ""
        raise ValueError(f"no linear cost models in {', '.join(map(str, sources))}{extra}")
    spaces = {json.dumps(m.space.options, sort_keys=True, default=list) for m in models.values()}
    if len(spaces) > 1:
        raise ValueError("the cost models were fitted on different decodings of the space "
                         f"({' vs '.join(sorted(spaces))}); fit them on one")
    return dict(sorted(models.items()))


def _structural(space: Space) -> str:
    return ", ".join(f"{k}={space.options.get(k)!r}" for k in space.STRUCTURAL) or "no options"


def model_digest(models: Mapping[str, Any]) -> dict[str, str]:
    """A short content hash per cost model (what a run folder records)."""
    return {t: hashlib.sha256(json.dumps(m.to_dict(), sort_keys=True).encode()).hexdigest()[:16]
            for t, m in models.items()}


def read_reference(folder: str | os.PathLike) -> dict[str, Any] | None:
    """``reference_ms.json`` of a cost-model folder (``None`` if absent)."""
    p = Path(folder) / REFERENCE_FILE if Path(folder).is_dir() else None
    if p is None or not p.is_file():
        return None
    data = read_tagged_json(p, REFERENCE_FORMAT, "reference-latency file")
    assert data is not None
    factors = data.get("factors_ms")
    if not isinstance(factors, dict) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v > 0
            for v in factors.values()):
        raise ValueError(f"{p}: 'factors_ms' must map targets to latencies > 0 ms")
    return data


def write_reference(folder: str | os.PathLike, factors_ms: Mapping[str, float], *,
                    reference: str, input_size: int, machine: str = "") -> Path:
    """Write ``reference_ms.json`` atomically."""
    data = {"format": REFERENCE_FORMAT, "reference": reference, "input_size": input_size,
            "machine": machine, "factors_ms": {t: float(v) for t, v in factors_ms.items()}}
    return atomic_write_text(Path(folder) / REFERENCE_FILE, json.dumps(data, indent=1) + "\n")
