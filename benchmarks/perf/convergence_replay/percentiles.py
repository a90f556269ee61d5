"""MN-Norm (predicted by the committed linear models) of random architectures: percentiles.

Run: python percentiles.py   (writes percentiles.json)
"""

import csv
import json
from pathlib import Path

import mhspace
import numpy as np

sp = mhspace.MHSpace()
lc = mhspace.LinearCost(sp)
rows = list(
    csv.DictReader(
        (mhspace.REPO / "benchmarks/data/multi_hardware_cpu_latency_idle.csv").open()
    )
)
idx = np.array([[int(x) for x in r["genotype"].split(":")[1:]] for r in rows])
lat = lc.latency(idx)
meas = np.array([[float(r[f"{t}_ms"]) for t in lc.targets] for r in rows])
rng = np.random.default_rng(1)
uni = np.stack([rng.integers(0, n, 200000) for n in sp.sizes], 1)
lat_u = lc.latency(uni)
out = {}
for mode in ("avg", "max"):
    p = mhspace.mn_norm(lat, mode, lc.targets)
    m = mhspace.mn_norm(meas, mode, lc.targets)
    u = mhspace.mn_norm(lat_u, mode, lc.targets)
    q = [1, 5, 10, 25, 50, 75, 90, 95, 99]
    out[mode] = {
        "csv_predicted": dict(zip(map(str, q), np.percentile(p, q).round(4).tolist())),
        "csv_measured": dict(zip(map(str, q), np.percentile(m, q).round(4).tolist())),
        "uniform200k_predicted": dict(zip(map(str, q), np.percentile(u, q).round(4).tolist())),
        "share_ge_1_measured": float((m >= 1).mean()),
        "share_ge_1_predicted": float((p >= 1).mean()),
        "sd_predicted": float(p.std()),
        "min_pred_uniform": float(u.min()),
        "max_pred_uniform": float(u.max()),
    }
    print(mode, json.dumps(out[mode], indent=None))
Path("percentiles.json").write_text(json.dumps(out, indent=1))
