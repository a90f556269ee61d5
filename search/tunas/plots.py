"""Pictures of a finished search (matplotlib figures, no pyplot state): the controller's final
decision probabilities, and the chosen architecture drawn as in the paper's Figure 7 (one bar per
block: height = output width, colour = kernel size, hatched = fused, label = expansion)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from mhzoo.atomic import atomic_path
from mhzoo.spec import Conv, DepthwiseSeparable, InvertedBottleneck

__all__ = ["plot_architecture", "plot_probabilities"]


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
