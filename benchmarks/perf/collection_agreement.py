"""Agreement between two latency collections of the same genotypes (committed CSVs).

Both files are outputs of `mhzoo search dataset` (columns ``genotype,<target>_ms,...``). The
rows are matched by genotype; for each target the report gives the share of architectures whose
two timings agree within 3 %, 5 % and 10 % (relative to their mean), the median and the largest
relative difference, the median ratio b / a (a systematic offset between the two runs) and the
Spearman rank correlation. Nothing is timed: this reads committed data only.

    python benchmarks/perf/collection_agreement.py \
        [--a benchmarks/data/multi_hardware_cpu_latency.csv] \
        [--b benchmarks/data/multi_hardware_cpu_latency_idle.csv] \
        [--out benchmarks/perf/results/collection_agreement.md]
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[0] / "data"
BANDS = (0.03, 0.05, 0.10)


def read_collection(path: Path) -> dict[str, dict[str, float]]:
    """``{genotype: {target: ms}}`` from a `mhzoo search dataset` CSV."""
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    out: dict[str, dict[str, float]] = {}
    for row in rows:
        out[row["genotype"]] = {k[:-3]: float(v) for k, v in row.items()
                                if k.endswith("_ms") and v not in ("", None)}
    return out


def agreement(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Relative differences |a - b| / mean(a, b): share within each band, median, max."""
    rel = np.abs(a - b) / ((a + b) / 2.0)
    stats = {f"within_{round(band * 100)}pct": float(np.mean(rel <= band)) for band in BANDS}
    ratio = b / a
    rank_a, rank_b = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    stats.update(median_rel_diff=float(np.median(rel)), max_rel_diff=float(np.max(rel)),
                 median_ratio=float(np.median(ratio)),
                 spearman=float(np.corrcoef(rank_a, rank_b)[0, 1]), n=int(rel.size))
    return stats


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--a", type=Path, default=DATA / "multi_hardware_cpu_latency.csv")
    ap.add_argument("--b", type=Path, default=DATA / "multi_hardware_cpu_latency_idle.csv")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "collection_agreement.md")
    args = ap.parse_args()
    a, b = read_collection(args.a), read_collection(args.b)
    common = [g for g in a if g in b]
    targets = sorted(set.intersection(*(set(a[g]) & set(b[g]) for g in common)))
    lines = [
        "# Two collections of the same genotypes: how often their timings agree",
        "",
        f"`python benchmarks/perf/collection_agreement.py --a {args.a.name} --b {args.b.name}`"
        " (reads committed data only; both files were timed with thread CPU time, one pass).",
        "",
        f"- a: `{args.a.name}`; b: `{args.b.name}`; {len(common)} genotypes in both.",
        "",
        "| target | n | within 3 % | within 5 % | within 10 % | median diff % | max diff % "
        "| median b/a | Spearman |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for t in targets:
        s = agreement(np.array([a[g][t] for g in common]), np.array([b[g][t] for g in common]))
        lines.append(f"| {t} | {s['n']} | {100 * s['within_3pct']:.1f} | "
                     f"{100 * s['within_5pct']:.1f} | {100 * s['within_10pct']:.1f} | "
                     f"{100 * s['median_rel_diff']:.1f} | {100 * s['max_rel_diff']:.1f} | "
                     f"{s['median_ratio']:.3f} | {s['spearman']:.3f} |")
    text = "\n".join(lines) + "\n"
    from mhzoo.atomic import atomic_write_text

    atomic_write_text(args.out, text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
