"""Few-shot latency models for a new device that borrow from other devices' models.

Leave-one-device-out: the new device's latencies are used only for its K "measured"
architectures; the other devices' linear models are fitted on the pool of training
architectures; every score is on held-out architectures that no model saw. Methods:

* ``scratch``: ridge on the K architectures alone (the TuNAS linear features);
* ``transfer``: the other devices' predictions as features (standardized, ridge), i.e. the new
  device as a learned mix of known ones;
* ``prior``: the linear model ``w = alpha * w_mean + delta``, ridge on ``delta``, i.e. shrunk
  toward a scaled mean of the other devices' (scale-normalized) weights, ``alpha`` and the
  bias unpenalized.

Lambda is chosen by cross-validation on the K rows. HELP (Lee et al. 2021) reports Spearman rho
0.910 on average over FBNet devices from 10 samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mhzoo.search.cost.data import Dataset
from mhzoo.search.cost.linear import feature_matrix
from mhzoo.search.cost.metrics import spearman_rho
from mhzoo.search.cost.ridge import fit_ridge

__all__ = ["METHODS", "few_shot_curve"]

METHODS = ("scratch", "transfer", "prior")
_FEW_LAMBDAS = tuple(float(v) for v in np.logspace(-3, 3, 7))


def _fit_predict(method: str, X: np.ndarray, P: np.ndarray, wbar: np.ndarray,  # noqa: N803
                 idx: np.ndarray, y: np.ndarray, X_test: np.ndarray,  # noqa: N803
                 P_test: np.ndarray) -> np.ndarray:  # noqa: N803
    k = len(idx)
    folds = max(2, min(5, k // 2))
    if method == "scratch":
        fit = fit_ridge(X[idx], y, lambdas=_FEW_LAMBDAS, folds=folds)
        return fit.a[0] + X_test @ fit.b
    if method == "transfer":
        mu, sd = P.mean(0), P.std(0) + 1e-12
        fit = fit_ridge((P[idx] - mu) / sd, y, lambdas=_FEW_LAMBDAS, folds=folds)
        return fit.a[0] + ((P_test - mu) / sd) @ fit.b
    if method == "prior":
        A = np.stack([np.ones(k), X[idx] @ wbar], 1)  # noqa: N806
        fit = fit_ridge(X[idx], y, A, lambdas=_FEW_LAMBDAS, folds=folds)
        A_test = np.stack([np.ones(len(X_test)), X_test @ wbar], 1)  # noqa: N806
        return A_test @ fit.a + X_test @ fit.b
    raise ValueError(f"unknown few-shot method {method!r}; expected one of {', '.join(METHODS)}")


def few_shot_curve(data: Dataset, *, devices: Sequence[str] | None = None,
                   ks: Sequence[int] = (10, 20, 50, 100), repeats: int = 10,
                   train_fraction: float = 0.8, methods: Sequence[str] = METHODS,
                   seed: int = 0) -> dict[str, Any]:
    """Spearman rho of few-shot models against K, per held-out device and method.

    Returns ``{"per_device": {device: {method: {K: rho mean over repeats}}}, "mean": {method:
    {K: mean over devices}}, "train": n, "test": n, "repeats": r}``.
    """
    names = list(devices or data.targets)
    if len(data.targets) < 2:
        raise ValueError("few-shot transfer needs latencies of at least 2 devices")
    for m in methods:
        if m not in METHODS:
            raise ValueError(f"unknown few-shot method {m!r}; expected one of {', '.join(METHODS)}")
    n = len(data)
    order = np.random.default_rng(seed).permutation(n)
    n_train = round(train_fraction * n)
    train, test = order[:n_train], order[n_train:]
    if max(ks) > n_train or len(test) < 10:
        raise ValueError(f"{n} architectures are too few for K up to {max(ks)} and a held-out set")
    X_all = feature_matrix(data.space, data.genotypes)  # noqa: N806
    X, X_test = X_all[train], X_all[test]  # noqa: N806
    models: dict[str, tuple[float, np.ndarray]] = {}
    for d in data.targets:
        fit = fit_ridge(X, data.latency[d][train])
        models[d] = (float(fit.a[0]), fit.b)
    rng = np.random.default_rng(seed + 1)
    per_device: dict[str, dict[str, dict[int, float]]] = {}
    for dev in names:
        y_all = data.y(dev)
        others = [d for d in data.targets if d != dev]
        P = np.stack([models[d][0] + X @ models[d][1] for d in others], 1)  # noqa: N806
        P_test = np.stack([models[d][0] + X_test @ models[d][1] for d in others], 1)  # noqa: N806
        wbar = np.mean([models[d][1] / np.mean(data.latency[d][train]) for d in others], 0)
        res: dict[str, dict[int, float]] = {m: {} for m in methods}
        for k in ks:
            scores: dict[str, list[float]] = {m: [] for m in methods}
            for _ in range(repeats):
                idx = rng.choice(len(train), size=k, replace=False)
                y = y_all[train][idx]
                for m in methods:
                    pred = _fit_predict(m, X, P, wbar, idx, y, X_test, P_test)
                    scores[m].append(spearman_rho(y_all[test], pred))
            for m in methods:
                res[m][int(k)] = float(np.mean(scores[m]))
        per_device[dev] = res
    mean = {m: {int(k): float(np.mean([per_device[d][m][int(k)] for d in names])) for k in ks}
            for m in methods}
    return {"per_device": per_device, "mean": mean, "train": int(n_train),
            "test": len(test), "repeats": int(repeats), "ks": [int(k) for k in ks]}
