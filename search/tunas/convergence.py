"""Convergence of a finished controller: diagnostics and the ``converged`` verdict (numpy only).

Inputs are plain data, so the search, numpy replays and tests share it:

* ``probabilities``: one probability vector per decision (``Controller.probabilities()``);
* ``decisions``: :class:`mhzoo.search.space.Decision` values (``path``, ``tag``, ``choices``,
  ``parent``, ``parent_choices``);
* ``cost_fn(indices [S, n]) -> [S]``: the reward's cost (MN-Norm avg / max, or milliseconds for
  a single target) of one-hot architectures at the deployment decoding;
* ``target``: the reward's cost target (the MN-Norm target, or ``L0`` in ms).

Verdict, with its thresholds recorded beside it::

    converged = mean_top_active >= 0.9 and |argmax_cost / target - 1| <= tol

``mean_top_active`` is the mean, over the decisions active in the argmax architecture, of the
top probability ``max_c p_j(c)`` (a decision the argmax skips, e.g. the kernel of a skipped
layer, gets no gradient once the layer is mostly skipped and does not change the network);
``tol`` is 0.05 for a real search (issue 18's acceptance) and 0.03 for the latency-only check.
Reported beside it, not part of the rule: per decision ``top``, ``entropy`` (and its maximum
``log n``), ``argmax`` and ``active``; the minimum active top probability; ``undecided`` (active
decisions with top < 0.5); entropy sums; and the argmax's cost against the cost of ``samples``
architectures drawn from the final distribution (mean, s.d., p10 / p90, share within ``tol``,
relative gap). A controller whose argmax lands far from where its samples average has
concentrated by a random walk rather than by the reward: the gap shows it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["THRESHOLDS", "active_mask", "cost_function", "report", "search_cost", "search_report",
           "snapshot", "warning"]

#: default thresholds of the verdict (``tol`` = ``argmax_rel_err``)
THRESHOLDS: dict[str, float] = {"mean_top_active": 0.9, "argmax_rel_err": 0.05,
                                "undecided_below": 0.5}


def active_mask(decisions: Sequence[Any], indices: Sequence[int]) -> np.ndarray:
    """bool ``[n]``: per decision, does it matter under the one-hot choices ``indices`` (every
    ancestor chose a branch that contains it)."""
    out = np.ones(len(decisions), bool)
    for i, d in enumerate(decisions):
        if d.parent is not None:
            out[i] = bool(out[d.parent]) and int(indices[d.parent]) in tuple(d.parent_choices)
    return out


def _check_probabilities(probabilities: Sequence[Any], decisions: Sequence[Any]
                         ) -> list[np.ndarray]:
    if len(probabilities) != len(decisions):
        raise ValueError(f"{len(probabilities)} probability vectors for {len(decisions)} "
                         "decisions")
    out = []
    for p, d in zip(probabilities, decisions):
        q = np.asarray(p, np.float64).reshape(-1)
        if q.size != len(d.choices) or not np.all(np.isfinite(q)) or np.any(q < 0) \
                or q.sum() <= 0:
            raise ValueError(f"decision {d.path!r}: need {len(d.choices)} finite non-negative "
                             f"probabilities, got {q.tolist()!r:.80}")
        out.append(q / q.sum())
    return out


def report(probabilities: Sequence[Any], decisions: Sequence[Any],
           cost_fn: Callable[[np.ndarray], Any], target: float, *, samples: int = 2000,
           seed: int = 0, tol: float | None = None, mean_top: float | None = None
           ) -> dict[str, Any]:
    """Diagnostics and verdict of a final distribution (JSON-ready; see the module docstring).

    Args:
        probabilities: one vector per decision.
        decisions: the space's decisions (same order).
        cost_fn: cost of a batch of architectures, ``int [S, n] -> [S]``.
        target: the cost target (> 0).
        samples: architectures drawn from the distribution for the cost comparison.
        seed: seed of those draws.
        tol / mean_top: override the thresholds ``argmax_rel_err`` / ``mean_top_active``.
    """
    if not (isinstance(target, int | float) and math.isfinite(target) and target > 0):
        raise ValueError(f"target must be a finite number > 0, got {target!r}")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError(f"samples must be an integer >= 1, got {samples!r}")
    thr = dict(THRESHOLDS)
    if tol is not None:
        thr["argmax_rel_err"] = float(tol)
    if mean_top is not None:
        thr["mean_top_active"] = float(mean_top)
    probs = _check_probabilities(probabilities, decisions)
    top = np.array([p.max() for p in probs])
    ent = np.array([float(-np.sum(p[p > 0] * np.log(p[p > 0]))) for p in probs])
    arg = np.array([int(np.argmax(p)) for p in probs])
    act = active_mask(decisions, arg)
    rng = np.random.default_rng(seed)
    draws = np.stack([rng.choice(len(p), size=samples, p=p) for p in probs], 1)
    cost_s = np.asarray(cost_fn(draws), np.float64).reshape(-1)
    cost_a = float(np.asarray(cost_fn(arg[None]), np.float64).reshape(-1)[0])
    if cost_s.shape != (samples,) or not np.all(np.isfinite(cost_s)) or not math.isfinite(cost_a):
        raise ValueError("cost_fn must return one finite cost per architecture")
    err = cost_a / target - 1.0
    mean_top_active = float(top[act].mean())
    per = [{"path": d.path, "tag": d.tag, "argmax": int(a), "choice": _plain(d.choices[a]),
            "top": round(float(t), 4), "entropy": round(float(h), 4),
            "entropy_max": round(math.log(len(p)), 4), "active": bool(c)}
           for d, a, t, h, c, p in zip(decisions, arg, top, ent, act, probs)]
    undecided = [x["path"] for x in per if x["active"] and x["top"] < thr["undecided_below"]]
    converged = bool(mean_top_active >= thr["mean_top_active"]
                     and abs(err) <= thr["argmax_rel_err"])
    return {
        "converged": converged,
        "thresholds": thr,
        "mean_top_probability": {"active_in_argmax": round(mean_top_active, 4),
                                 "all": round(float(top.mean()), 4),
                                 "min_active": round(float(top[act].min()), 4)},
        "entropy": {"active_in_argmax": round(float(ent[act].sum()), 4),
                    "all": round(float(ent.sum()), 4)},
        "undecided": undecided,
        "cost": {"target": float(target), "argmax": round(cost_a, 5),
                 "argmax_rel_err": round(float(err), 5),
                 "samples_mean": round(float(cost_s.mean()), 5),
                 "samples_sd": round(float(cost_s.std()), 5),
                 "samples_p10_p90": [round(float(v), 5) for v in np.percentile(cost_s, [10, 90])],
                 "samples_within_tol": round(float(np.mean(
                     np.abs(cost_s / target - 1) <= thr["argmax_rel_err"])), 4),
                 "argmax_vs_samples_gap": round(float(cost_a / cost_s.mean() - 1), 5)
                 if cost_s.mean() != 0 else None,
                 "samples": samples, "seed": seed},
        "decisions": per,
    }


def warning(rep: Mapping[str, Any]) -> str | None:
    """The one-line warning for an unconverged search (``None`` when it converged)."""
    if rep["converged"]:
        return None
    thr, mt, c = rep["thresholds"], rep["mean_top_probability"], rep["cost"]
    why = []
    if mt["active_in_argmax"] < thr["mean_top_active"]:
        why.append(f"mean top probability {mt['active_in_argmax']:.2f} < "
                   f"{thr['mean_top_active']:.2f}")
    if abs(c["argmax_rel_err"]) > thr["argmax_rel_err"]:
        why.append(f"argmax cost {c['argmax']:.3f} is {c['argmax_rel_err']:+.1%} off the target "
                   f"{c['target']:.3f} (tolerance {thr['argmax_rel_err']:.0%})")
    return "warning: the search did not converge: " + "; ".join(why)


def cost_function(space: Any, models: Mapping[str, Any], *, mode: str,
                  factors: Mapping[str, float] | None = None,
                  weights: Mapping[str, float] | None = None, target: str | None = None,
                  ) -> Callable[[np.ndarray], np.ndarray]:
    """``cost_fn`` of :func:`report` from the deployment ``space`` and its cost models.

    ``mode`` ``"avg"`` / ``"max"``: MN-Norm average / maximum (paper eq. 7 / 8; needs
    ``factors``, optional hardware ``weights``); ``"single"``: the predicted milliseconds of
    ``target`` (eq. 6).
    """
    if mode in ("avg", "max"):
        if factors is None:
            raise ValueError(f"the {mode} cost needs the MN-Norm factors")
        from mhzoo.search.cost.multi import MultiHardwareCost  # the cost package, read-only

        multi = MultiHardwareCost(list(models.values()), factors, weights)
        key = f"mn_norm_{mode}"

        def fn(indices: np.ndarray) -> np.ndarray:
            gs = [space.genotype([int(i) for i in row]) for row in np.atleast_2d(indices)]
            return np.array([r[key] for r in multi.predict(gs)], np.float64)
        return fn
    if mode == "single":
        if target not in models:
            raise ValueError(f"no cost model for target {target!r}")
        model = models[target]

        def fn1(indices: np.ndarray) -> np.ndarray:
            gs = [space.genotype([int(i) for i in row]) for row in np.atleast_2d(indices)]
            return np.asarray(model.predict(gs), np.float64)
        return fn1
    raise ValueError(f"mode must be avg, max or single, got {mode!r}")


def search_cost(prepared: Any) -> tuple[Callable[[np.ndarray], np.ndarray], float, str]:
    """``(cost_fn, target, measure)`` of a search's reward (a
    :class:`mhzoo.search.tunas.request.PreparedSearch`) at the deployment decoding; ``measure``
    names the cost (``mn_norm_max``, ``latency_ms/cpu_int8`` ...). ``ValueError`` when the
    reward has no cost target."""
    r = prepared.request
    obj = r.objective
    if obj.mode in ("avg", "max"):
        target = float(r.mn_norm_target)
    else:
        target = prepared.single_target_ms
        if target is None:
            raise ValueError(f"reward {obj.name} has no latency target")
    fn = cost_function(prepared.deploy_space, prepared.models, mode=obj.mode,
                       factors=prepared.factors, weights=r.weights, target=obj.target)
    measure = f"mn_norm_{obj.mode}" if obj.mode != "single" else f"latency_ms/{obj.target}"
    return fn, float(target), measure


def search_report(prepared: Any, probabilities: Sequence[Any], *, tol: float | None = None,
                  samples: int = 2000, seed: int = 0) -> dict[str, Any]:
    """:func:`report` for a search (a :class:`mhzoo.search.tunas.request.PreparedSearch`): the
    cost and target of its reward at the deployment decoding. ``probabilities``: the final
    distribution (``Controller.probabilities()`` or the result's ``"probabilities"`` entries)."""
    probs = [q["probabilities"] if isinstance(q, Mapping) else q for q in probabilities]
    fn, target, measure = search_cost(prepared)
    rep = report(probs, prepared.deploy_space.decisions, fn, target, samples=samples,
                 seed=seed, tol=tol)
    rep["cost"]["measure"] = measure
    return rep


def snapshot(rep: Mapping[str, Any]) -> dict[str, Any]:
    """The few numbers of a :func:`report` a search logs every ``log_every`` steps
    (TensorBoard ``convergence/*`` and the history rows behind ``convergence.png``)."""
    return {"mean_top_active": rep["mean_top_probability"]["active_in_argmax"],
            "argmax_cost": rep["cost"]["argmax"],
            "samples_cost_mean": rep["cost"]["samples_mean"],
            "converged": rep["converged"]}


def _plain(v: Any) -> Any:
    return v if v is None or isinstance(v, bool | int | float | str) else str(v)
