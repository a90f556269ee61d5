"""Convergence diagnostics and the ``converged`` verdict of a finished controller (numpy only).

Proposed home: ``search/tunas/convergence.py``. Inputs are plain data, so the search loop, the
replay and tests share it:

* ``probabilities``: one probability vector per decision (``Controller.probabilities()``);
* ``decisions``: objects with ``path``, ``tag``, ``choices``, ``parent``, ``parent_choices``
  (mhzoo ``Decision``; the replay's ``Decision`` has ``on`` instead of ``parent_choices``);
* ``cost_fn(indices [S, n]) -> [S]``: the objective's cost (MN-Norm avg / max, or ms) of
  one-hot architectures, i.e. the deployment cost models + ``CostObjective``;
* ``target``: the cost target of the reward (MN-Norm target or L0).

Verdict (thresholds recorded with it):
``converged = mean_top_active >= 0.9 and |argmax_cost / target - 1| <= tol`` with ``tol`` 0.03
for the latency-only check and 0.05 for a real search (the issue's acceptance). Everything else
(minimum top probability, undecided decisions, the sample-vs-argmax gap, the share of samples
within ``tol``) is reported beside it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

THRESHOLDS = {"mean_top_active": 0.9, "argmax_rel_err": 0.05, "undecided_below": 0.5}


def _parent_choices(d: Any) -> tuple[int, ...]:
    return tuple(getattr(d, "parent_choices", None) or getattr(d, "on", ()) or ())


def active(decisions: Sequence[Any], indices: Sequence[int]) -> np.ndarray:
    """Per decision: does it matter under the one-hot choices ``indices``."""
    out = np.ones(len(decisions), bool)
    for i, d in enumerate(decisions):
        if d.parent is not None:
            out[i] = out[d.parent] and int(indices[d.parent]) in _parent_choices(d)
    return out


def report(
    probabilities: Sequence[np.ndarray],
    decisions: Sequence[Any],
    cost_fn: Callable[[np.ndarray], np.ndarray],
    target: float,
    *,
    samples: int = 2000,
    seed: int = 0,
    tol: float | None = None,
    mean_top: float | None = None,
) -> dict[str, Any]:
    """Diagnostics + verdict (JSON-ready). ``tol`` / ``mean_top`` override the thresholds."""
    thr = dict(THRESHOLDS)
    if tol is not None:
        thr["argmax_rel_err"] = float(tol)
    if mean_top is not None:
        thr["mean_top_active"] = float(mean_top)
    probs = [q / q.sum() for q in (np.asarray(p, np.float64) for p in probabilities)]
    top = np.array([p.max() for p in probs])
    ent = np.array([float(-np.sum(p[p > 0] * np.log(p[p > 0]))) for p in probs])
    arg = np.array([int(np.argmax(p)) for p in probs])
    act = active(decisions, arg)
    rng = np.random.default_rng(seed)
    draws = np.stack([rng.choice(len(p), size=samples, p=p) for p in probs], 1)
    cost_s = np.asarray(cost_fn(draws), float)
    cost_a = float(np.asarray(cost_fn(arg[None]), float)[0])
    err = cost_a / target - 1.0
    mean_top_active = float(top[act].mean())
    per = [
        {
            "path": d.path,
            "tag": d.tag,
            "argmax": int(a),
            "choice": _plain(d.choices[a]),
            "top": round(float(t), 4),
            "entropy": round(float(h), 4),
            "entropy_max": round(float(np.log(len(p))), 4),
            "active": bool(c),
        }
        for d, a, t, h, c, p in zip(decisions, arg, top, ent, act, probs)
    ]
    undecided = [x["path"] for x in per if x["active"] and x["top"] < thr["undecided_below"]]
    converged = bool(
        mean_top_active >= thr["mean_top_active"] and abs(err) <= thr["argmax_rel_err"]
    )
    return {
        "converged": converged,
        "thresholds": thr,
        "mean_top_probability": {
            "active_in_argmax": round(mean_top_active, 4),
            "all": round(float(top.mean()), 4),
            "min_active": round(float(top[act].min()), 4),
        },
        "entropy": {
            "active_in_argmax": round(float(ent[act].sum()), 4),
            "all": round(float(ent.sum()), 4),
        },
        "undecided": undecided,
        "cost": {
            "target": float(target),
            "argmax": round(cost_a, 5),
            "argmax_rel_err": round(float(err), 5),
            "samples_mean": round(float(cost_s.mean()), 5),
            "samples_sd": round(float(cost_s.std()), 5),
            "samples_p10_p90": [round(float(v), 5) for v in np.percentile(cost_s, [10, 90])],
            "samples_within_tol": round(
                float(np.mean(np.abs(cost_s / target - 1) <= thr["argmax_rel_err"])), 4
            ),
            "argmax_vs_samples_gap": round(float(cost_a / cost_s.mean() - 1), 5),
            "samples": samples,
        },
        "decisions": per,
    }


def warning(rep: dict[str, Any]) -> str | None:
    """The one-line warning ``mhzoo search run`` prints for an unconverged search."""
    if rep["converged"]:
        return None
    thr, mt, c = rep["thresholds"], rep["mean_top_probability"], rep["cost"]
    why = []
    if mt["active_in_argmax"] < thr["mean_top_active"]:
        why.append(
            f"mean top probability {mt['active_in_argmax']:.2f} < {thr['mean_top_active']:.2f}"
        )
    if abs(c["argmax_rel_err"]) > thr["argmax_rel_err"]:
        why.append(
            f"argmax cost {c['argmax']:.3f} is {c['argmax_rel_err']:+.1%} off the target "
            f"{c['target']:.3f} (tolerance {thr['argmax_rel_err']:.0%})"
        )
    return "warning: the search did not converge: " + "; ".join(why)


def _plain(v: Any) -> Any:
    return v if isinstance(v, bool | int | float | str) or v is None else str(v)
