"""Splitting a collection across machines and joining the stores: shards (a partition by store
key that does not depend on list order), merging results databases, and reading a store back as
``(genotype, latency per target)`` rows."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mhzoo.atomic import atomic_path, check_output_path
from mhzoo.benchmarks.store import LatencyStore
from mhzoo.search.space import Genotype, Space
from mhzoo.search.space.genotype import plain_options

__all__ = ["merge_stores", "parse_shard", "shard_of", "store_dataset"]


def parse_shard(text: str | None) -> tuple[int, int]:
    """``"I/N"`` -> ``(I, N)`` with ``0 <= I < N`` (``None`` -> ``(0, 1)``: everything)."""
    if text is None:
        return (0, 1)
    parts = str(text).split("/")
    try:
        i, n = (int(p) for p in parts)
    except ValueError:
        raise ValueError(f"shard must look like I/N (e.g. 0/4), got {text!r}") from None
    if n < 1 or not 0 <= i < n:
        raise ValueError(f"shard {text!r}: need 0 <= I < N (shards are numbered from 0)")
    return (i, n)


def shard_of(key: str, n: int) -> int:
    """The shard (of ``n``) that a store key belongs to: its SHA-256 modulo ``n``."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:16], 16) % n


def merge_stores(sources: Sequence[str | os.PathLike], dest: str | os.PathLike, *,
                 force: bool = False) -> dict[str, int]:
    """Join results databases into a new one at ``dest`` (written atomically).

    Rows with the same key (architecture, width, target, machine) in several sources are kept
    once (the first source's). Returns ``{"rows": ..., "duplicates": ...}``.
    """
    if not sources:
        raise ValueError("merge needs at least one source database")
    out = check_output_path(dest, force=force)
    resolved = {Path(s).resolve() for s in sources}
    if out.resolve() in resolved:
        raise ValueError(f"the output {out} is also a source; give a new file")
    stores = [LatencyStore(s, readonly=True) for s in sources]
    try:
        rows = dup = 0
        with atomic_path(out) as tmp, LatencyStore(tmp) as merged:
            for s in stores:
                for rec in s.records():
                    if merged.put(rec):
                        rows += 1
                    else:
                        dup += 1
    finally:
        for s in stores:
            s.close()
    return {"rows": rows, "duplicates": dup}


def store_dataset(db: str | os.PathLike, space: Space, targets: Sequence[str], *,
                  machine: str | None = None) -> list[dict[str, Any]]:
    """Rows ``{"genotype": str, "<target>_ms": median, ...}`` of the architectures of ``space``
    measured on every one of ``targets`` (in collection order).

    ``machine`` picks one machine's rows; ``ValueError`` when the store holds several and none
    is named, or when no row has a genotype of ``space``.
    """
    if not targets:
        raise ValueError("no targets given")
    with LatencyStore(db, readonly=True) as store:
        machines = store.machines()
        if machine is None:
            if len(machines) > 1:
                raise ValueError(f"{db} holds rows of several machines ({', '.join(machines)});"
                                 " choose one with --machine")
            machine = machines[0] if machines else ""
        elif machine not in machines:
            raise ValueError(f"{db} has no rows of machine {machine!r}; it has "
                             f"{', '.join(machines) or 'none'}")
        recs = store.records(machine=machine, targets=list(targets))
    by_geno: dict[str, dict[str, Any]] = {}
    for r in recs:
        g = r.info.get("genotype")
        if not isinstance(g, str) or r.median_ms is None:
            continue
        if not g.startswith(space.name + ";") and not g.startswith(space.name + ":"):
            continue
        row = by_geno.setdefault(g, {"genotype": g})
        row[f"{r.target}_ms"] = float(r.median_ms)
    rows = [r for r in by_geno.values() if all(f"{t}_ms" in r for t in targets)]
    if not rows:
        raise ValueError(f"{db} has no architectures of space {space.name} measured on "
                         f"{', '.join(targets)}")
    return _one_decoding(rows, space, db)


def _one_decoding(rows: list[dict[str, Any]], space: Space, db: Any) -> list[dict[str, Any]]:
    """The rows whose genotypes decode with ``space``'s options (a dataset, and the cost model
    fitted on it, hold one decoding). Rows of other decodings are left out; when none is left,
    ``ValueError`` names the decodings the store holds and the option that differs."""
    want = plain_options(space.options)
    kept, others = [], {}
    for row in rows:
        g = Genotype.from_string(row["genotype"])
        have = plain_options(g.options)
        if not g.options or have == want:
            kept.append(row)
        else:
            key = tuple(sorted(k for k in set(have) | set(want) if have.get(k) != want.get(k)))
            label = ", ".join(f"{k}={have.get(k)}" for k in key)
            others[label] = others.get(label, 0) + 1
    if not kept:
        found = "; ".join(f"{label} ({n} rows)" for label, n in sorted(others.items()))
        raise ValueError(f"{db} has no architectures of space {space.name} with its options "
                         f"({', '.join(f'{k}={v}' for k, v in sorted(want.items()))}); it holds "
                         f"{found}: choose one with -O")
    return kept
