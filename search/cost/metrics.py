"""Quality of a latency predictor on held-out architectures (numpy only).

RMSE (ms), MAPE (%), the share within +/-5% and +/-10% of the measured value (nn-Meter's
"+/-10% accuracy"), Kendall's tau-b and Spearman's rho (average ranks for ties), and a
Figure-4 style scatter plot (predicted vs measured).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from mhzoo.atomic import atomic_path

__all__ = ["kendall_tau", "quality", "rankdata", "scatter_plot", "spearman_rho"]


def _pair(measured: Any, predicted: Any) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(measured, np.float64).reshape(-1)
    p = np.asarray(predicted, np.float64).reshape(-1)
    if y.shape != p.shape:
        raise ValueError(f"{y.size} measured but {p.size} predicted values")
    if y.size < 2:
        raise ValueError(f"quality needs at least 2 architectures, got {y.size}")
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(p))):
        raise ValueError("latencies must be finite")
    return y, p


def rankdata(x: Any) -> np.ndarray:
    """Ranks from 1, ties given their average rank (``scipy.stats.rankdata`` 'average')."""
    a = np.asarray(x, np.float64)
    order = np.argsort(a, kind="mergesort")
    s = a[order]
    ranks = np.empty(a.size)
    edges = np.flatnonzero(np.diff(s)) + 1
    starts = np.concatenate([[0], edges])
    ends = np.concatenate([edges, [a.size]])
    for lo, hi in zip(starts, ends, strict=True):
        ranks[order[lo:hi]] = (lo + hi + 1) / 2.0
    return ranks


def spearman_rho(x: Any, y: Any) -> float:
    """Spearman's rank correlation (Pearson correlation of the average ranks)."""
    a, b = _pair(x, y)
    ra, rb = rankdata(a), rankdata(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    den = float(np.sqrt(np.sum(ra * ra) * np.sum(rb * rb)))
    return float(np.sum(ra * rb) / den) if den > 0 else 0.0


def kendall_tau(x: Any, y: Any) -> float:
    """Kendall's tau-b (ties counted as in ``scipy.stats.kendalltau``), O(n^2) in blocks."""
    a, b = _pair(x, y)
    n = a.size
    conc = disc = 0.0
    tie_a = tie_b = 0.0
    step = max(1, 2_000_000 // n)
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        da = np.sign(a[lo:hi, None] - a[None, :])
        db = np.sign(b[lo:hi, None] - b[None, :])
        prod = da * db
        conc += float(np.sum(prod > 0))
        disc += float(np.sum(prod < 0))
        tie_a += float(np.sum((da == 0) & (db != 0)))
        tie_b += float(np.sum((db == 0) & (da != 0)))
    # every unordered pair was counted twice; the diagonal has da = db = 0 and drops out
    conc, disc, tie_a, tie_b = conc / 2, disc / 2, tie_a / 2, tie_b / 2
    den = np.sqrt((conc + disc + tie_a) * (conc + disc + tie_b))
    return float((conc - disc) / den) if den > 0 else 0.0


def quality(measured: Any, predicted: Any) -> dict[str, float]:
    """RMSE, MAPE, within +/-5% / +/-10%, Kendall tau, Spearman rho and the count."""
    y, p = _pair(measured, predicted)
    if np.any(y <= 0):
        raise ValueError("measured latencies must be > 0")
    rel = np.abs(p - y) / y
    return {"n": int(y.size), "rmse_ms": float(np.sqrt(np.mean((p - y) ** 2))),
            "mape_pct": float(100 * rel.mean()),
            "within_5_pct": float(100 * np.mean(rel <= 0.05)),
            "within_10_pct": float(100 * np.mean(rel <= 0.10)),
            "kendall_tau": kendall_tau(y, p), "spearman_rho": spearman_rho(y, p)}


def scatter_plot(path: str | os.PathLike, measured: Any, predicted: Any, *, title: str = "",
                 metrics: dict[str, float] | None = None) -> Path:
    """Figure-4 style scatter: predicted vs measured latency with the y = x and +/-10% lines;
    written atomically as PNG."""
    # function-level: cost/ is numpy only; matplotlib loads for the picture alone
    from matplotlib.figure import Figure

    y, p = _pair(measured, predicted)
    m = metrics or quality(y, p)
    fig = Figure(figsize=(4.2, 4.2), dpi=120)
    ax = fig.subplots()
    ax.scatter(y, p, s=6, alpha=0.6, linewidths=0)
    lo, hi = float(min(y.min(), p.min())) * 0.95, float(max(y.max(), p.max())) * 1.05
    xs = np.array([lo, hi])
    ax.plot(xs, xs, "k-", lw=0.8)
    ax.plot(xs, xs * 1.1, "k:", lw=0.6)
    ax.plot(xs, xs * 0.9, "k:", lw=0.6)
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel("measured latency (ms)")
    ax.set_ylabel("predicted latency (ms)")
    ax.set_title(title, fontsize=9)
    ax.text(0.03, 0.97, f"n={m['n']}  RMSE {m['rmse_ms']:.2f} ms\n"
            f"within ±10%: {m['within_10_pct']:.1f}%\n"
            f"Kendall τ {m['kendall_tau']:.3f}  Spearman ρ {m['spearman_rho']:.3f}",
            transform=ax.transAxes, va="top", fontsize=7)
    fig.tight_layout()
    out = Path(path)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png")
    return out
