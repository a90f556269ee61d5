"""``search_result.json`` and the search run folder (pure Python, no TensorFlow).

A search run folder::

    DIR/run.json             the request (space, reward, cost models, data, config, seed) and
                             status, written atomically; a rerun with another request is refused
    DIR/checkpoints/         tf.train.CheckpointManager: supernet, controller (logits, Adam,
                             baseline), optimizer, step
    DIR/tensorboard/         scalars (reward, accuracy, cost per target, MN-Norm, entropy,
                             per-decision probabilities)
    DIR/history.json         one row per logged step
    DIR/search_result.json   the result, when the search has finished
    DIR/probabilities.png, DIR/architecture.png

``search_result.json`` holds the deployment :class:`~mhzoo.spec.ArchSpec` under the top-level key
``"spec"`` (and no ``"blocks"``), which :meth:`ArchSpec.from_file` reads: so
``mhzoo.build("search_result.json")``, ``mhzoo info / export / bench search_result.json`` take it
as it is, without the core importing :mod:`mhzoo.search`. Beside it: the space and genotype (the
deployment decoding and the proxy one), predicted latency per target, predicted MN-Norm avg /
max, the controller's final probabilities and the run config.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from mhzoo.atomic import atomic_write_text
from mhzoo.spec import ArchSpec

__all__ = ["CHECKPOINTS", "FORMAT", "HISTORY", "RESULT_FILE", "RUN_FILE", "TENSORBOARD",
           "check_search_dir", "read_result", "read_run", "result_genotype", "result_spec",
           "write_result", "write_run"]

FORMAT = "mhzoo.search_result"
RUN_FORMAT = "mhzoo-search-run"
RESULT_FILE = "search_result.json"
RUN_FILE = "run.json"
HISTORY = "history.json"
CHECKPOINTS = "checkpoints"
TENSORBOARD = "tensorboard"
PLOTS = ("probabilities.png", "architecture.png")
_OURS = {RUN_FILE, HISTORY, CHECKPOINTS, TENSORBOARD, RESULT_FILE, *PLOTS}
#: request fields that must match for a rerun to resume
_IDENTITY = ("space", "space_options", "reward", "targets", "cost_models", "factors",
             "data", "config", "seed", "replicas")


# ---------------------------------------------------------------------------- result file
def write_result(path: str | os.PathLike, result: dict[str, Any]) -> Path:
    """Write a result dict (from the search loop) atomically; checks that its spec parses."""
    if not isinstance(result, dict) or not isinstance(result.get("spec"), dict):
        raise ValueError("a search result needs a 'spec' (the deployment ArchSpec as a dict)")
    ArchSpec.from_dict(result["spec"])
    data = {"format": FORMAT, **{k: v for k, v in result.items() if k != "format"}}
    data.pop("blocks", None)  # the spec lives under "spec" only (ArchSpec.from_file reads it)
    return atomic_write_text(path, json.dumps(data, indent=1, allow_nan=False) + "\n")


def read_result(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check a ``search_result.json`` (or a search run folder holding one)."""
    p = Path(path)
    if p.is_dir():
        p = p / RESULT_FILE
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"search result not found: {p}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read search result {p}: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{p} is not an mhzoo search result (no format {FORMAT!r})")
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
    from mhzoo.search.space import Genotype

    data = path_or_result if isinstance(path_or_result, dict) else read_result(path_or_result)
    key = {"deployment": "genotype", "proxy": "proxy_genotype"}.get(which)
    if key is None:
        raise ValueError(f"which must be 'deployment' or 'proxy', got {which!r}")
    return Genotype.from_dict(data[key])


# ---------------------------------------------------------------------------- run folder
def read_run(out: Path) -> dict[str, Any] | None:
    """``run.json`` of a search run folder (``None`` when absent or of another kind)."""
    p = out / RUN_FILE
    if not p.is_file():
        return None
    try:
        data = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"malformed {p}: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != RUN_FORMAT:
        return None
    return data


def write_run(out: Path, record: dict[str, Any]) -> None:
    """Write ``run.json`` atomically."""
    atomic_write_text(out / RUN_FILE, json.dumps({"format": RUN_FORMAT, **record}, indent=1,
                                                 default=str) + "\n")


def _canon(v: Any) -> str:
    return json.dumps(v, sort_keys=True, default=str)


def _short(v: Any) -> str:
    text = _canon(v)
    return text if len(text) <= 60 else text[:57] + "..."


def check_search_dir(out: str | os.PathLike, request: dict[str, Any] | None
                     ) -> dict[str, Any] | None:
    """Validate ``out`` for ``request``; the existing run record when it is this run's folder.

    With ``request=None`` only the folder's kind is checked.

    Raises:
        ValueError: ``out`` is a file, its parent is missing, it holds something other than a
            search run, or a search with another request (naming the first difference).
    """
    p = Path(out)
    if p.exists() and not p.is_dir():
        raise ValueError(f"output path is a file, expected a folder: {p}")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise ValueError(f"output folder does not exist: {parent}")
    if not p.exists() or not any(p.iterdir()):
        return None
    run = read_run(p)
    entries = sorted(e.name for e in p.iterdir())
    other = [e for e in entries if e not in _OURS and not e.startswith(".")]
    if run is None or other:
        shown = ", ".join((other or entries)[:3])
        raise ValueError(f"output folder {p} holds something else ({shown}); give a new or empty "
                         "folder (a rerun resumes only a search run's own folder)")
    for key in _IDENTITY if request is not None else ():
        old = run.get("request", {}).get(key)
        if _canon(old) != _canon(request.get(key)):
            raise ValueError(f"output folder {p} holds another search run ({key} differs: "
                             f"{_short(old)} vs {_short(request.get(key))}); give a new folder "
                             "to start a new search")
    return run
