"""Pictures of a finished search (matplotlib figures, no pyplot state): the controller's final
decision probabilities, the chosen architecture drawn as in the paper's Figure 7 (one bar per
block: height = output width, colour = kernel size, hatched = fused, label = expansion), and
the convergence of the controller (reward and baseline, mean top probability, the argmax's cost
against the sample mean with the target band, the final per-decision top probabilities).
Every picture is written atomically."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from mhzoo.atomic import atomic_path
from mhzoo.spec import Conv, DepthwiseSeparable, InvertedBottleneck

__all__ = ["plot_architecture", "plot_convergence", "plot_probabilities"]


def _save(fig: Any, path: str | os.PathLike) -> Path:
    p = Path(path)
    with atomic_path(p) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    return p


def plot_probabilities(controller: Any, space: Any, path: str | os.PathLike) -> Path:
    """Heat map: one row per decision, one cell per choice (its final probability)."""
    probs = controller.probabilities()
    width = max(len(p) for p in probs)
    grid = np.full((len(probs), width), np.nan)
    for i, p in enumerate(probs):
        grid[i, :len(p)] = p
    fig = Figure(figsize=(2 + 0.6 * width, 1 + 0.22 * len(probs)))
    ax = fig.subplots()
    im = ax.imshow(grid, aspect="auto", cmap="viridis", vmin=0, vmax=1)
    ax.set_yticks(range(len(probs)))
    ax.set_yticklabels([d.path for d in space.decisions], fontsize=6)
    ax.set_xticks(range(width))
    ax.set_xlabel("choice index")
    for i, d in enumerate(space.decisions):
        j = int(np.argmax(probs[i]))
        ax.text(j, i, str(d.choices[j]), ha="center", va="center", fontsize=5, color="w")
    fig.colorbar(im, ax=ax, label="probability")
    ax.set_title("final controller probabilities (text: argmax choice)")
    return _save(fig, path)


def plot_architecture(spec: Any, path: str | os.PathLike, *, title: str | None = None) -> Path:
    """Figure-7 style: blocks as bars (height = output channels, colour = kernel)."""
    colours = {1: "#bbbbbb", 3: "#4c72b0", 5: "#dd8452", 7: "#55a868"}
    blocks = [b for b in spec.blocks if isinstance(b, Conv | DepthwiseSeparable |
                                                   InvertedBottleneck)]
    fig = Figure(figsize=(max(6, 0.45 * len(blocks)), 3.2))
    ax = fig.subplots()
    cin = 3
    for i, b in enumerate(blocks):
        k = getattr(b, "kernel", 1)
        fused = bool(getattr(b, "fused", False))
        ax.bar(i, b.filters, color=colours.get(k, "#8172b2"), edgecolor="k", linewidth=0.5,
               hatch="//" if fused else None)
        label = ""
        if isinstance(b, InvertedBottleneck):
            inner = b.expansion_filters or round(cin * b.expansion)
            label = f"x{inner / max(cin, 1):.0f}"
        if getattr(b, "stride", 1) > 1:
            label += "\ns2"
        ax.text(i, b.filters, label, ha="center", va="bottom", fontsize=6)
        cin = b.filters
    ax.set_xticks(range(len(blocks)))
    ax.set_xticklabels([type(b).__name__[:4] for b in blocks], rotation=90, fontsize=6)
    ax.set_ylabel("output channels")
    handles = [Rectangle((0, 0), 1, 1, color=c) for c in colours.values()]
    ax.legend([*handles, Rectangle((0, 0), 1, 1, fill=False, hatch="//")],
              [f"k{k}" for k in colours] + ["fused"], fontsize=6, ncol=5, loc="upper left")
    ax.set_title(title or spec.name, fontsize=8)
    return _save(fig, path)


def _series(history: Sequence[Mapping[str, Any]], key: str) -> tuple[list[int], list[float]]:
    xs, ys = [], []
    for row in history:
        v = row.get(key)
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
            xs.append(int(row["step"]))
            ys.append(float(v))
    return xs, ys


def plot_convergence(history: Sequence[Mapping[str, Any]], report: Mapping[str, Any],
                     path: str | os.PathLike, *, title: str | None = None) -> Path:
    """Four panels from the search's ``history.json`` rows and its final convergence
    ``report`` (:func:`mhzoo.search.tunas.convergence.report`): reward and baseline over steps;
    mean top probability (decisions active in the argmax) over steps with the verdict's
    threshold; the argmax architecture's cost against the mean cost of architectures sampled
    from the distribution, with the target and its tolerance band; the final top probability of
    every decision (grey: inactive in the argmax)."""
    thr, cost = report["thresholds"], report["cost"]
    fig = Figure(figsize=(12, 8))
    (a1, a2), (a3, a4) = fig.subplots(2, 2)
    for key, label in (("reward", "reward (mean of the step's samples)"),
                       ("baseline", "baseline")):
        xs, ys = _series(history, key)
        a1.plot(xs, ys, label=label, lw=1)
    a1.set_xlabel("step")
    a1.set_title("reward and baseline", fontsize=9)
    a1.legend(fontsize=7)
    xs, ys = _series(history, "mean_top_active")
    a2.plot(xs, ys, color="#4c72b0", lw=1)
    a2.axhline(thr["mean_top_active"], color="k", ls="--", lw=0.8,
               label=f"threshold {thr['mean_top_active']:g}")
    a2.set_ylim(0, 1.02)
    a2.set_xlabel("step")
    a2.set_title("mean top probability (decisions active in the argmax)", fontsize=9)
    a2.legend(fontsize=7)
    target, tol = float(cost["target"]), float(thr["argmax_rel_err"])
    for key, label in (("argmax_cost", "argmax architecture"),
                       ("samples_cost_mean", "mean of sampled architectures")):
        xs, ys = _series(history, key)
        a3.plot(xs, ys, label=label, lw=1)
    a3.axhspan(target * (1 - tol), target * (1 + tol), color="#55a868", alpha=0.25,
               label=f"target {target:g} +- {tol:.0%}")
    a3.axhline(target, color="#55a868", lw=0.8)
    a3.set_xlabel("step")
    a3.set_ylabel(str(cost.get("measure", "cost")))
    a3.set_title("predicted cost at the deployment decoding", fontsize=9)
    a3.legend(fontsize=7)
    per = report["decisions"]
    tops = [d["top"] for d in per]
    a4.bar(range(len(per)), tops, color=["#4c72b0" if d["active"] else "#bbbbbb" for d in per])
    a4.axhline(thr["mean_top_active"], color="k", ls="--", lw=0.8)
    a4.set_ylim(0, 1.02)
    a4.set_xticks(range(len(per)))
    a4.set_xticklabels([d["path"] for d in per], rotation=90, fontsize=4)
    a4.set_title("final top probability per decision (grey: inactive in the argmax)",
                 fontsize=9)
    verdict = "converged" if report["converged"] else "NOT converged"
    mt = report["mean_top_probability"]["active_in_argmax"]
    fig.suptitle(title or f"{verdict}: mean top {mt:.3f}, argmax cost {cost['argmax']:.3f} "
                          f"({cost['argmax_rel_err']:+.1%} of {target:g})", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)
