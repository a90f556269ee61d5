"""Ridge least squares with unpenalized columns and the penalty chosen by cross-validation.

``min ||y - A a - B b||^2 + lam ||b||^2``: ``A`` holds the unpenalized columns (a constant, and
for the lookup table the prior's columns), ``B`` the penalized ones. ``A`` is projected out
(``P = I - A A^+``), then ``b`` comes from the eigen-decomposition of the smaller of ``P B (P B)^T``
and ``(P B)^T P B`` (exact for any shape; cheap for TuNAS's 9,805 features from <= 1,000
architectures, where the first is 1,000 x 1,000), and
``a = A^+ (y - B b)``. ``lam`` is chosen from a log grid by K-fold cross-validation on the
relative squared error (latency errors matter relative to the latency).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["DEFAULT_LAMBDAS", "RidgeFit", "fit_ridge"]

DEFAULT_LAMBDAS = tuple(float(v) for v in np.logspace(-4, 3, 15))


@dataclass
class RidgeFit:
    """Fitted coefficients: ``y ~ A @ a + B @ b``."""

    a: np.ndarray
    b: np.ndarray
    lam: float
    cv_rel_rmse: dict[float, float]


def _solve(A: np.ndarray, B: np.ndarray, y: np.ndarray, lams: list[float]  # noqa: N803
           ) -> list[tuple[np.ndarray, np.ndarray]]:
    pinv = np.linalg.pinv(A)
    PB = B - A @ (pinv @ B)  # noqa: N806
    Py = y - A @ (pinv @ y)  # noqa: N806
    if PB.shape[1] == 0:
        return [(pinv @ y, np.zeros(0)) for _ in lams]
    n, d = PB.shape
    out = []
    if d > n:  # wide (more features than rows): eigen-decompose the n x n Gram matrix
        ev, U = np.linalg.eigh(PB @ PB.T)  # noqa: N806
        ev = np.clip(ev, 0.0, None)
        uty = U.T @ Py
        for lam in lams:
            b = PB.T @ (U @ (uty / (ev + lam)))
            out.append((pinv @ (y - B @ b), b))
    else:  # tall: the d x d normal matrix
        ev, V = np.linalg.eigh(PB.T @ PB)  # noqa: N806
        ev = np.clip(ev, 0.0, None)
        vtr = V.T @ (PB.T @ Py)
        for lam in lams:
            b = V @ (vtr / (ev + lam))
            out.append((pinv @ (y - B @ b), b))
    return out


def fit_ridge(B: np.ndarray, y: np.ndarray, A: np.ndarray | None = None, *,  # noqa: N803
              lambdas: tuple[float, ...] | None = None, folds: int = 5,
              seed: int = 0) -> RidgeFit:
    """Fit ``y ~ A a + B b`` (``A`` default: one constant column); ``lambdas`` of one value
    skips cross-validation. ``ValueError`` on mismatched shapes or too few rows."""
    B = np.asarray(B, np.float64)  # noqa: N806
    y = np.asarray(y, np.float64)
    n = len(y)
    A = np.ones((n, 1)) if A is None else np.asarray(A, np.float64)  # noqa: N806
    if B.ndim != 2 or A.ndim != 2 or B.shape[0] != n or A.shape[0] != n:
        raise ValueError(f"feature rows ({B.shape[0]}, {A.shape[0]}) and targets ({n}) differ")
    if not np.all(np.isfinite(y)) or np.any(y <= 0):
        raise ValueError("latencies must be finite and > 0")
    lams = list(lambdas or DEFAULT_LAMBDAS)
    min_rows = max(A.shape[1] + 2, 2 * folds if len(lams) > 1 else 0)
    if n < min_rows:
        raise ValueError(f"too few architectures to fit: {n} (need at least {min_rows})")
    cv: dict[float, float] = {}
    if len(lams) > 1:
        order = np.random.default_rng(seed).permutation(n)
        err = np.zeros(len(lams))
        for f in range(folds):
            test = order[f::folds]
            train = np.setdiff1d(order, test)
            for j, (a, b) in enumerate(_solve(A[train], B[train], y[train], lams)):
                pred = A[test] @ a + B[test] @ b
                err[j] += float(np.sum(((pred - y[test]) / y[test]) ** 2))
        rel = np.sqrt(err / n)
        cv = {lam: float(r) for lam, r in zip(lams, rel, strict=True)}
        best = lams[int(np.argmin(rel))]
    else:
        best = lams[0]
    a, b = _solve(A, B, y, [best])[0]
    return RidgeFit(a, b, float(best), cv)
