"""Per acceptance file: share of seeds with the argmax within 3 % / 5 %, and the
"constrained argmax" (most probable of 20,000 samples from the final distribution, argmax
included, whose predicted cost is within the tolerance), with its log-probability loss.
Run: python analyze_accept.py accept_*.json"""

import json
import sys
from pathlib import Path

import mhspace
import numpy as np
import replay

for path in sys.argv[1:]:
    data = json.loads(Path(path).read_text())
    tag = data["args"].get("expansion_tag", "filters")
    sp, lc = replay.space_cost(tag)
    print(path)
    for key, run in data["runs"].items():
        res = run["result"]
        mode, target = res["config"]["mode"], res["config"]["target"]
        err = np.abs(np.asarray(res["argmax_err"]))
        rng = np.random.default_rng(0)
        c_err, losses = [], []
        for r, probs in enumerate(res["probs"]):
            P = [np.asarray(p) / np.sum(p) for p in probs]
            arg = np.asarray(res["argmax"][r])
            S = np.stack([rng.choice(len(p), 20000, p=p) for p in P], 1)
            S = np.concatenate([arg[None], S])
            act = sp.active(S)
            logp = np.zeros(len(S))
            for j, p in enumerate(P):
                logp += np.log(p[S[:, j]]) * act[:, j]
            f = mhspace.mn_norm(lc.latency(S), mode, lc.targets)
            e = np.abs(f / target - 1)
            for tol in (0.03,):
                ok = np.flatnonzero(e <= tol)
                if len(ok):
                    best = ok[np.argmax(logp[ok])]
                    c_err.append(e[best])
                    losses.append(logp[0] - logp[best])
                else:
                    c_err.append(np.nan)
                    losses.append(np.nan)
        c_err = np.asarray(c_err)
        print(
            f"  {key:8s} argmax within 3%: {np.mean(err <= 0.03):.2f}  "
            f"within 5%: {np.mean(err <= 0.05):.2f}"
            f"  mean |err| {err.mean():.3f}  max {err.max():.3f} | constrained argmax within 3%: "
            f"{np.mean(c_err <= 0.03):.2f}, log-prob loss median {np.nanmedian(losses):.2f} "
            f"max {np.nanmax(losses):.2f}"
        )
