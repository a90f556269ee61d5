"""MN-Norm: the paper's normalized average and max latency over several hardware (eq. 4-5).

    f_avg(L_a) = 1/N * sum_i L_a,i / C_i          (eq. 4)
    f_max(L_a) = max_i  L_a,i / C_i               (eq. 5)

``C`` are normalization factors: the latency of a reference model on each hardware (the paper
uses MobileNetV1, section 6.2) or given explicitly. Section 5.2, case 2: ``C`` may be re-weighted
by the importance of each hardware; here a weight ``w_i`` gives ``C_i' = C_i / w_i``, so
``w_i = 2`` doubles hardware i's term and ``w_i = 0`` (``C_i = inf``) removes it from the max
and from the sum (N still counts it, as in the paper's extreme case). A model without a latency
on a hardware that matters (weight > 0) is unsupported there: avg and max are ``None`` (the
"x" of Table 1).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["MNNorm", "mn_norm", "mn_norm_avg", "mn_norm_max", "mn_norm_scales",
           "normalization_factors", "parse_assignments"]


def _positive(label: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{label} must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{label} must be a finite number > 0, got {value!r}")
    return v


@dataclass(frozen=True)
class MNNorm:
    """Normalized average and max latency; both ``None`` when the model is unsupported."""

    avg: float | None
    max: float | None

    @property
    def supported(self) -> bool:
        """False when some hardware with a weight > 0 has no latency for the model."""
        return self.avg is not None


def normalization_factors(reference_ms: Mapping[str, float | None],
                          what: str = "reference latency") -> dict[str, float]:
    """Factors ``C`` from a reference model's latency per target (eq. 4-5, section 6.2).

    ``ValueError`` when the reference has no (or a non-positive) latency on some target;
    ``what`` names the values in that message (``"normalization factor"`` for explicit ones).
    """
    if not reference_ms:
        raise ValueError("the reference model has no latencies")
    out: dict[str, float] = {}
    for target, ms in reference_ms.items():
        if ms is None:
            raise ValueError(f"the reference model has no latency on target {target!r} "
                             "(unsupported there), so it cannot normalize it; choose another "
                             "reference or give --norm-factors")
        out[target] = _positive(f"{what} of {target!r}", ms)
    return out


def _check_weights(factors: Mapping[str, float],
                   weights: Mapping[str, float] | None) -> dict[str, float]:
    w = {t: 1.0 for t in factors}
    for t, v in (weights or {}).items():
        if t not in factors:
            raise ValueError(f"weight for unknown target {t!r}; targets: {', '.join(factors)}")
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
            raise ValueError(f"weight of {t!r} must be a number >= 0, got {v!r}")
        w[t] = float(v)
    if not any(v > 0 for v in w.values()):
        raise ValueError("at least one target needs a weight > 0")
    return w


def mn_norm_scales(factors: Mapping[str, float],
                   weights: Mapping[str, float] | None = None) -> dict[str, float]:
    """Per-target multipliers ``s_i = w_i / C_i`` of eq. 4-5 (validated as :func:`mn_norm`).

    With them ``f_avg = sum_i s_i * L_i / N`` (``N = len(factors)``) and
    ``f_max = max_i s_i * L_i``: the form array code uses (e.g. the search's in-graph reward,
    :mod:`mhzoo.search.tunas.rewards`), so every MN-Norm value comes from these definitions.
    """
    if not factors:
        raise ValueError("no normalization factors (the hardware set is empty)")
    c = {t: _positive(f"normalization factor of {t!r}", v) for t, v in factors.items()}
    w = _check_weights(c, weights)
    return {t: w[t] / c[t] for t in c}


def mn_norm(latency_ms: Mapping[str, float | None], factors: Mapping[str, float],
            weights: Mapping[str, float] | None = None) -> MNNorm:
    """Eq. 4 and 5 for one model.

    Args:
        latency_ms: target -> latency (ms), ``None`` = unsupported on that target. Must cover
            every target of ``factors`` (the hardware set H).
        factors: target -> normalization factor C_i (ms), all > 0.
        weights: optional target -> importance (default 1; section 5.2, case 2).
    """
    if not factors:
        raise ValueError("no normalization factors (the hardware set is empty)")
    c = {t: _positive(f"normalization factor of {t!r}", v) for t, v in factors.items()}
    w = _check_weights(c, weights)
    missing = [t for t in c if t not in latency_ms]
    if missing:
        raise ValueError(f"no latency column for target(s) {', '.join(missing)}")
    terms: list[float] = []
    for t, ct in c.items():
        ms = latency_ms[t]
        if ms is None:
            if w[t] > 0:
                return MNNorm(None, None)
            terms.append(0.0)
            continue
        lat = _positive(f"latency on {t!r}", ms)
        terms.append(w[t] * lat / ct)  # L_i / (C_i / w_i)
    n = len(c)
    return MNNorm(avg=sum(terms) / n, max=max(terms))


def mn_norm_avg(latency_ms: Mapping[str, float | None], factors: Mapping[str, float],
                weights: Mapping[str, float] | None = None) -> float | None:
    """Normalized average latency, eq. 4 (``None`` when unsupported)."""
    return mn_norm(latency_ms, factors, weights).avg


def mn_norm_max(latency_ms: Mapping[str, float | None], factors: Mapping[str, float],
                weights: Mapping[str, float] | None = None) -> float | None:
    """Normalized max latency, eq. 5 (``None`` when unsupported)."""
    return mn_norm(latency_ms, factors, weights).max


def parse_assignments(text: str, what: str = "value") -> dict[str, float]:
    """``"cpu_float=31.0,gpu=5.4"`` -> ``{"cpu_float": 31.0, "gpu": 5.4}``; ``ValueError`` on
    malformed items (the message names the item)."""
    out: dict[str, float] = {}
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        name, sep, value = item.partition("=")
        name = name.strip()
        if name.endswith("_ms"):
            name = name[:-3]
        if not sep or not name:
            raise ValueError(f"malformed {what} {item!r}; expected TARGET=NUMBER, e.g. "
                             "cpu_float=31.0")
        try:
            v = float(value)
        except ValueError:
            raise ValueError(f"{what} for {name!r} is not a number: {value.strip()!r}") from None
        if name in out:
            raise ValueError(f"{what} for {name!r} given twice")
        out[name] = v
    if not out:
        raise ValueError(f"no {what}s given; expected TARGET=NUMBER,...")
    return out
