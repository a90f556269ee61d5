"""``search_result.json``: the file a finished search writes (pure Python, no TensorFlow).

It sits in the search's run folder (:mod:`mhzoo.search.runs`) beside ``run.json``,
``checkpoints/``, ``tensorboard/``, ``history.json`` and the pictures (:data:`PLOTS`).

``search_result.json`` holds the deployment :class:`~mhzoo.spec.ArchSpec` under the top-level key
``"spec"`` (and no ``"blocks"``), which :meth:`ArchSpec.from_file` reads: so
``mhzoo.build("search_result.json")``, ``mhzoo info / export / bench search_result.json`` take it
as it is, without the core importing :mod:`mhzoo.search`. Beside it: the space and genotype (the
deployment decoding and the proxy one), predicted latency per target, predicted MN-Norm avg /
max, the controller's final probabilities, the run config, the data splits (``"splits"``: rule
``mhzoo.splits/v1``, sizes, seed and the test split's digest), and under ``"convergence"`` the
verdict and diagnostics of :mod:`mhzoo.search.tunas.convergence` (``converged``, the thresholds it
used, per-decision top probability and entropy, the argmax's predicted cost beside the mean cost
of architectures sampled from the final distribution).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from mhzoo.atomic import atomic_write_text
from mhzoo.search.jsonfile import read_tagged_json
from mhzoo.search.space import Genotype
from mhzoo.spec import ArchSpec

__all__ = ["FORMAT", "PLOTS", "RESULT_FILE", "add_convergence", "read_result",
           "result_convergence", "result_genotype", "result_spec", "write_result"]

FORMAT = "mhzoo.search_result"
RESULT_FILE = "search_result.json"
PLOTS = ("probabilities.png", "architecture.png", "convergence.png")


# ---------------------------------------------------------------------------- result file
def write_result(path: str | os.PathLike, result: dict[str, Any]) -> Path:
    """Write a result dict (from the search loop) atomically; checks that its spec parses."""
    if not isinstance(result, dict) or not isinstance(result.get("spec"), dict):
        raise ValueError("a search result needs a 'spec' (the deployment ArchSpec as a dict)")
    ArchSpec.from_dict(result["spec"])
    if "convergence" in result:
        _check_convergence(result["convergence"])
    data = {"format": FORMAT, **{k: v for k, v in result.items() if k != "format"}}
    data.pop("blocks", None)  # the spec lives under "spec" only (ArchSpec.from_file reads it)
    return atomic_write_text(path, json.dumps(data, indent=1, allow_nan=False) + "\n")


def read_result(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check a ``search_result.json`` (or a search run folder holding one)."""
    p = Path(path)
    if p.is_dir():
        p = p / RESULT_FILE
    data = read_tagged_json(p, FORMAT, "search result")
    assert data is not None
    try:
        ArchSpec.from_dict(data.get("spec"))
    except ValueError as exc:
        raise ValueError(f"{p}: {exc}") from None
    return data


def result_spec(path_or_result: str | os.PathLike | dict[str, Any]) -> ArchSpec:
    """The deployment ``ArchSpec`` of a result (file, folder or dict)."""
    data = path_or_result if isinstance(path_or_result, dict) else read_result(path_or_result)
    return ArchSpec.from_dict(data["spec"])


def result_genotype(path_or_result: str | os.PathLike | dict[str, Any],
                    which: str = "deployment") -> Any:
    """The result's :class:`~mhzoo.search.Genotype` (``"deployment"`` or ``"proxy"``)."""
    data = path_or_result if isinstance(path_or_result, dict) else read_result(path_or_result)
    key = {"deployment": "genotype", "proxy": "proxy_genotype"}.get(which)
    if key is None:
        raise ValueError(f"which must be 'deployment' or 'proxy', got {which!r}")
    return Genotype.from_dict(data[key])


# ---------------------------------------------------------------------------- convergence
def _check_convergence(block: Any) -> None:
    if not isinstance(block, dict) or not isinstance(block.get("converged"), bool) or \
            not isinstance(block.get("thresholds"), dict):
        raise ValueError("a result's 'convergence' needs 'converged' (true / false) and the "
                         "'thresholds' it used")


def add_convergence(path: str | os.PathLike, report: dict[str, Any]) -> Path:
    """Record a convergence report (:func:`mhzoo.search.tunas.convergence.report`) in an
    existing ``search_result.json`` (or run folder), rewriting it atomically."""
    p = Path(path)
    if p.is_dir():
        p = p / RESULT_FILE
    _check_convergence(report)
    data = read_result(p)
    data["convergence"] = report
    return write_result(p, data)


def result_convergence(path_or_result: str | os.PathLike | dict[str, Any]
                       ) -> dict[str, Any] | None:
    """The result's convergence report (``None`` for a result written without one)."""
    data = path_or_result if isinstance(path_or_result, dict) else read_result(path_or_result)
    block = data.get("convergence")
    if block is not None:
        _check_convergence(block)
    return block
