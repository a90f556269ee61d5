"""Settings search for the cost-only replay: each line of results is one config (seeds pooled).

Run: nice -n 10 python grid.py STAGE  (STAGE in the STAGES dict; appends to grid_STAGE.jsonl)
"""

import itertools
import json
import sys
import time

import replay

TARGETS = {("avg", 10): 1.3213, ("avg", 50): 2.4662, ("max", 10): 1.4004, ("max", 50): 2.672}


def cfgs(stage):
    if stage == "coarse":  # eq. 8 at p10, 4 seeds
        for T, K, lr in itertools.product((600, 1200, 2400), (1, 4, 8, 16), (0.016, 0.05, 0.15)):
            yield dict(steps=T, samples=K, lr=lr, mode="max", target=TARGETS[("max", 10)], seeds=4)
    elif stage == "lr":
        for T, K, lr in itertools.product((1200, 2400, 3600), (1, 2, 4, 8), (0.25, 0.4, 0.6)):
            yield dict(steps=T, samples=K, lr=lr, mode="max", target=TARGETS[("max", 10)], seeds=4)
    elif stage == "noise":
        for T, K, lr, sd in itertools.product((2400,), (1, 4, 8), (0.15, 0.4), (0.06, 0.03)):
            yield dict(
                steps=T,
                samples=K,
                lr=lr,
                acc_sd=sd,
                mode="max",
                target=TARGETS[("max", 10)],
                seeds=4,
            )
    elif stage == "budget":  # accuracy noise of a 64-image batch, runs sized to ~53 min of steps
        for (K, T), lr, bl in itertools.product(
            ((4, 2500), (8, 1400), (16, 750)), (0.03, 0.06, 0.1, 0.15), ("ema", "mean")
        ):
            yield dict(
                steps=T,
                samples=K,
                lr=lr,
                acc_sd=0.06,
                baseline=bl,
                mode="max",
                target=TARGETS[("max", 10)],
                seeds=4,
                expansion_tag="filters",
            )
    elif stage == "rho":  # K paths on one shared validation batch: common noise share rho
        for rho, bl, (mode, p) in itertools.product(
            (0.0, 0.5, 0.8), ("ema", "mean"), (("max", 10), ("avg", 50))
        ):
            yield dict(
                steps=1800,
                samples=8,
                lr=0.1,
                acc_sd=0.06,
                acc_rho=rho,
                baseline=bl,
                mode=mode,
                target=TARGETS[(mode, p)],
                seeds=8,
                expansion_tag="filters",
                rl_during_delay=False,
            )
    elif stage == "delay":
        for T, K, lr, dl in itertools.product((1200, 2400), (8, 16), (0.05, 0.15), (0.1, 0.25)):
            yield dict(
                steps=T,
                samples=K,
                lr=lr,
                delay=dl,
                op_warmup=min(0.1, dl),
                filters_warmup=dl,
                mode="max",
                target=TARGETS[("max", 10)],
                seeds=4,
            )


stage = sys.argv[1]
with open(f"grid_{stage}.jsonl", "a") as fh:
    for c in cfgs(stage):
        t0 = time.time()
        res = replay.run(replay.Config(**c))
        row = {"cfg": c, **replay.brief(res), "sec": round(time.time() - t0, 1)}
        fh.write(json.dumps(row) + "\n")
        fh.flush()
        print(json.dumps(row), flush=True)
