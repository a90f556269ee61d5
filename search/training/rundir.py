"""The training run folder: what a run writes and how a rerun recognises its own folder.

```
DIR/run.json        the request (model, recipe, data, seed ...) and status, written atomically
DIR/checkpoints/    tf.train.CheckpointManager: model, optimizer, EMA, step, budget, RNG
DIR/history.json    one row per evaluation (the learning curve), written atomically
DIR/tensorboard/    train/ and held_out/ scalars
DIR/model/          the final mhzoo checkpoint (save_pretrained), when the run has finished
```

A rerun with the same request resumes from the latest checkpoint; a folder holding anything
else, or another run, is refused before anything is written.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from mhzoo.atomic import atomic_write_text

__all__ = ["CHECKPOINTS", "HISTORY", "MODEL", "RUN_FILE", "TENSORBOARD", "check_run_dir",
           "read_history", "read_run", "write_history", "write_run"]

RUN_FILE = "run.json"
HISTORY = "history.json"
CHECKPOINTS = "checkpoints"
TENSORBOARD = "tensorboard"
MODEL = "model"
FORMAT = "mhzoo-train-run"
_OURS = {RUN_FILE, HISTORY, CHECKPOINTS, TENSORBOARD, MODEL}
#: request fields that must match for a rerun to resume
_IDENTITY = ("architecture", "spec", "width", "num_classes", "recipe", "data", "seed",
             "weights", "freeze_backbone", "global_batch")


def read_run(out: Path) -> dict[str, Any] | None:
    """``run.json`` of ``out`` (``None`` if absent); ``ValueError`` if unreadable."""
    p = out / RUN_FILE
    if not p.is_file():
        return None
    try:
        data = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"malformed {p}: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return None
    return data


def check_run_dir(out: str | os.PathLike, request: dict[str, Any] | None
                  ) -> dict[str, Any] | None:
    """Validate ``out`` for ``request``; the existing run record when it is this run's folder.

    With ``request=None`` only the folder's kind is checked (a training run's folder or none).

    Raises:
        ValueError: ``out`` is a file, its parent is missing, it holds something other than a
            training run, or a run with another request (naming the first difference).
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
                         "folder (a rerun resumes only a training run's own folder)")
    for key in _IDENTITY if request is not None else ():
        if _canon(run.get("request", {}).get(key)) != _canon(request.get(key)):
            raise ValueError(f"output folder {p} holds another training run ({key} differs: "
                             f"{_short(run.get('request', {}).get(key))} vs "
                             f"{_short(request.get(key))}); give a new folder to start a new run")
    return run


def _canon(v: Any) -> str:
    return json.dumps(v, sort_keys=True, default=str)


def _short(v: Any) -> str:
    text = _canon(v)
    return text if len(text) <= 60 else text[:57] + "..."


def write_run(out: Path, record: dict[str, Any]) -> None:
    """Write ``run.json`` atomically."""
    atomic_write_text(out / RUN_FILE, json.dumps({"format": FORMAT, **record}, indent=1,
                                                 default=str) + "\n")


def read_history(out: Path, up_to_step: int | None = None) -> list[dict[str, Any]]:
    """Rows of ``history.json`` (only those at or before ``up_to_step``)."""
    p = out / HISTORY
    if not p.is_file():
        return []
    try:
        rows = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return []
    return [r for r in rows if up_to_step is None or r.get("step", 0) <= up_to_step]


def write_history(out: Path, rows: list[dict[str, Any]]) -> None:
    """Write ``history.json`` atomically."""
    atomic_write_text(out / HISTORY, json.dumps(rows, indent=1) + "\n")
