"""Search rewards: the paper's eq. 6-8 and TuNAS's ``mnas`` / ``mnas_hard`` forms, in-graph.

With ``rho = cost / target`` and ``beta`` (paper: -0.07) (search-algorithm.md section 2.5):

* ``"abs"`` (paper eq. 6-8, TuNAS default): ``R = A + beta * |rho - 1|``;
* ``"mnas"``: ``R = A * rho^beta``;
* ``"mnas_hard"``: ``R = A * min(rho^beta, 1)``.

The cost is either one target's latency against a latency target ``L0`` (eq. 6: single
hardware) or the MN-Norm of the per-target latencies against target 1: the average (eq. 7,
``f_avg``) or the max (eq. 8, ``f_max``) of ``L_i / C_i`` over the targets, ``C_i`` the
reference model's latency on target ``i``, optionally re-weighted by hardware importance
(section 5.2, case 2). MN-Norm comes from :func:`mhzoo.benchmarks.normalization.mn_norm_scales`,
the same definitions as :func:`mhzoo.benchmarks.mn_norm_avg` / ``mn_norm_max``.

Latencies come from any ``cost_fn(masks)`` returning ``{target: latency tensor}`` (the per-target
cost models evaluated on the sampled masks; for a proxy search evaluate them on the deployment
decoding of the same decisions). The reward never differentiates the cost (REINFORCE).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import tensorflow as tf  # lazy: no TensorFlow at import time

from mhzoo.benchmarks.normalization import mn_norm_scales
from mhzoo.search.tunas.config import RewardName, parse_reward

__all__ = ["KINDS", "MODES", "CostObjective", "Reward", "RewardResult", "make_reward",
           "reward_from_cost"]

KINDS = ("abs", "mnas", "mnas_hard")
MODES = ("avg", "max", "single")
BETA = -0.07  # paper section 6.2 (TuNAS flag default: -0.10)


def _number(label: str, value: Any, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{label} must be a finite number, got {value!r}")
    if positive and value <= 0:
        raise ValueError(f"{label} must be > 0, got {value!r}")
    return float(value)


def reward_from_cost(accuracy: Any, cost: Any, target: float, *, beta: float = BETA,
                     kind: str = "abs") -> tf.Tensor:
    """``R(A, cost)`` of one of :data:`KINDS` with ``rho = cost / target``."""
    if kind not in KINDS:
        raise ValueError(f"unknown reward kind {kind!r}; expected one of {', '.join(KINDS)}")
    target = _number("the cost target", target, positive=True)
    beta = _number("beta", beta)
    a = tf.cast(accuracy, tf.float32)
    rho = tf.cast(cost, tf.float32) / target
    if kind == "abs":
        return a + beta * tf.abs(rho - 1.0)
    factor = tf.pow(rho, beta)
    if kind == "mnas_hard":
        factor = tf.minimum(factor, 1.0)
    return a * factor


class CostObjective:
    """Per-target latencies -> the scalar cost of the reward, and its target.

    Args:
        mode: ``"avg"`` (eq. 7), ``"max"`` (eq. 8) or ``"single"`` (eq. 6).
        targets: the hardware targets, in order.
        factors: ``{target: C_i}`` (the reference model's latency, ms) for avg / max.
        weights: optional ``{target: importance}`` (section 5.2, case 2; default 1 each).
        latency_target: ``L0`` (ms) for ``single`` (default: the target's factor when given).
    """

    def __init__(self, mode: str, targets: Sequence[str], *,
                 factors: Mapping[str, float] | None = None,
                 weights: Mapping[str, float] | None = None,
                 latency_target: float | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown reward mode {mode!r}; expected one of {', '.join(MODES)}")
        targets = [str(t) for t in targets]
        if not targets or len(set(targets)) != len(targets):
            raise ValueError(f"targets must be distinct names, got {targets!r}")
        self.mode, self.targets = mode, targets
        if mode == "single":
            if len(targets) != 1:
                raise ValueError(f"a single-hardware reward takes one target, got {targets!r}")
            if weights:
                raise ValueError("importance weights apply to avg / max rewards only")
            if latency_target is None:
                if not factors or targets[0] not in factors:
                    raise ValueError(f"single:{targets[0]} needs a latency target L0 (ms) or "
                                     f"the reference model's latency on {targets[0]}")
                latency_target = factors[targets[0]]
            self.target = _number("latency target L0", latency_target, positive=True)
            self.scales = {targets[0]: 1.0}
        else:
            if latency_target is not None:
                raise ValueError(f"{mode} rewards aim at MN-Norm 1; latency_target is for "
                                 "single-hardware rewards")
            if factors is None:
                raise ValueError(f"an {mode} reward needs the reference latency C_i of every "
                                 "target")
            missing = [t for t in targets if t not in factors]
            if missing:
                raise ValueError(f"no reference latency for target(s) {', '.join(missing)}")
            extra = sorted(set(factors) - set(targets))
            if extra:
                raise ValueError(f"reference latency for unknown target(s) {', '.join(extra)}")
            self.scales = mn_norm_scales({t: factors[t] for t in targets}, weights)
            self.target = 1.0

    def __call__(self, latencies: Mapping[str, Any] | Any) -> tf.Tensor:
        """The cost: MN-Norm avg / max, or the single target's latency."""
        lat = self.stack(latencies)
        scale = tf.constant([self.scales[t] for t in self.targets], tf.float32)
        terms = lat * scale
        if self.mode == "max":
            return tf.reduce_max(terms, axis=-1)
        if self.mode == "avg":
            return tf.reduce_sum(terms, axis=-1) / float(len(self.targets))
        return terms[..., 0]

    def stack(self, latencies: Mapping[str, Any] | Any) -> tf.Tensor:
        """``[..., num_targets]`` latencies in target order (from a dict or a tensor)."""
        if isinstance(latencies, Mapping):
            missing = [t for t in self.targets if t not in latencies]
            if missing:
                raise ValueError(f"the cost function gave no latency for target(s) "
                                 f"{', '.join(missing)}")
            return tf.stack([tf.cast(latencies[t], tf.float32) for t in self.targets], axis=-1)
        lat = tf.cast(latencies, tf.float32)
        if lat.shape.rank is None or lat.shape.rank == 0 or lat.shape[-1] != len(self.targets):
            raise ValueError(f"latencies must have a last axis of {len(self.targets)} targets, "
                             f"got shape {lat.shape}")
        return lat


@dataclass(frozen=True)
class RewardResult:
    """What one reward evaluation gives: ``reward``, the ``cost`` in it and the latencies."""

    reward: tf.Tensor
    cost: tf.Tensor
    latencies: dict[str, tf.Tensor]


class Reward:
    """``R(accuracy, masks)``: the cost function's latencies, the objective, the reward form.

    Args:
        cost_fn: ``cost_fn(masks) -> {target: latency}`` (or a ``[num_targets]`` tensor in the
            objective's target order).
        objective: a :class:`CostObjective`.
        beta: the cost exponent / slope (paper: -0.07).
        kind: one of :data:`KINDS`.
    """

    def __init__(self, cost_fn: Callable[[Any], Any], objective: CostObjective, *,
                 beta: float = BETA, kind: str = "abs") -> None:
        if not callable(cost_fn):
            raise ValueError("cost_fn must be callable: cost_fn(masks) -> {target: latency}")
        if kind not in KINDS:
            raise ValueError(f"unknown reward kind {kind!r}; expected one of {', '.join(KINDS)}")
        self.cost_fn, self.objective = cost_fn, objective
        self.beta, self.kind = _number("beta", beta), kind

    def cost(self, masks: Any) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
        """The objective's cost of ``masks`` and the per-target latencies (no gradient)."""
        lat = self.objective.stack(self.cost_fn(masks))
        lat = tf.stop_gradient(lat)
        per = {t: lat[..., i] for i, t in enumerate(self.objective.targets)}
        return self.objective(lat), per

    def from_latencies(self, accuracy: Any, latencies: Mapping[str, Any]) -> RewardResult:
        """The reward of already computed per-target latencies (``{target: [...]}``, every
        target of the objective; extra targets are ignored); works on batches: ``accuracy``
        ``[K]`` and latencies ``[K]`` give ``[K]`` rewards."""
        lat = tf.stop_gradient(self.objective.stack(latencies))
        per = {t: lat[..., i] for i, t in enumerate(self.objective.targets)}
        cost = self.objective(lat)
        r = reward_from_cost(accuracy, cost, self.objective.target, beta=self.beta,
                             kind=self.kind)
        return RewardResult(r, cost, per)

    def __call__(self, accuracy: Any, masks: Any) -> RewardResult:
        cost, per = self.cost(masks)
        r = reward_from_cost(accuracy, cost, self.objective.target, beta=self.beta,
                             kind=self.kind)
        return RewardResult(r, cost, per)


def make_reward(name: str | RewardName, cost_fn: Callable[[Any], Any], targets: Sequence[str], *,
                reference_ms: Mapping[str, float] | None = None,
                weights: Mapping[str, float] | None = None,
                latency_target: float | None = None, beta: float = BETA,
                kind: str = "abs") -> Reward:
    """A reward from its CLI name: ``"avg"`` (eq. 7), ``"max"`` (eq. 8) or ``"single:TARGET"``
    (eq. 6).

    ``targets`` are the targets with a cost model (avg / max use all of them; ``single`` picks
    one, which must be among them); ``reference_ms`` the reference model's latency per target.
    """
    targets = list(targets)
    parsed = parse_reward(name, targets)
    mode, which = parsed.mode, parsed.target
    if parsed.normalized:
        obj = CostObjective(mode, targets, factors=reference_ms, weights=weights,
                            latency_target=latency_target)
    else:
        assert which is not None
        factors = None if reference_ms is None else {
            t: v for t, v in reference_ms.items() if t == which}
        obj = CostObjective("single", [which], factors=factors, weights=weights,
                            latency_target=latency_target)
        inner = cost_fn

        def narrowed(masks: Any) -> dict[str, Any]:
            lat = inner(masks)
            if isinstance(lat, Mapping):
                if which not in lat:
                    raise ValueError(f"the cost function gave no latency for {which!r}")
                return {which: lat[which]}
            return {which: tf.cast(lat, tf.float32)[..., targets.index(which)]}

        return Reward(narrowed, obj, beta=beta, kind=kind)
    return Reward(cost_fn, obj, beta=beta, kind=kind)
