"""Latency datasets for cost models: (genotype, latency per target) rows.

Three sources, one reader (:func:`load_dataset`):

* a CSV with a ``genotype`` column (compact genotype strings) and ``<target>_ms`` columns, as
  ``mhzoo search dataset`` writes from a results store;
* the HELP / HW-NAS-Bench FBNet CSV (../shared/data/fbnet-latency): an ``ops`` column of 22
  op indices, decoded in the ``fbnet`` space, and ``<device>_ms`` columns;
* a results store (``.sqlite``) written by ``mhzoo search collect``.

``rows="A:B"`` takes a slice of the rows in file order (``":1000"`` to fit, ``"1000:"`` to
evaluate on architectures never used in fitting).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mhzoo.atomic import atomic_write_text
from mhzoo.search.latency.shards import store_dataset
from mhzoo.search.space import Genotype, Space, get_space
from mhzoo.search.space.genotype import plain_options

__all__ = ["Dataset", "load_dataset", "parse_rows", "write_dataset_csv"]


@dataclass
class Dataset:
    """Genotypes of one space and their latency (ms) per target."""

    space: Space
    genotypes: list[Genotype]
    latency: dict[str, np.ndarray]  # target -> [n]
    source: str = ""
    machine: str = ""

    def __len__(self) -> int:
        return len(self.genotypes)

    @property
    def targets(self) -> list[str]:
        """Targets with a latency column."""
        return list(self.latency)

    def y(self, target: str) -> np.ndarray:
        """Latencies of one target; ``ValueError`` naming the available ones otherwise."""
        if target not in self.latency:
            raise ValueError(f"dataset {self.source} has no latency of target {target!r}; it "
                             f"has {', '.join(self.latency) or 'none'}")
        return self.latency[target]

    def subset(self, index: Sequence[int] | np.ndarray) -> Dataset:
        """The rows at ``index``."""
        idx = np.asarray(index, int)
        return Dataset(self.space, [self.genotypes[i] for i in idx],
                       {t: v[idx] for t, v in self.latency.items()}, self.source, self.machine)

    def rows(self, spec: str | None) -> Dataset:
        """Slice ``"A:B"`` of the rows (``None``: all)."""
        return self.subset(np.arange(len(self))[parse_rows(spec)])


def parse_rows(spec: str | None) -> slice:
    """``"A:B"`` / ``":B"`` / ``"A:"`` -> a slice (``None`` -> everything)."""
    if spec is None or spec == "":
        return slice(None)
    a, sep, b = str(spec).partition(":")
    try:
        if not sep:
            raise ValueError
        start = int(a) if a.strip() else None
        stop = int(b) if b.strip() else None
    except ValueError:
        raise ValueError(f"rows must look like A:B, :B or A: (row numbers), got {spec!r}"
                         ) from None
    return slice(start, stop)


def _read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"dataset not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read dataset {path}: {exc}") from None
    reader = csv.DictReader(io.StringIO(text))
    cols = list(reader.fieldnames or [])
    try:
        return cols, list(reader)
    except csv.Error as exc:
        raise ValueError(f"{path}: malformed CSV ({exc})") from None


def _latency(value: str, where: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: latency {value!r} is not a number") from None
    if not np.isfinite(v) or v <= 0:
        raise ValueError(f"{where}: latency must be > 0 ms, got {value!r}")
    return v


def load_dataset(path: str | os.PathLike, space: Space | None = None, *,
                 targets: Sequence[str] | None = None, machine: str | None = None) -> Dataset:
    """Read a dataset (CSV or results store; see the module docstring).

    ``space``: the space its genotypes must be of (for the FBNet CSV default ``fbnet``; for a
    store required). ``targets``: the latency columns to keep (default all). A genotype of
    another space, of the wrong length or with an index out of range is a ``ValueError``
    naming the row.
    """
    p = Path(path)
    if p.suffix in (".sqlite", ".db", ".sqlite3"):
        if space is None:
            raise ValueError("reading a results store needs the space (--space)")
        if not targets:
            raise ValueError("reading a results store needs the targets (--target)")
        rows = store_dataset(p, space, list(targets), machine=machine)
        gs = [_genotype(space, r["genotype"], f"{p} row {i + 1}") for i, r in enumerate(rows)]
        _same_options(space, gs, p)
        lat = {t: np.asarray([r[f"{t}_ms"] for r in rows]) for t in targets}
        return Dataset(space, gs, lat, str(p), machine or "")
    cols, rows = _read_csv(p)
    if not rows:
        raise ValueError(f"dataset {p} has no rows")
    lat_cols = [c for c in cols if c.endswith("_ms")]
    names = [c[:-3] for c in lat_cols]
    if targets:
        missing = [t for t in targets if t not in names]
        if missing:
            raise ValueError(f"dataset {p} has no latency column for {', '.join(missing)}; it "
                             f"has {', '.join(names) or 'none'}")
        names = list(targets)
    if "ops" in cols and "genotype" not in cols:  # the HELP / HW-NAS-Bench FBNet table
        sp = space or get_space("fbnet")
        if sp.name != "fbnet":
            raise ValueError(f"{p} is an FBNet table (ops column); the space is {sp.name!r}")
        gs = []
        for i, r in enumerate(rows):
            try:
                gs.append(sp.genotype_from_ops(r["ops"]))
            except ValueError as exc:
                raise ValueError(f"{p} row {i + 1}: {exc}") from None
    elif "genotype" in cols:
        if space is None:
            try:
                first = Genotype.from_string(rows[0]["genotype"])
                space = get_space(first.space, **first.meta)
            except ValueError as exc:
                raise ValueError(f"{p} row 1: {exc}") from None
        sp = space
        gs = [_genotype(sp, r["genotype"], f"{p} row {i + 1}") for i, r in enumerate(rows)]
        _same_options(sp, gs, p)
    else:
        raise ValueError(f"dataset {p} needs a 'genotype' (or FBNet 'ops') column")
    lat = {t: np.asarray([_latency(r[f"{t}_ms"], f"{p} row {i + 1}")
                          for i, r in enumerate(rows)]) for t in names}
    return Dataset(sp, gs, lat, str(p), machine or "")


def _same_options(space: Space, genotypes: Sequence[Genotype], where: Path) -> None:
    """Every row's options must be the space's (a model is labelled with one decoding)."""
    want = plain_options(space.options)
    for i, g in enumerate(genotypes):
        if not g.options:
            continue
        have = plain_options(g.options)
        if have != want:
            k = sorted(k for k in set(have) | set(want) if have.get(k) != want.get(k))[0]
            raise ValueError(f"{where} row {i + 1}: genotype has {k}={have.get(k)!r} but the "
                             f"dataset's space has {k}={want.get(k)!r}; a dataset holds one "
                             "decoding of the space (split it by options)")


def _genotype(space: Space, text: Any, where: str) -> Genotype:
    try:
        g = Genotype.from_string(text)
        if g.space != space.name:
            raise ValueError(f"genotype is of space {g.space!r}, not {space.name!r}")
        space.active(g)
        return g
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def write_dataset_csv(path: str | os.PathLike, rows: Sequence[dict[str, Any]],
                      targets: Sequence[str]) -> Path:
    """Write ``genotype,<target>_ms,...`` rows atomically."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["genotype"] + [f"{t}_ms" for t in targets])
    for r in rows:
        w.writerow([r["genotype"]] + [f"{float(r[f'{t}_ms']):.5f}" for t in targets])
    return atomic_write_text(path, buf.getvalue())
