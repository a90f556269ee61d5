"""Share of latency per block along a network (the paper's Figure 2), measured honestly.

Per-op profilers are not exposed by LiteRT's Python API, so the method is prefix timing: for
k = 1..B the first k blocks of the (width-scaled) spec are built with ``mhzoo.build``
(``include_top=False``), exported for the target and timed; block k costs
``T(k) - T(k-1)`` and the classifier head ``T(full) - T(B)``. Block 1 includes the input
rescaling and the fixed cost of an invoke. Prefixes are timed in interleaved passes (median of
the pass medians) so that drift on a busy machine spreads over all blocks; a difference that
noise makes negative is clipped to 0 and reported in ``raw_block_ms``.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mhzoo.benchmarks.runner import RunConfig, measure_tflite
from mhzoo.benchmarks.targets import Target, get_target
from mhzoo.names import model_slug

__all__ = ["BlockProfile", "profile_blocks"]


@dataclass
class BlockProfile:
    """Per-block latency of one model on one target."""

    model: str
    width: float
    target: str
    labels: list[str]
    cumulative_ms: list[float]
    block_ms: list[float]
    raw_block_ms: list[float]
    total_ms: float
    passes: int
    notes: list[str] = field(default_factory=list)
    #: square input resolution the prefixes were timed at
    input_size: int | None = None
    #: :func:`mhzoo.benchmarks.store.arch_hash` of the base spec at ``input_size``
    arch_hash: str | None = None

    @property
    def shares_pct(self) -> list[float]:
        """Each block's (and the head's) share of the summed latency, in percent."""
        s = sum(self.block_ms)
        return [100.0 * b / s if s > 0 else 0.0 for b in self.block_ms]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"model": self.model, "width": self.width, "target": self.target,
                "labels": self.labels, "cumulative_ms": self.cumulative_ms,
                "block_ms": self.block_ms, "raw_block_ms": self.raw_block_ms,
                "shares_pct": self.shares_pct, "total_ms": self.total_ms,
                "passes": self.passes, "notes": self.notes, "input_size": self.input_size,
                "arch_hash": self.arch_hash}


def _label(i: int, block: Any) -> str:
    kind = type(block).__name__
    short = {"Conv": "conv", "DepthwiseSeparable": "ds", "InvertedBottleneck": "ib",
             "GlobalPool": "pool"}.get(kind, kind)
    if short == "ib" and getattr(block, "fused", False):
        short = "fused"
    return f"{i}:{short}"


def profile_blocks(name_or_spec: Any, width: float = 1.0, target: str | Target = "cpu_int8", *,
                   input_size: int = 224, passes: int = 3, config: RunConfig | None = None,
                   workdir: str | os.PathLike | None = None,
                   progress: bool = False) -> BlockProfile:
    """Latency per block of a model on a local target, by timing truncated prefixes.

    Args:
        name_or_spec: registry name, ``ArchSpec`` or spec JSON path.
        width: width multiplier.
        target: a local target (its export mode, threads and delegate are used).
        input_size: square input resolution.
        passes: interleaved timing passes over all prefixes.
        config: timing budget of each prefix in each pass.
        workdir: where the prefix .tflite files go (default: a temp folder, removed after).
        progress: show a progress bar on stderr.
    """
    import sys

    from tqdm.auto import tqdm

    import mhzoo
    from mhzoo.benchmarks.exporting import export_tflite
    from mhzoo.builder import get_keras, resolve_spec
    from mhzoo.export._quiet import captured_output
    from mhzoo.widths import scale_spec

    t = get_target(target)
    if not t.is_local:
        raise ValueError(f"target {t.name!r} runs on a phone; block profiles are local only")
    if isinstance(passes, bool) or not isinstance(passes, int) or passes < 1:
        raise ValueError(f"passes must be an integer >= 1, got {passes!r}")
    base = resolve_spec(name_or_spec)
    concrete = scale_spec(base, width)
    n_blocks = len(concrete.blocks)
    cfg = config or RunConfig(warmup_runs=2, warmup_min_s=0.05, min_runs=10, min_time_s=0.2,
                              max_time_s=2.0, rel_precision=0.01)
    own_dir = workdir is None
    wd = Path(tempfile.mkdtemp(prefix="mhzoo-blocks-")) if own_dir else Path(workdir)
    wd.mkdir(parents=True, exist_ok=True)
    keras = get_keras("keras")
    paths: list[Path] = []
    bar = tqdm(total=n_blocks + 1 + passes * (n_blocks + 1), desc=f"blocks {base.name} "
               f"{t.name}", file=sys.stderr, disable=not progress, leave=False)
    try:
        for k in range(1, n_blocks + 2):
            full = k == n_blocks + 1
            p = wd / f"{model_slug(base.name, width)}_{input_size}_{t.quant}_p{k:02d}.tflite"
            if not p.is_file():
                spec = concrete if full else concrete.replace(blocks=concrete.blocks[:k])
                with captured_output():
                    m = mhzoo.build(spec, 1.0, input_shape=(input_size, input_size, 3),
                                    batch_size=1, include_top=full,
                                    name=f"{base.name}_prefix{k}")
                if m.arch_spec.blocks != spec.blocks:
                    raise ValueError(f"prefix {k} of {base.name} does not rebuild at its own "
                                     "widths; cannot time it")
                export_tflite(m, p, t.quant)
                del m
                keras.backend.clear_session()
            paths.append(p)
            bar.update(1)
        per_pass: list[list[float]] = [[] for _ in paths]
        for _ in range(passes):
            for i, p in enumerate(paths):
                per_pass[i].append(measure_tflite(p, t, config=cfg).median_ms)
                bar.update(1)
    finally:
        bar.close()
        if own_dir:
            import shutil

            shutil.rmtree(wd, ignore_errors=True)
    cum = [float(np.median(v)) for v in per_pass]
    raw = [cum[0]] + [cum[i] - cum[i - 1] for i in range(1, len(cum))]
    clipped = [max(0.0, r) for r in raw]
    notes = []
    neg = [i for i, r in enumerate(raw) if r < 0]
    if neg:
        notes.append(f"{len(neg)} block difference(s) were negative from timing noise and are "
                     "shown as 0")
    labels = [_label(i, b) for i, b in enumerate(concrete.blocks)] + ["head"]
    from mhzoo.benchmarks.store import arch_hash

    return BlockProfile(model=base.name, width=width, target=t.name, labels=labels,
                        cumulative_ms=cum, block_ms=clipped, raw_block_ms=raw,
                        total_ms=cum[-1], passes=passes, notes=notes, input_size=input_size,
                        arch_hash=arch_hash(base, input_size))
