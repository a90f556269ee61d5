"""FBNet real-device cost models (HELP / HW-NAS-Bench data, 7 devices) and few-shot transfer.

Per device: the TuNAS linear model (``fbnet`` space features: 22 layers x 9 ops) and the
additive block lookup table, fitted on the first ``--fit`` architectures of
../shared/data/fbnet-latency/fbnet_cifar100_latency.csv and evaluated on the rest. Then the
few-shot curve (leave-one-device-out, K = 10, 20, 50, 100 measured architectures, three
methods; :func:`mhzoo.search.cost.few_shot_curve`). Writes
``benchmarks/perf/results/costmodel_fbnet.md`` and one scatter PNG per device::

    python benchmarks/perf/costmodel_fbnet.py
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import load_summary

from mhzoo.atomic import atomic_write_text
from mhzoo.search.cost import (
    BlockLUTModel,
    LinearCostModel,
    few_shot_curve,
    load_dataset,
    quality,
    scatter_plot,
)

ROOT = Path(__file__).resolve().parents[2]
ADDITIVE = {"pixel3", "raspi4", "eyeriss", "fpga"}  # HW-NAS-Bench lookup-table devices


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", type=Path, default=Path(os.environ.get(
        "MHZOO_SHARED_DATA", ROOT.parent / "shared" / "data")) / "fbnet-latency" /
        "fbnet_cifar100_latency.csv")
    ap.add_argument("--fit", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "perf" / "results")
    args = ap.parse_args()

    data = load_dataset(args.csv)
    train, test = data.rows(f":{args.fit}"), data.rows(f"{args.fit}:")
    lines = ["# FBNet real-device latency cost models and few-shot transfer", "",
             f"Data: `fbnet-latency/fbnet_cifar100_latency.csv` (HELP / HW-NAS-Bench, "
             f"{len(data)} FBNet architectures, CIFAR-100 32 px). Fit on rows :{args.fit}, "
             f"evaluate on the other {len(test)}. pixel3 / raspi4 / eyeriss / fpga are sums of "
             "per-layer lookup tables (additive by construction); samsung_a50 (whole ms), "
             "1080ti_1 and gold_6226 are end-to-end measurements. Made by "
             "`python benchmarks/perf/costmodel_fbnet.py` "
             f"(load average {load_summary()}).", "",
             "| device | kind | model | RMSE ms | MAPE % | within 5% | within 10% | "
             "Kendall tau | Spearman rho |", "|---|---|---|---|---|---|---|---|---|"]
    for dev in data.targets:
        for cls in (LinearCostModel, BlockLUTModel):
            m = cls.fit(data.space, train.genotypes, train.y(dev), dev)
            pred = m.predict(test.genotypes)
            q = quality(test.y(dev), pred)
            if cls is LinearCostModel:
                scatter_plot(args.results / f"costmodel_fbnet_{dev}.png", test.y(dev), pred,
                             metrics=q, title=f"FBNet {dev}, linear model, held-out")
            kind = "lookup table" if dev in ADDITIVE else "end-to-end"
            lines.append(f"| {dev} | {kind} | {m.kind} | {q['rmse_ms']:.3f} | "
                         f"{q['mape_pct']:.2f} | {q['within_5_pct']:.1f} | "
                         f"{q['within_10_pct']:.1f} | {q['kendall_tau']:.3f} | "
                         f"{q['spearman_rho']:.3f} |")
            print(lines[-1], flush=True)
    res = few_shot_curve(data, ks=(10, 20, 50, 100), repeats=args.repeats)
    ks = res["ks"]
    lines += ["", "## Few-shot new device (leave-one-device-out)", "",
              f"Source models fitted on {res['train']} training architectures of the other "
              f"devices; K architectures of the new device drawn from the same pool; Spearman "
              f"rho on {res['test']} held-out architectures, mean of {res['repeats']} draws. "
              "`scratch`: ridge on the K rows only; `transfer`: the other devices' predictions "
              "as features; `prior`: ridge toward a scaled mean of the other devices' weights. "
              "Anchor: HELP reports rho 0.910 (mean over FBNet devices) from 10 samples.", "",
              "| method | " + " | ".join(f"K={k}" for k in ks) + " |",
              "|---|" + "---|" * len(ks)]
    for m, vals in res["mean"].items():
        lines.append(f"| {m} (mean of 7 devices) | " +
                     " | ".join(f"{vals[k]:.3f}" for k in ks) + " |")
    lines += ["", "Per device (transfer / prior / scratch):", "",
              "| device | " + " | ".join(f"K={k}" for k in ks) + " |",
              "|---|" + "---|" * len(ks)]
    for dev, r in res["per_device"].items():
        lines.append(f"| {dev} | " + " | ".join(
            f"{r['transfer'][k]:.3f} / {r['prior'][k]:.3f} / {r['scratch'][k]:.3f}"
            for k in ks) + " |")
    atomic_write_text(args.results / "costmodel_fbnet.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
