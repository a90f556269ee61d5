"""Acceptance replay for chosen settings: eq. 7 / eq. 8 x targets at the 10th / 50th percentile
of random architectures' predicted MN-Norm, several seeds, optional accuracy noise.

Run: nice -n 10 python accept.py NAME --steps T --samples K --lr LR [--acc-sd S] [--baseline ema]
Writes accept_NAME.json (full per-seed results incl. per-decision diagnostics) and prints a table.
"""

import argparse
import json
import time
from pathlib import Path

import replay

TARGETS = {("avg", 10): 1.3213, ("avg", 50): 2.4662, ("max", 10): 1.4004, ("max", 50): 2.672}
ap = argparse.ArgumentParser()
ap.add_argument("name")
ap.add_argument("--steps", type=int, required=True)
ap.add_argument("--samples", type=int, required=True)
ap.add_argument("--lr", type=float, required=True)
ap.add_argument("--delay", type=float, default=0.25)
ap.add_argument("--op-warmup", type=float, default=0.10)
ap.add_argument("--filters-warmup", type=float, default=0.25)
ap.add_argument("--acc-sd", type=float, default=0.0)
ap.add_argument("--baseline", default="ema")
ap.add_argument("--expansion-tag", default="filters")
ap.add_argument("--seeds", type=int, default=8)
ap.add_argument("--skip-delay-rl", action="store_true")
a = ap.parse_args()
out = {}
for (mode, pct), target in TARGETS.items():
    cfg = replay.Config(
        steps=a.steps,
        samples=a.samples,
        lr=a.lr,
        delay=a.delay,
        op_warmup=a.op_warmup,
        filters_warmup=a.filters_warmup,
        mode=mode,
        target=target,
        acc_sd=a.acc_sd,
        baseline=a.baseline,
        expansion_tag=a.expansion_tag,
        seeds=a.seeds,
        rl_during_delay=not a.skip_delay_rl,
        seed0=100 + pct,
    )
    t0 = time.time()
    res = replay.run(cfg, keep_history=True)
    b = replay.brief(res)
    out[f"{mode}_p{pct}"] = {"brief": b, "result": res}
    print(f"{mode} p{pct} target {target}: {json.dumps(b)} ({time.time() - t0:.0f} s)", flush=True)
Path(f"accept_{a.name}.json").write_text(json.dumps({"args": vars(a), "runs": out}))
