"""Chosen settings at the paper's target MN-Norm 1 (the low tail: ~2-3 % of random archs).
Run: nice -n 10 python target1.py  (writes target1.json)"""

import json
import sys
from pathlib import Path

import replay

LR = float(sys.argv[1]) if len(sys.argv) > 1 else 0.1

out = {}
for mode in ("avg", "max"):
    for sd in (0.0, 0.06):
        cfg = replay.Config(
            steps=1800,
            samples=8,
            lr=LR,
            mode=mode,
            target=1.0,
            acc_sd=sd,
            expansion_tag="filters",
            seeds=8,
            rl_during_delay=False,
            seed0=11,
        )
        b = replay.brief(replay.run(cfg))
        out[f"{mode}_sd{sd}"] = b
        print(mode, sd, json.dumps(b), flush=True)
Path(f"target1_lr{LR}.json").write_text(json.dumps(out, indent=1))
