"""One CPU latency dataset from multi-pass collections: ``genotype, <target>_ms, <target>_passes``.

Each ``--store TARGET=DB:PASSES`` names a results store written by ``mhzoo search collect
--passes`` for one target; every architecture's label is the median of its first ``PASSES``
pass medians (the same number for every row, so rows re-timed further for a noise ceiling keep
the protocol of the others), and every pass is kept in ``<target>_passes``. The rows are the
seeded ``multi_hardware`` samples in collection order (``--n``, ``--seed``).

::

    python benchmarks/perf/multipass_dataset.py \
        --store cpu_fp32=runs/fp32q/latency.db:4 --store cpu_int8=runs/int8q/latency.db:2 \
        -o benchmarks/data/multi_hardware_cpu_latency_multipass.csv
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from costmodel_multipass import med, read_passes

from mhzoo.atomic import atomic_write_text


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", action="append", required=True, metavar="TARGET=DB:PASSES")
    ap.add_argument("--n", type=int, default=1200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--output", type=Path, required=True)
    args = ap.parse_args()
    genotypes = None
    labels: dict[str, np.ndarray] = {}
    passes: dict[str, np.ndarray] = {}
    for item in args.store:
        target, _, rest = item.partition("=")
        db, _, k = rest.rpartition(":")
        if not target or not db or not k.isdigit() or int(k) < 1:
            ap.error(f"--store {item!r}: expected TARGET=DB:PASSES")
        gs, arr, _, _ = read_passes(Path(db), target, args.n, args.seed)
        if genotypes is not None and [g.to_string() for g in gs] != genotypes:
            ap.error(f"{db}: other genotypes than the first store")
        genotypes = [g.to_string() for g in gs]
        labels[target] = med(arr, 0, int(k))
        passes[target] = arr
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["genotype", *(f"{t}_ms" for t in labels), *(f"{t}_passes" for t in labels)])
    for i, g in enumerate(genotypes or []):
        w.writerow([g, *(f"{labels[t][i]:.5f}" for t in labels),
                    *(";".join(f"{v:.5f}" for v in passes[t][i] if not np.isnan(v))
                      for t in labels)])
    atomic_write_text(args.output, buf.getvalue())
    print(f"{len(genotypes or [])} rows, targets {', '.join(labels)} -> {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
