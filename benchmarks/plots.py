"""PNG plots of reports (matplotlib, Agg backend), after the paper's Figures 1, 2 and 5.

- :func:`plot_mn_norm` (Figure 1): accuracy vs MN-Norm avg (left) and max (right).
- :func:`plot_latency_per_target` (Figure 5): accuracy vs latency, one panel per target.
- :func:`plot_block_shares` (Figure 2): share of latency per block along the network.

Each writes its PNG atomically and returns the path.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mhzoo.atomic import atomic_path
from mhzoo.benchmarks.block_latency import BlockProfile
from mhzoo.benchmarks.importers import fmt_width
from mhzoo.benchmarks.report import Report, ReportRow

__all__ = ["plot_block_shares", "plot_latency_per_target", "plot_mn_norm"]

_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "h", "<", ">", "p"]


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str | os.PathLike) -> Path:
    p = Path(path)
    if p.suffix.lower() != ".png":
        raise ValueError(f"plot path must end in .png, got {p}")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise ValueError(f"output folder does not exist: {parent}")
    with atomic_path(p) as tmp:
        fig.savefig(tmp, format="png", dpi=130, bbox_inches="tight")
    _plt().close(fig)
    return p


def _pretty(name: str) -> str:
    try:
        from mhzoo.registry import get_entry

        return get_entry(name).title
    except ValueError:
        return name


def _groups(rows: Sequence[ReportRow]) -> dict[str, list[ReportRow]]:
    out: dict[str, list[ReportRow]] = {}
    for r in rows:
        out.setdefault(r.model, []).append(r)
    for v in out.values():
        v.sort(key=lambda r: r.width or 0.0)
    return out


def _scatter(ax: Any, groups: dict[str, list[ReportRow]], x_of: Any, y_of: Any,
             styles: dict[str, tuple[str, Any]]) -> int:
    drawn = 0
    for model, rows in groups.items():
        pts = [(x_of(r), y_of(r), r) for r in rows]
        pts = [(x, y, r) for x, y, r in pts if x is not None and y is not None]
        if not pts:
            continue
        marker, color = styles[model]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=marker, color=color,
                linestyle="-" if len(pts) > 1 else "none", markersize=8, label=_pretty(model))
        for x, y, r in pts:
            if r.width is not None:
                ax.annotate(fmt_width(r.width), (x, y), textcoords="offset points", xytext=(5, 4),
                            fontsize=7, color=color)
        drawn += len(pts)
    ax.margins(x=0.08, y=0.1)
    xs = [x_of(r) for rows in groups.values() for r in rows]
    xs = [x for x in xs if x is not None and x > 0]
    if xs and max(xs) / min(xs) > 5:  # one far outlier would squash the others
        from matplotlib.ticker import LogLocator, NullFormatter, StrMethodFormatter

        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(StrMethodFormatter("{x:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    return drawn


def _xlabel(ax: Any, text: str) -> None:
    ax.set_xlabel(text + (" (log scale)" if ax.get_xscale() == "log" else ""))


def _styles(models: Sequence[str]) -> dict[str, tuple[str, Any]]:
    plt = _plt()
    cmap = plt.get_cmap("tab10")
    return {m: (_MARKERS[i % len(_MARKERS)], cmap(i % 10)) for i, m in enumerate(models)}


def _left_out(report: Report, need_acc: bool) -> list[str]:
    if not need_acc:
        return []
    return [r.label for r in report.rows if r.top1_accuracy_pct is None]


def _target_label(name: str) -> str:
    """A target's name, with ``(simulated)`` for simulated targets."""
    from mhzoo.benchmarks.targets import simulated_names

    return f"{name} (simulated)" if simulated_names([name]) else name


def plot_mn_norm(report: Report, path: str | os.PathLike, title: str | None = None) -> Path:
    """Figure 1: accuracy vs MN-Norm avg and max. Without any known accuracy, plots MN-Norm
    max against avg instead (one point per model)."""
    plt = _plt()
    groups = _groups(report.rows)
    styles = _styles(list(groups))
    has_acc = any(r.top1_accuracy_pct is not None and r.mn_norm_avg is not None
                  for r in report.rows)
    ref = f" (reference: {report.reference})" if report.reference else ""
    if has_acc:
        fig, axes = plt.subplots(1, 2, figsize=(12, 5), sharey=True)
        n = 0
        for ax, key, label in ((axes[0], "mn_norm_avg", "MN-Norm avg (eq. 4)"),
                               (axes[1], "mn_norm_max", "MN-Norm max (eq. 5)")):
            n += _scatter(ax, groups, lambda r, k=key: getattr(r, k),
                          lambda r: r.top1_accuracy_pct, styles)
            _xlabel(ax, f"{label}, lower is better")
            ax.grid(True, alpha=0.3)
        axes[0].set_ylabel("ImageNet top-1 accuracy (%)")
        axes[0].set_title("Normalized average latency")
        axes[1].set_title("Normalized max latency")
    else:
        fig, ax = plt.subplots(figsize=(7, 5))
        n = _scatter(ax, groups, lambda r: r.mn_norm_avg, lambda r: r.mn_norm_max, styles)
        _xlabel(ax, "MN-Norm avg (eq. 4), lower is better")
        ax.set_ylabel("MN-Norm max (eq. 5), lower is better")
        ax.grid(True, alpha=0.3)
        axes = [ax]
    if n == 0:
        plt.close(fig)
        raise ValueError("nothing to plot: no model has an MN-Norm value (all unsupported?)")
    handles, labels = axes[0].get_legend_handles_labels()
    for ax in axes[1:]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    nrow_leg = (len(labels) + 3) // 4
    fig.legend(handles, labels, loc="lower center", ncol=min(4, len(labels)), fontsize=9,
               frameon=False, bbox_to_anchor=(0.5, 0.035))
    sub = f"{', '.join(_target_label(t) for t in report.targets)}{ref}"
    missing = _left_out(report, has_acc)
    unsupported = [r.label for r in report.rows if r.mn_norm_avg is None]
    extra = []
    if missing:
        extra.append("no accuracy known: " + ", ".join(missing))
    if unsupported:
        extra.append("unsupported on a target: " + ", ".join(unsupported))
    fig.suptitle((title or "Accuracy vs MN-Norm latency") + f"\nhardware: {sub}", fontsize=11)
    if extra:
        fig.text(0.5, 0.005, "; ".join(extra), ha="center", fontsize=8)
    fig.tight_layout(rect=(0, 0.06 + 0.045 * nrow_leg, 1, 0.97))
    return _save(fig, path)


def plot_latency_per_target(report: Report, path: str | os.PathLike,
                            title: str | None = None) -> Path:
    """Figure 5: accuracy vs latency (ms), one panel per target. Rows without accuracy are
    plotted as latency per model (bar chart) instead."""
    plt = _plt()
    groups = _groups(report.rows)
    styles = _styles(list(groups))
    nt = len(report.targets)
    if nt == 0:
        raise ValueError("the report has no targets")
    ncols = min(3, nt)
    nrows = (nt + ncols - 1) // ncols
    has_acc = any(r.top1_accuracy_pct is not None for r in report.rows)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.2 * ncols, 4.2 * nrows), squeeze=False)
    drawn = 0
    for i, t in enumerate(report.targets):
        ax = axes[i // ncols][i % ncols]
        if has_acc:
            drawn += _scatter(ax, groups, lambda r, t=t: r.latency_ms.get(t),
                              lambda r: r.top1_accuracy_pct, styles)
            ax.set_ylabel("top-1 accuracy (%)")
        else:
            rows = [r for r in report.rows if r.latency_ms.get(t) is not None]
            ax.barh([r.label for r in rows], [r.latency_ms[t] for r in rows],
                    color=[styles[r.model][1] for r in rows])
            drawn += len(rows)
        _xlabel(ax, f"{t} latency (ms)")
        ax.set_title(_target_label(t))
        ax.grid(True, alpha=0.3)
    for j in range(nt, nrows * ncols):
        axes[j // ncols][j % ncols].axis("off")
    if drawn == 0:
        plt.close(fig)
        raise ValueError("nothing to plot: no latencies")
    if has_acc:
        handles, labels = [], []
        for row in axes:
            for ax in row:
                for h, lab in zip(*ax.get_legend_handles_labels()):
                    if lab not in labels:
                        handles.append(h)
                        labels.append(lab)
        fig.legend(handles, labels, loc="lower center", ncol=min(4, len(labels)), fontsize=9,
                   frameon=False, bbox_to_anchor=(0.5, 0.03 / nrows))
        missing = _left_out(report, True)
        if missing:
            fig.text(0.5, 0.005, "no accuracy known: " + ", ".join(missing), ha="center",
                     fontsize=8)
        bottom = (0.05 + 0.04 * ((len(labels) + 3) // 4)) / nrows
    else:
        bottom = 0.0
    fig.suptitle(title or "Accuracy vs latency per target (lower latency is better)",
                 fontsize=11)
    fig.tight_layout(rect=(0, bottom, 1, 0.97))
    return _save(fig, path)


def plot_block_shares(profiles: Sequence[BlockProfile], path: str | os.PathLike,
                      title: str | None = None) -> Path:
    """Figure 2: share (%) of the model's latency spent in each block, input on the left.

    Several profiles (e.g. one per target) of the same architecture are drawn as grouped bars.
    """
    if not profiles:
        raise ValueError("no block profiles to plot")
    labels = profiles[0].labels
    for p in profiles[1:]:
        if p.labels != labels:
            raise ValueError("block profiles of different architectures cannot share a plot")
    plt = _plt()
    import numpy as np

    n = len(labels)
    k = len(profiles)
    x = np.arange(n)
    wbar = 0.8 / k
    fig, ax = plt.subplots(figsize=(max(8, 0.45 * n + 3), 4.8))
    cmap = plt.get_cmap("tab10")
    for i, p in enumerate(profiles):
        ax.bar(x + (i - (k - 1) / 2) * wbar, p.shares_pct, width=wbar, color=cmap(i),
               label=f"{p.target} (total {p.total_ms:.2f} ms)")
    ax.set_xticks(x)
    ax.set_xticklabels(labels, rotation=60, ha="right", fontsize=8)
    ax.set_xlabel("block (input on the left, classifier head on the right)")
    ax.set_ylabel("share of latency (%)")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=9)
    p0 = profiles[0]
    ax.set_title(title or f"Latency share per block: {_pretty(p0.model)} {fmt_width(p0.width)} "
                 "(timed prefixes of the network)", fontsize=11)
    notes = sorted({n_ for p in profiles for n_ in p.notes})
    if notes:
        fig.text(0.5, -0.02, "; ".join(notes), ha="center", fontsize=8)
    fig.tight_layout()
    return _save(fig, path)
