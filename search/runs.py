"""The one resumable run folder (training, search and regenerate runs): what a run writes and how
a rerun recognises, resumes or refuses a folder.

A run folder holds a run record (``run.json``; ``regenerate.json`` for regenerate) with the
request and the status, written atomically, and what the run produces::

    DIR/run.json         {"format", "status": "running" | "failed" | "finished", "request"}
    DIR/checkpoints/     tf.train.CheckpointManager (the state file is replaced atomically)
    DIR/history.json     one row per logged step or evaluation, written atomically
    DIR/tensorboard/     scalars (:func:`tensorboard_scalar`)

:func:`check_run_dir` refuses a folder that holds anything else, or another run (naming the
first field that differs, down to the nested key); a rerun of the same request resumes from the
newest intact checkpoint (:func:`restore_checkpoint`: a damaged newest checkpoint falls back to
the previous one, a garbled state file to the checkpoint files themselves). Pure Python at
import time: TensorFlow is imported inside the two functions that need it.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mhzoo.atomic import atomic_write_text
from mhzoo.search.jsonfile import read_json

__all__ = ["CHECKPOINTS", "HISTORY", "MODEL", "REGENERATE", "RUN_FILE", "SEARCH", "TENSORBOARD",
           "TRAIN", "RunKind", "check_run_dir", "first_difference", "read_history", "read_run",
           "restore_checkpoint", "tensorboard_scalar", "without_notes", "write_history",
           "write_run"]

RUN_FILE = "run.json"
HISTORY = "history.json"
CHECKPOINTS = "checkpoints"
TENSORBOARD = "tensorboard"
MODEL = "model"


@dataclass(frozen=True)
class RunKind:
    """One kind of run folder.

    Attributes:
        label: how messages name it (``"training run"``).
        format: the run record's format tag.
        run_file: the run record's file name.
        owned: names a folder of this kind may hold (``None``: anything, once the record is
            there).
        identity: request fields that must match for a rerun to resume (``None``: all).
    """

    label: str
    format: str
    run_file: str = RUN_FILE
    owned: frozenset[str] | None = None
    identity: tuple[str, ...] | None = None


TRAIN = RunKind("training run", "mhzoo-train-run",
                owned=frozenset({RUN_FILE, HISTORY, CHECKPOINTS, TENSORBOARD, MODEL}),
                identity=("architecture", "spec", "width", "num_classes", "recipe", "data",
                          "seed", "weights", "freeze_backbone", "global_batch"))
SEARCH = RunKind("search run", "mhzoo-search-run",
                 owned=frozenset({RUN_FILE, HISTORY, CHECKPOINTS, TENSORBOARD,
                                  "search_result.json", "probabilities.png",
                                  "architecture.png", "convergence.png"}),
                 identity=("space", "space_options", "reward", "targets", "cost_models",
                           "factors", "data", "splits", "config", "seed", "replicas"))
REGENERATE = RunKind("regenerate run", "mhzoo-regenerate", run_file="regenerate.json")


# ---------------------------------------------------------------------------- run record
def read_run(out: str | os.PathLike, kind: RunKind) -> dict[str, Any] | None:
    """The run record of ``out`` (``None`` when absent or of another format); ``ValueError``
    when it cannot be read."""
    p = Path(out) / kind.run_file
    if not p.is_file():
        return None
    data = read_json(p, f"{kind.label} record")
    if not isinstance(data, dict) or data.get("format") != kind.format:
        return None
    return data


def write_run(out: str | os.PathLike, kind: RunKind, record: dict[str, Any]) -> Path:
    """Write the run record atomically."""
    return atomic_write_text(Path(out) / kind.run_file, json.dumps(
        {"format": kind.format, **record}, indent=1, default=str) + "\n")


def _canon(v: Any) -> str:
    return json.dumps(v, sort_keys=True, default=str)


def _short(v: Any) -> str:
    text = _canon(v)
    return text if len(text) <= 60 else text[:57] + "..."


def without_notes(v: Any) -> Any:
    """``v`` without its ``notes`` entries at any depth: free text (where a preset's values come
    from) is not part of a run's identity, so rewording it never strands a run folder."""
    if isinstance(v, dict):
        return {k: without_notes(x) for k, x in v.items() if k != "notes"}
    return v


def first_difference(old: Any, new: Any, key: str) -> str | None:
    """``"key.sub: old vs new"`` for the first nested field where ``old`` and ``new`` differ
    (``None`` when they are equal)."""
    if _canon(old) == _canon(new):
        return None
    if isinstance(old, dict) and isinstance(new, dict):
        for k in sorted(set(old) | set(new), key=str):
            found = first_difference(old.get(k), new.get(k), f"{key}.{k}")
            if found:
                return found
    return f"{key}: {_short(old)} vs {_short(new)}"


def check_run_dir(out: str | os.PathLike, kind: RunKind, request: dict[str, Any] | None
                  ) -> dict[str, Any] | None:
    """Validate ``out`` for ``request``; the existing run record when it is this run's folder.

    With ``request=None`` only the folder's kind is checked (a run folder of ``kind`` or none).

    Raises:
        ValueError: ``out`` is a file, its parent is missing, it holds something other than a
            run of ``kind``, or a run with another request (naming the first difference).
    """
    p = Path(out)
    if p.exists() and not p.is_dir():
        raise ValueError(f"output path is a file, expected a folder: {p}")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise ValueError(f"output folder does not exist: {parent}")
    if not p.exists() or not any(p.iterdir()):
        return None
    run = read_run(p, kind)
    entries = sorted(e.name for e in p.iterdir())
    other = [] if kind.owned is None else [
        e for e in entries if e not in kind.owned and not e.startswith(".")]
    if run is None or other:
        shown = ", ".join((other or entries)[:3])
        raise ValueError(f"output folder {p} holds something else ({shown}); give a new or empty "
                         f"folder (a rerun resumes only a {kind.label}'s own folder)")
    if request is not None:
        old = run.get("request") if isinstance(run.get("request"), dict) else {}
        keys = kind.identity if kind.identity is not None else tuple(
            sorted(set(old) | set(request)))
        for key in keys:
            diff = first_difference(without_notes(old.get(key)),
                                    without_notes(request.get(key)), key)
            if diff:
                raise ValueError(f"output folder {p} holds another {kind.label} ({diff}); give a "
                                 f"new folder to start a new one")
    return run


# ---------------------------------------------------------------------------- history
def read_history(out: str | os.PathLike, up_to_step: int | None = None) -> list[dict[str, Any]]:
    """Rows of ``history.json`` (only those at or before ``up_to_step``); a damaged file reads
    as no rows (the history is rebuilt from the checkpoint's step on)."""
    try:
        rows = read_json(Path(out) / HISTORY, "run history", missing_ok=True)
    except ValueError:
        return []
    if not isinstance(rows, list):
        return []
    return [r for r in rows if isinstance(r, dict)
            and (up_to_step is None or r.get("step", 0) <= up_to_step)]


def write_history(out: str | os.PathLike, rows: list[dict[str, Any]]) -> Path:
    """Write ``history.json`` atomically."""
    return atomic_write_text(Path(out) / HISTORY, json.dumps(rows, indent=1) + "\n")


# ---------------------------------------------------------------------------- checkpoints
def _checkpoint_files(directory: Path) -> list[str]:
    """Checkpoint prefixes found on disk, newest (highest number) first."""
    if not directory.is_dir():
        return []
    found = []
    for f in directory.glob("ckpt-*.index"):
        m = re.fullmatch(r"ckpt-(\d+)\.index", f.name)
        if m:
            found.append((int(m.group(1)), str(directory / f"ckpt-{m.group(1)}")))
    return [path for _, path in sorted(found, reverse=True)]


def restore_checkpoint(checkpoint: Any, out: str | os.PathLike, *, max_to_keep: int = 2) -> Any:
    """A ``tf.train.CheckpointManager`` over ``out/checkpoints`` with ``checkpoint`` restored
    from the newest intact checkpoint (nothing restored in a new folder).

    A damaged newest checkpoint falls back to the previous one, and a state file that cannot be
    parsed to the checkpoint files on disk, each with a one-line note on stderr.

    Raises:
        ValueError: checkpoint files exist but none of them restores.
    """
    import tensorflow as tf  # function-level: the run folder is read without TensorFlow

    directory = Path(out) / CHECKPOINTS
    manager = tf.train.CheckpointManager(checkpoint, str(directory), max_to_keep=max_to_keep)
    on_disk = _checkpoint_files(directory)
    listed = list(reversed(manager.checkpoints))
    if on_disk and not listed and (directory / "checkpoint").exists():
        print(f"note: the checkpoint state file {directory / 'checkpoint'} is unreadable; "
              "resuming from the checkpoint files", file=sys.stderr)
    candidates = list(dict.fromkeys(listed + on_disk))
    failed: list[str] = []
    for path in candidates:
        try:
            checkpoint.restore(path).assert_existing_objects_matched()
        except Exception as exc:  # a damaged file raises whatever the reader
            # hits: DataLossError, IndexError "read less bytes", a failed assertion ...)
            msg = " ".join(str(getattr(exc, "message", exc)).split())[:120]
            failed.append(f"{Path(path).name} ({type(exc).__name__}: {msg})")
            continue
        if failed:
            print(f"note: damaged checkpoint(s) {', '.join(f.split(' ')[0] for f in failed)} "
                  f"skipped; resuming from {Path(path).name}", file=sys.stderr)
        return manager
    if candidates:
        raise ValueError(f"no intact checkpoint in {directory}: {'; '.join(failed)}; remove the "
                         "folder to start again")
    return manager


# ---------------------------------------------------------------------------- tensorboard
def tensorboard_scalar(name: str, value: float, step: int) -> None:
    """A TensorBoard scalar through the core summary op (no ``tensorboard`` package needed);
    call inside ``writer.as_default()``."""
    import tensorflow as tf  # function-level: the run folder is read without TensorFlow
    from tensorflow.core.framework import summary_pb2  # lazy: no TensorFlow at import time

    meta = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"))
    tf.summary.write(name, tf.constant(float(value), tf.float32), step=step, metadata=meta)
