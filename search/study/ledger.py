"""The stage ledger of a study folder: ``DIR/study.json``, rewritten atomically after every
stage, records the request and, per stage, when it started and finished, how long it took and
the outputs it left. A stage is skipped when the ledger says it finished *and* its outputs are
still there; a stage that was interrupted (SIGKILL included) has no ``finished`` entry and runs
again, resuming from whatever its own outputs hold (a search or a training resumes from its
checkpoint, a measurement from its results database).

Pure Python; no TensorFlow.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mhzoo.atomic import atomic_write_text
from mhzoo.search.runs import first_difference

__all__ = ["LEDGER_FILE", "LEDGER_FORMAT", "Ledger"]

LEDGER_FILE = "study.json"
LEDGER_FORMAT = "mhzoo.study/v1"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Ledger:
    """The ledger of one study folder (see the module docstring).

    Args:
        out: the study folder (created when missing; its parent must exist).
        request: the study's request (plain JSON data); a folder holding another request is
            refused with a one-line ``ValueError`` naming the first difference.
        echo: where the ``[study] ...`` lines go.
    """

    def __init__(self, out: str | os.PathLike, request: dict[str, Any],
                 echo: Callable[[str], None] = print) -> None:
        self.out = Path(out)
        self.path = self.out / LEDGER_FILE
        self.echo = echo
        plain = json.loads(json.dumps(request, default=str))
        if self.out.is_file():
            raise ValueError(f"output path is a file, expected a folder: {self.out}")
        if self.path.is_file():
            try:
                old = json.loads(self.path.read_text())
            except (OSError, ValueError) as exc:
                raise ValueError(f"{self.path} is damaged ({exc}); move the folder away") from None
            if not isinstance(old, dict) or old.get("format") != LEDGER_FORMAT:
                raise ValueError(f"{self.path} is not a study ledger ({LEDGER_FORMAT})")
            diff = first_difference(old.get("request"), plain, "request")
            if diff is not None:
                raise ValueError(f"{self.out} holds another study ({diff}); give another "
                                 "folder or the same options")
            self.data = old
        else:
            if self.out.is_dir() and any(self.out.iterdir()):
                raise ValueError(f"{self.out} is not empty and holds no study ledger; give a "
                                 "new folder")
            if not self.out.parent.is_dir():
                raise ValueError(f"output folder does not exist: {self.out.parent}")
            self.out.mkdir(exist_ok=True)
            self.data = {"format": LEDGER_FORMAT, "request": plain, "created": _now(),
                         "stages": {}}
            self._save()

    # ------------------------------------------------------------------------------ state
    @property
    def stages(self) -> dict[str, dict[str, Any]]:
        """``{stage: entry}`` in the order they first started."""
        return self.data["stages"]

    def _save(self) -> None:
        atomic_write_text(self.path, json.dumps(self.data, indent=1, default=str) + "\n")

    def is_done(self, name: str) -> bool:
        """Whether stage ``name`` finished and every output it recorded still exists."""
        e = self.stages.get(name)
        if not e or "finished" not in e:
            return False
        return all((self.out / p).exists() for p in e.get("outputs", []))

    def value(self, name: str) -> Any:
        """What a finished stage returned (JSON), or ``None``."""
        return (self.stages.get(name) or {}).get("value")

    def seconds(self, prefix: str = "") -> float:
        """Wall seconds of the finished stages whose names start with ``prefix`` (every run of
        an interrupted stage counted)."""
        return round(sum(e.get("seconds", 0.0) + e.get("interrupted_seconds", 0.0)
                         for k, e in self.stages.items() if k.startswith(prefix)), 1)

    # ------------------------------------------------------------------------------ running
    def run(self, name: str, fn: Callable[[], Any], outputs: Sequence[str | os.PathLike] = ()
            ) -> Any:
        """Run stage ``name`` unless it is done; returns its value (the recorded one when
        skipped). ``outputs`` (relative to the study folder) must exist afterwards."""
        if self.is_done(name):
            self.echo(f"[study] {name}: done, skipped")
            return self.value(name)
        e = self.stages.setdefault(name, {})
        if "started" in e and "finished" not in e:  # an interrupted run: count what it spent
            e["runs"] = e.get("runs", 1) + 1
        e.pop("finished", None)
        e.pop("counted", None)
        e["started"] = _now()
        e["started_unix"] = time.time()
        self._save()
        self.echo(f"[study] {name} ...")
        t0 = time.perf_counter()
        value = fn()
        return self.record(name, value, outputs, time.perf_counter() - t0)

    def record(self, name: str, value: Any, outputs: Sequence[str | os.PathLike],
               seconds: float, started_unix: float | None = None, note: str | None = None
               ) -> Any:
        """Mark stage ``name`` finished with ``value`` after ``seconds`` of wall time (what
        :meth:`run` does when its function returns; also for a stage run by another process,
        given its start time and a ``note``); ``outputs`` must exist. Returns the value."""
        outs = [os.fspath(o) for o in outputs]
        missing = [o for o in outs if not (self.out / o).exists()]
        if missing:
            raise RuntimeError(f"stage {name} left no {', '.join(missing)}")
        e = self.stages.setdefault(name, {})
        if started_unix is not None:
            if "started" in e and "finished" not in e:  # an interrupted run before this one
                e["runs"] = e.get("runs", 1) + 1
            e.pop("counted", None)
            e["started"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started_unix))
            e["started_unix"] = started_unix
        e["seconds"] = round(seconds, 1)
        e["finished"] = _now()
        e["outputs"] = outs
        e["value"] = json.loads(json.dumps(value, default=str))
        if note:
            e["note"] = note
        self._save()
        self.echo(f"[study] {name}: {e['seconds']:.1f} s")
        return e["value"]

    def note_interrupted(self) -> None:
        """Add the wall time of stages that started and never finished (an earlier process was
        killed) to their ``interrupted_seconds``, from their start to the newest file written
        in the study folder; called once when a study resumes."""
        last = max((p.stat().st_mtime for p in self.out.rglob("*") if p.is_file()),
                   default=time.time())
        changed = False
        for e in self.stages.values():
            if "started_unix" in e and "finished" not in e and not e.get("counted"):
                e["interrupted_seconds"] = round(e.get("interrupted_seconds", 0.0) + max(
                    0.0, last - e["started_unix"]), 1)
                e["counted"] = True
                changed = True
        if changed:
            self._save()
