"""What a search is asked to do: :class:`SearchRequest` (checked once when it is made, the reward
parsed once) and :func:`prepare_search`, which checks it against the files it names (cost
models, reference latencies, data) before anything is written or any graph is built.

``mhzoo search run`` and ``mhzoo regenerate`` build the request; :func:`run_search`
(:mod:`mhzoo.search.tunas.loop`) takes it. Pure Python at import time.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mhzoo.search.cost.folder import load_cost_models, model_digest, read_reference
from mhzoo.search.space import Space, get_space
from mhzoo.search.training import sources
from mhzoo.search.training import splits as splits_lib
from mhzoo.search.tunas.config import RewardName, SearchConfig, get_search_preset, parse_reward

__all__ = ["PreparedSearch", "SearchRequest", "check_split_record", "prepare_search",
           "simulated_targets"]


def _positive(label: str, value: Any, *, integer: bool = False) -> None:
    if value is None:
        return
    if integer:
        ok = not isinstance(value, bool) and isinstance(value, int) and value >= 1
        want = "an integer >= 1"
    else:
        ok = (not isinstance(value, bool) and isinstance(value, int | float)
              and math.isfinite(value) and value > 0)
        want = "a number > 0"
    if not ok:
        raise ValueError(f"{label} must be {want}, got {value!r}")


def _per_target(label: str, values: Mapping[str, Any] | None) -> dict[str, float] | None:
    if values is None:
        return None
    out = {}
    for t, v in dict(values).items():
        _positive(f"{label} of {t!r}", v)
        out[str(t)] = float(v)
    return out


@dataclass(frozen=True)
class SearchRequest:
    """A TuNAS search.

    Attributes:
        reward: ``"avg"`` (eq. 7), ``"max"`` (eq. 8) or ``"single:TARGET"`` (eq. 6); parsed
            once into :attr:`objective`.
        cost_models: a folder (or files) of linear cost models, one per target.
        data: TFRecord shard folder, image-folder tree or ``DataSource``.
        out_dir: run folder (new, empty, or this search's own folder to resume); not needed
            by :func:`prepare_search`.
        space, space_options: the search space (structural options must match the cost
            models'; the decodings come from the cost models and the preset's ``proxy``).
        preset: ``"cpu-proxy"``, ``"imagenet-tpu"`` or a :class:`SearchConfig`.
        overrides: :class:`SearchConfig` fields to change (``steps``, ``global_batch`` ...;
            ``shared`` / ``proxy`` as dicts); the result is :attr:`config`.
        factors: MN-Norm factors ``C_i`` (ms; default the cost folder's reference_ms.json).
        latency_target: ``L0`` (ms) of a single-hardware reward (default: ``C_i``).
        mn_norm_target: MN-Norm target of avg / max rewards (the paper: 1); a single:TARGET
            reward without ``latency_target`` aims at ``mn_norm_target x C_TARGET``.
        weights: per-target importance (section 5.2, case 2).
        strategy: ``default`` / ``mirrored`` / ``multi_worker`` / ``tpu`` or a strategy.
        tpu: TPU name or address.
        seed: controller sampling, supernet initial weights and data order (the splits have
            their own seed, the preset's ``shared.split_seed``).
        limit_train, limit_held_out: use only that many training / search-validation images
            (tests, tiny runs).
        max_steps: stop (resumably) after this step without finishing.
        deterministic: ``enable_op_determinism`` (bitwise-equal resumes).
        progress: tqdm bar on stderr.
        plots: write the probability and architecture PNGs at the end.
        on_step: callback ``f(step)`` after every step (tests).
    """

    reward: str | RewardName
    cost_models: tuple[str | os.PathLike, ...] | str | os.PathLike
    data: Any
    out_dir: str | os.PathLike | None = None
    space: str = "multi_hardware"
    space_options: Mapping[str, Any] | None = None
    preset: str | SearchConfig = "cpu-proxy"
    overrides: Mapping[str, Any] | None = None
    factors: Mapping[str, float] | None = None
    latency_target: float | None = None
    mn_norm_target: float = 1.0
    weights: Mapping[str, float] | None = None
    strategy: Any = "default"
    tpu: str | None = None
    seed: int = 0
    limit_train: int | None = None
    limit_held_out: int | None = None
    max_steps: int | None = None
    deterministic: bool = False
    progress: bool = True
    plots: bool = True
    on_step: Callable[[int], None] | None = field(default=None, compare=False, repr=False)
    objective: RewardName = field(init=False, compare=False, repr=False)
    config: SearchConfig = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "objective", parse_reward(self.reward))
        object.__setattr__(self, "reward", self.objective.name)
        base = self.preset if isinstance(self.preset, SearchConfig) else \
            get_search_preset(self.preset)
        object.__setattr__(self, "config",
                           base.replace(**dict(self.overrides)) if self.overrides else base)
        cm = self.cost_models
        object.__setattr__(self, "cost_models", (cm,) if isinstance(cm, str | os.PathLike)
                           else tuple(cm))
        if not self.cost_models:
            raise ValueError("give the cost models (a folder of linear models, one per target)")
        object.__setattr__(self, "factors", _per_target("MN-Norm factor", self.factors))
        object.__setattr__(self, "weights", _per_target("hardware weight", self.weights))
        _positive("the MN-Norm target", self.mn_norm_target)
        _positive("the latency target", self.latency_target)
        for label, v in (("limit_train", self.limit_train),
                         ("limit_held_out", self.limit_held_out), ("max_steps", self.max_steps)):
            _positive(label, v, integer=True)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"seed must be an integer, got {self.seed!r}")
        if self.latency_target is not None and self.objective.normalized:
            raise ValueError(f"{self.reward} rewards aim at an MN-Norm target "
                             "(--mn-norm-target); --latency-target is for single:TARGET rewards")
        if self.latency_target is not None and self.mn_norm_target != 1.0:
            raise ValueError("give a single:TARGET reward's aim as --latency-target (ms) or as "
                             "--mn-norm-target (x its MN-Norm factor), not both")


@dataclass
class PreparedSearch:
    """A :class:`SearchRequest` checked against its files: what :func:`run_search` runs."""

    request: SearchRequest
    space: Space  # the proxy decoding the supernet trains
    deploy_space: Space  # the cost models' decoding
    models: dict[str, Any]
    factors: dict[str, float] | None
    source: Any
    splits: Any  # mhzoo.search.training.splits.Splits
    n_train: int
    n_valid: int

    @property
    def train_mask(self) -> np.ndarray:
        """The shared weights' training split (``splits.train``)."""
        return self.splits.train

    @property
    def valid_mask(self) -> np.ndarray:
        """The controller's reward split (``splits.search_valid``); the test split is never
        opened by a search."""
        return self.splits.search_valid

    @property
    def config(self) -> SearchConfig:
        """The search settings."""
        return self.request.config

    @property
    def limits(self) -> tuple[int | None, int | None]:
        """``(limit_train, limit_held_out)``."""
        return self.request.limit_train, self.request.limit_held_out

    @property
    def single_target_ms(self) -> float | None:
        """An eq. 6 reward's aim ``L0`` (ms): ``latency_target``, else ``mn_norm_target x C_T``
        (``None`` for avg / max rewards, or without the target's factor)."""
        r = self.request
        which = r.objective.target
        if which is None:
            return None
        if r.latency_target is not None:
            return float(r.latency_target)
        factor = (self.factors or {}).get(which)
        return None if factor is None else factor * float(r.mn_norm_target)

    def make_reward(self, cost: Any) -> Any:
        """The reward over the in-graph ``cost`` (imports TensorFlow)."""
        from mhzoo.search.tunas.rewards import make_reward  # function-level: TensorFlow

        r = self.request
        ref = None if self.factors is None else {
            t: v * r.mn_norm_target for t, v in self.factors.items()}
        which = r.objective.target
        if which is not None:
            ref = None if ref is None or which not in ref else {which: ref[which]}
        return make_reward(r.objective, cost, cost.targets, reference_ms=ref, weights=r.weights,
                           latency_target=r.latency_target, beta=r.config.beta,
                           kind=r.config.reward_kind)

    def record(self, replicas: int, global_batch: int, total_steps: int) -> dict[str, Any]:
        """The request as ``run.json`` records it (what a resumed run must match)."""
        r = self.request

        def plain(options: Mapping[str, Any]) -> dict[str, Any]:
            return {k: list(v) if isinstance(v, tuple) else v for k, v in options.items()}

        reward: dict[str, Any] = {"name": r.reward, "mn_norm_target": r.mn_norm_target,
                                  "latency_target": r.latency_target, "weights": r.weights}
        if r.objective.target is not None and r.latency_target is None \
                and r.mn_norm_target != 1.0:
            # an eq. 6 search aimed at mn_norm_target x C_T (before that rule, at C_T): the
            # effective aim is part of the identity, so an older folder is refused, not re-aimed
            reward["target_ms"] = self.single_target_ms
        return {
            "space": self.space.name, "space_options": plain(self.space.options),
            "deploy_options": plain(self.deploy_space.options),
            "reward": reward,
            "targets": list(self.models), "cost_models": model_digest(self.models),
            "factors": self.factors,
            "data": {"root": self.source.root, "kind": self.source.kind,
                     "num_examples": self.source.num_examples, "limit_train": r.limit_train,
                     "limit_held_out": r.limit_held_out},
            "splits": self.splits.describe(),
            "config": r.config.to_dict(), "seed": r.seed, "replicas": replicas,
            "global_batch": global_batch, "total_steps": total_steps,
        }


def prepare_search(request: SearchRequest | None = None, **fields: Any) -> PreparedSearch:
    """Check every input of a search against its files (no TensorFlow graph, nothing written);
    ``ValueError`` (one line) on the first bad one. Takes a :class:`SearchRequest` or its
    fields."""
    r = request if request is not None else SearchRequest(**fields)
    if request is not None and fields:
        raise ValueError("give a SearchRequest alone, or its fields")
    config = r.config
    base = get_space(r.space, **dict(r.space_options or {}))
    models = load_cost_models(list(r.cost_models), base)
    targets = list(models)
    parse_reward(r.objective, targets)  # a single target must have a cost model
    deploy = next(iter(models.values())).space
    proxy = deploy.variant(**config.proxy) if config.proxy else deploy
    for key in proxy.STRUCTURAL:
        if proxy.options.get(key) != base.options.get(key):
            raise ValueError(f"space option {key}={base.options.get(key)!r} differs from the "
                             f"cost models' {key}={proxy.options.get(key)!r}")
    factors = r.factors if r.factors is not None else _reference_factors(r.cost_models, models)
    if factors is not None:
        missing = [t for t in targets if t not in factors]
        if missing and r.objective.normalized:
            raise ValueError(f"no MN-Norm factor (reference latency) for target(s) "
                             f"{', '.join(missing)}")
        factors = {t: factors[t] for t in targets if t in factors}
    elif r.objective.normalized:
        raise ValueError(f"the {r.reward} reward needs the MN-Norm factors C_i (the reference "
                         "model's latency per target): give --norm-factors "
                         + ",".join(f"{t}=MS" for t in targets)
                         + " or put reference_ms.json beside the cost models")
    if r.weights is not None:
        extra = sorted(set(r.weights) - set(targets))
        if extra:
            raise ValueError(f"hardware weight for target(s) without a cost model: "
                             f"{', '.join(extra)}")
    if r.objective.target is not None and r.latency_target is None and not (
            factors and r.objective.target in factors):
        raise ValueError(f"reward {r.reward} needs a latency target (--latency-target MS) or "
                         "the reference latency of that target")
    source = r.data if isinstance(r.data, sources.DataSource) else sources.open_data(r.data)
    if source.num_classes < 2:
        raise ValueError(f"data {source.root} has {source.num_classes} class; the search needs "
                         "at least 2")
    sh = config.shared
    if not sh.search_valid:
        raise ValueError(f"the {config.name} preset has no search-validation split "
                         "(shared.search_valid): the controller's reward needs one")
    try:
        splits = splits_lib.splits_for(source, sh.test, sh.search_valid, sh.split_seed)
    except ValueError:
        raise ValueError(f"data {source.root} has {source.num_examples} images, too few for "
                         f"the {config.name} preset's splits (test {sh.test:g} and "
                         f"search-validation {sh.search_valid:g} images, and training images "
                         "beside them): give a larger data set") from None
    n_train, n_valid = int(splits.train.sum()), int(splits.search_valid.sum())
    if r.limit_train is not None:
        n_train = min(n_train, r.limit_train)
    if r.limit_held_out is not None:
        n_valid = min(n_valid, r.limit_held_out)
    if n_train < 1 or n_valid < 1:
        raise ValueError(f"data {source.root} leaves {n_train} training and {n_valid} held-out "
                         "images; the search needs both")
    return PreparedSearch(r, proxy, deploy, models, factors, source, splits, n_train, n_valid)


def check_split_record(prepared: PreparedSearch, record: Mapping[str, Any] | None) -> None:
    """A resumed search's recorded splits (``run.json``'s ``request.splits``) against its data
    now (:func:`mhzoo.search.training.splits.check_record`); one-line ``ValueError``."""
    if not isinstance(record, Mapping) or "splits" not in record:
        return  # a run folder from before the splits were recorded: the request check decides
    own = getattr(prepared.source, "eval_source", None)
    splits_lib.check_record(dict(record["splits"]), prepared.source.num_examples,
                            own_test=None if own is None else own.num_examples,
                            own_test_digest=None if own is None else own.digest())


def _reference_factors(cost_models: Sequence[Any], models: Mapping[str, Any]
                       ) -> dict[str, float] | None:
    """MN-Norm factors from the ``reference_ms.json`` of *every* cost-model folder given, or of
    the folder of a cost-model file given (the targets with a model); ``ValueError`` (one line)
    when two folders give one target two reference latencies."""
    factors: dict[str, float] = {}
    where: dict[str, str] = {}
    folders = dict.fromkeys(Path(s) if Path(s).is_dir() else Path(s).parent for s in cost_models)
    for src in folders:
        ref = read_reference(src)
        if ref is None:
            continue
        for t, v in ref["factors_ms"].items():
            if t not in models:
                continue
            v = float(v)
            if t in factors and not math.isclose(factors[t], v, rel_tol=1e-9):
                raise ValueError(f"the cost-model folders disagree on the reference latency of "
                                 f"{t}: {where[t]} says {factors[t]:g} ms, {src} says {v:g} ms")
            factors[t], where[t] = v, str(src)
    return factors or None


def simulated_targets(models: Mapping[str, Any]) -> list[str]:
    """The targets whose cost model is a simulated target's exact model (``info.simulated``),
    so outputs can label their latencies as simulated."""
    return [t for t, m in models.items() if (getattr(m, "info", None) or {}).get("simulated")]
