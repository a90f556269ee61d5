"""The latency-only sanity check of a search preset (issue 18, acceptance point 1).

The accuracy term is held constant, so the reward is the cost term alone
(``R = A + beta |f / T - 1|``, eq. 7 or 8). A controller with the preset's settings (steps,
samples per step, RL learning rate, delay, warm-ups:
:func:`~mhzoo.search.tunas.step.controller_settings`) must end with its argmax architecture's
predicted MN-Norm within ``tol`` of the target ``T`` and a mean top probability of at least
0.9 (:func:`mhzoo.search.tunas.convergence.report`). The controller, the reward and the
in-graph cost are the search's own; there is no supernet.

Targets are percentiles of random architectures' MN-Norm (uniform choices, predicted by the
same cost models): :func:`random_mn_norm`. Imports TensorFlow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mhzoo.search.cost.multi import MultiHardwareCost
from mhzoo.search.tunas import convergence
from mhzoo.search.tunas.config import SearchConfig
from mhzoo.search.tunas.ingraph import InGraphCost
from mhzoo.search.tunas.rewards import make_reward
from mhzoo.search.tunas.step import controller_only_search, controller_settings

__all__ = ["TOLERANCE", "percentile_targets", "random_mn_norm", "run_case", "summary_row"]

#: the acceptance's tolerance on the argmax's MN-Norm (relative)
TOLERANCE = 0.03


def random_mn_norm(space: Any, models: Mapping[str, Any], factors: Mapping[str, float], *,
                   samples: int = 2000, seed: int = 0) -> dict[str, np.ndarray]:
    """``{"avg": [samples], "max": [samples]}``: predicted MN-Norm of ``samples`` uniformly
    random architectures of ``space`` (each decision's choice drawn uniformly, seeded)."""
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError(f"samples must be an integer >= 1, got {samples!r}")
    rng = np.random.default_rng(seed)
    idx = np.stack([rng.integers(0, len(d.choices), samples) for d in space.decisions], 1)
    rows = MultiHardwareCost(list(models.values()), dict(factors)).predict(
        [space.genotype([int(i) for i in row]) for row in idx])
    return {m: np.array([r[f"mn_norm_{m}"] for r in rows]) for m in ("avg", "max")}


def run_case(space: Any, models: Mapping[str, Any], factors: Mapping[str, float], *,
             mode: str, target: float, config: SearchConfig, seed: int = 0,
             tol: float = TOLERANCE, accuracy: float = 1.0,
             report_samples: int = 2000) -> dict[str, Any]:
    """One latency-only search: eq. 7 (``mode="avg"``) or eq. 8 (``"max"``) aiming at MN-Norm
    ``target`` with ``config``'s controller settings (one replica); returns the convergence
    report (``tol`` as its argmax tolerance) with ``settings`` and ``seed`` added."""
    if mode not in ("avg", "max"):
        raise ValueError(f"mode must be avg or max, got {mode!r}")
    cost = InGraphCost(models)
    targets = list(models)
    reward = make_reward(mode, cost, targets,
                         reference_ms={t: float(factors[t]) * target for t in targets},
                         beta=config.beta, kind=config.reward_kind)
    settings = controller_settings(config)
    ctrl = controller_only_search(space, reward, accuracy=accuracy, seed=seed, **settings)
    fn = convergence.cost_function(space, models, mode=mode, factors=dict(factors))
    rep = convergence.report(ctrl.probabilities(), space.decisions, fn, float(target),
                             tol=tol, samples=report_samples, seed=seed)
    rep["cost"]["measure"] = f"mn_norm_{mode}"
    rep["settings"] = settings
    rep["seed"] = seed
    return rep


def summary_row(rep: Mapping[str, Any]) -> dict[str, Any]:
    """The few numbers of a :func:`run_case` report a table shows."""
    c, mt = rep["cost"], rep["mean_top_probability"]
    return {"seed": rep["seed"], "converged": rep["converged"],
            "mean_top_active": mt["active_in_argmax"], "mean_top_all": mt["all"],
            "argmax": c["argmax"], "target": c["target"], "argmax_rel_err": c["argmax_rel_err"],
            "samples_mean": c["samples_mean"], "samples_within_tol": c["samples_within_tol"]}


def percentile_targets(values: Mapping[str, Sequence[float]], percentiles: Sequence[float]
                       ) -> dict[str, dict[str, float]]:
    """``{mode: {"p10": value, ...}}`` from :func:`random_mn_norm`'s arrays."""
    return {m: {f"p{p:g}": float(np.percentile(np.asarray(v), p)) for p in percentiles}
            for m, v in values.items()}
