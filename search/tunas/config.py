"""Search settings as plain data: :class:`SearchConfig`, the presets ``cpu-proxy`` and
``imagenet-tpu``, and the reward's name (:func:`parse_reward`) (pure Python, no TensorFlow).

A config fixes everything of a search besides the space, the reward, the cost models and the
data: the proxy decoding the supernet is trained at (input size, stem stride, width), the
shared-weight recipe (a :class:`mhzoo.search.training.recipes.Recipe`: optimizer, learning-rate
schedule, label smoothing, weight decay, augmentation, held-out split: the one definition the
standalone training loop uses too), the batch, the length, and the controller settings
(search-algorithm.md sections 2 and 5). The cost is always that of the deployment decoding (the
cost models' own space options), so one genotype has two decodings.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mhzoo.search.training.recipes import Recipe

__all__ = ["PRESETS", "RewardName", "SearchConfig", "get_search_preset", "parse_reward"]


@dataclass(frozen=True)
class SearchConfig:
    """Everything that defines a search run besides space, reward, cost models and data.

    Attributes:
        name: preset name.
        shared: the shared-weight recipe (optimizer, ``base_lr`` per 256 images, warm-up
            fraction, cosine decay, label smoothing, weight decay on the sampled path,
            augmentation, ``held_out``: the RL validation split carved from the training data).
        proxy: space options of the supernet's decoding (``input_size``, ``stem_stride``,
            ``width``, ``strides``, ``width_divisor``); structural options come from the cost
            models.
        global_batch: training images per step across replicas (``None``: per replica).
        per_replica_batch: training images per replica (the paper: 128 per TPU core).
        rl_batch_multiplier: the RL validation batch is this many times the training batch
            (TuNAS: 4).
        epochs: search length in passes over the training split (when ``steps`` is unset).
        steps: search length in steps (overrides ``epochs``).
        rl_lr_per_256: controller Adam learning rate per 256 training images (TuNAS 3e-4); it
            rises 10x over the search after the delay.
        delay_fraction: RL frozen for this share of the steps (TuNAS 0.25, the paper 0.5).
        op_warmup_fraction, filters_warmup_fraction: warm-up lengths (<= delay).
        entropy_weight: lambda_H (TuNAS 0).
        beta: reward slope (paper -0.07).
        reward_kind: ``abs`` (paper eq. 6-8), ``mnas`` or ``mnas_hard``.
        checkpoint_every: steps between checkpoints.
        log_every: steps between TensorBoard scalars.
        notes: where the values come from.
    """

    name: str
    shared: Recipe
    proxy: dict[str, Any] = field(default_factory=dict)
    global_batch: int | None = 64
    per_replica_batch: int | None = None
    rl_batch_multiplier: int = 4
    epochs: float = 90.0
    steps: int | None = None
    rl_lr_per_256: float = 3e-4
    delay_fraction: float = 0.25
    op_warmup_fraction: float = 0.25
    filters_warmup_fraction: float = 0.25
    entropy_weight: float = 0.0
    beta: float = -0.07
    reward_kind: str = "abs"
    checkpoint_every: int = 100
    log_every: int = 10
    notes: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if (self.global_batch is None) == (self.per_replica_batch is None):
            raise ValueError("give exactly one of global_batch and per_replica_batch")
        for label, v in (("global_batch", self.global_batch),
                         ("per_replica_batch", self.per_replica_batch),
                         ("steps", self.steps)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise ValueError(f"{label} must be an integer >= 1, got {v!r}")
        for label, v in (("rl_batch_multiplier", self.rl_batch_multiplier),
                         ("checkpoint_every", self.checkpoint_every),
                         ("log_every", self.log_every)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{label} must be an integer >= 1, got {v!r}")
        if not (isinstance(self.epochs, int | float) and math.isfinite(self.epochs)
                and self.epochs > 0):
            raise ValueError(f"epochs must be > 0, got {self.epochs!r}")
        if not (isinstance(self.rl_lr_per_256, int | float) and self.rl_lr_per_256 >= 0):
            raise ValueError(f"rl_lr_per_256 must be >= 0, got {self.rl_lr_per_256!r}")

    def batch(self, replicas: int) -> int:
        """The global training batch for ``replicas`` replicas."""
        if self.per_replica_batch is not None:
            return self.per_replica_batch * replicas
        assert self.global_batch is not None
        if self.global_batch % replicas:
            raise ValueError(f"global batch {self.global_batch} is not divisible by the "
                             f"{replicas} replicas")
        return self.global_batch

    def total_steps(self, n_train: int, global_batch: int) -> int:
        """``steps`` or ``ceil(epochs * n_train / global_batch)``."""
        if self.steps is not None:
            return self.steps
        return max(1, math.ceil(self.epochs * n_train / global_batch))

    def rl_learning_rate(self, global_batch: int) -> float:
        """Controller base learning rate at this batch (TuNAS ``3e-4 * B / 256``)."""
        return self.rl_lr_per_256 * global_batch / 256

    def replace(self, **changes: Any) -> SearchConfig:
        """A copy with fields changed (``None`` values ignored; ``shared`` / ``proxy`` as dicts
        of their own changes)."""
        changes = {k: v for k, v in changes.items() if v is not None}
        known = {f.name for f in dataclasses.fields(self)}
        bad = sorted(set(changes) - known)
        if bad:
            raise ValueError(f"unknown search setting(s): {', '.join(bad)}")
        if isinstance(changes.get("shared"), dict):
            changes["shared"] = self.shared.replace(**changes["shared"])
        if isinstance(changes.get("proxy"), dict):
            changes["proxy"] = {**self.proxy, **changes["proxy"]}
        if "per_replica_batch" in changes:  # one of the two batch forms
            changes["global_batch"] = None
        elif "global_batch" in changes:
            changes["per_replica_batch"] = None
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (``run.json`` and ``search_result.json``)."""
        d = dataclasses.asdict(self)
        d["shared"] = self.shared.to_dict()
        d["proxy"] = {k: list(v) if isinstance(v, tuple) else v for k, v in self.proxy.items()}
        return d


PRESETS: dict[str, SearchConfig] = {
    # CPU proxy on the 2-core machine: CIFAR-10 (../shared/data/cifar10), 32 px with the stem at
    # stride 1 (the cifar10-proxy training recipe's stride plan, so the retrained proxy is the
    # same network); the shared-weight optimizer is the cifar10-proxy recipe's (SGD Nesterov,
    # label smoothing 0.1 as in TuNAS). Sized from measured step times of the full space on this
    # machine at load ~6 (width 0.5, batch 64: first step ~160-290 s of tracing, one-path steps
    # ~7 s, op warm-up steps 25-40 s since uniform op masks run all four branches per layer):
    # width 0.25, batch 32, a short op warm-up (10 %) and 600 steps aim at ~45 minutes. TuNAS's
    # RL learning rate (3e-4 per 256) moves Adam logits by ~lr per step, nothing over ~450 RL
    # steps, so it is scaled to 0.128 per 256 (0.016 at batch 32, rising 10x to 0.16).
    # The proxy rounds its widths to multiples of 8 (``width_divisor``; the deployment decoding
    # and the cost models keep 32): at width 0.25 with multiples of 32, 21 of the 64 decisions
    # had choices that decode to the same proxy network (stage 3's four widths all to 32
    # channels), so the supernet could not tell them apart; with 8 none does
    # (tests/search/space/test_proxy_distinct.py).
    "cpu-proxy": SearchConfig(
        name="cpu-proxy",
        shared=Recipe(name="cpu-proxy-search", image_size=32, global_batch=32, epochs=1.0,
                      optimizer="sgd", base_lr=0.4, warmup_fraction=0.025, momentum=0.9,
                      nesterov=True, label_smoothing=0.1, weight_decay=5e-4, dropout=0.0,
                      ema_decay=0.0, augmentation="small", pad=4, held_out=5000),
        proxy={"input_size": 32, "stem_stride": 1, "width": 0.25, "width_divisor": 8},
        global_batch=32, rl_batch_multiplier=2, steps=600, rl_lr_per_256=0.128,
        delay_fraction=0.25, op_warmup_fraction=0.1, filters_warmup_fraction=0.25,
        checkpoint_every=50, log_every=10,
        notes="CPU proxy: CIFAR-10 32 px stem stride 1, width 0.25 supernet, ~45 min on 2 cores"),
    # The paper's search (section 7.1): TuNAS on ImageNet at 224 px, Cloud TPU v2-32 with 128
    # images per core; the per-core learning rate halved from 0.0825 to 0.04125 (0.0825 per 256
    # images), RL delay 50 % (op / filter warm-up stay at TuNAS's 25 %), 360 epochs instead of
    # 90. Shared weights: RMSProp (0.9, 0.9, eps 1.0), 2.5 % warm-up then cosine, wd 4e-5,
    # label smoothing 0.1; RL: Adam 3e-4 x B / 256, validation batch 4 x B on l2l_valid
    # (50,046 images held out of train) (search-algorithm.md section 5).
    "imagenet-tpu": SearchConfig(
        name="imagenet-tpu",
        shared=Recipe(name="imagenet-tpu-search", image_size=224, global_batch=4096,
                      epochs=360, optimizer="rmsprop", base_lr=0.0825, warmup_fraction=0.025,
                      momentum=0.9, rho=0.9, epsilon=1.0, label_smoothing=0.1,
                      weight_decay=4e-5, dropout=0.0, ema_decay=0.0, augmentation="resnet",
                      held_out=50046),
        proxy={"input_size": 224},
        global_batch=None, per_replica_batch=128, rl_batch_multiplier=4, epochs=360.0,
        rl_lr_per_256=3e-4, delay_fraction=0.5, op_warmup_fraction=0.25,
        filters_warmup_fraction=0.25, checkpoint_every=1000, log_every=100,
        notes="paper section 7.1 / TuNAS mobile_architecture_search on Cloud TPU v2-32"),
}


def get_search_preset(name: str) -> SearchConfig:
    """The preset ``name``; ``ValueError`` naming the known ones otherwise."""
    if name not in PRESETS:
        raise ValueError(f"unknown search preset {name!r}; expected one of "
                         f"{', '.join(PRESETS)}")
    return PRESETS[name]


@dataclass(frozen=True)
class RewardName:
    """A parsed reward name: ``mode`` ``"avg"`` (eq. 7), ``"max"`` (eq. 8) or ``"single"``
    (eq. 6, with its ``target``)."""

    mode: str
    target: str | None = None

    @property
    def name(self) -> str:
        """The CLI form (``avg``, ``max``, ``single:cpu_int8``)."""
        return self.mode if self.target is None else f"{self.mode}:{self.target}"

    @property
    def normalized(self) -> bool:
        """MN-Norm avg / max (needs the factors ``C_i`` of every target)."""
        return self.mode in ("avg", "max")

    def __str__(self) -> str:
        return self.name


def parse_reward(name: Any, targets: Sequence[str] | None = None) -> RewardName:
    """``"avg"`` / ``"max"`` / ``"single:TARGET"`` -> :class:`RewardName` (the one parser of
    reward names); with ``targets``, a single target must be among them."""
    if isinstance(name, RewardName):
        parsed = name
    else:
        if not isinstance(name, str) or not name:
            raise ValueError(f"reward must be avg, max or single:TARGET, got {name!r}")
        mode, sep, which = name.partition(":")
        if mode in ("avg", "max") and not sep:
            parsed = RewardName(mode)
        elif mode == "single" and which:
            parsed = RewardName("single", which)
        else:
            raise ValueError(f"unknown reward {name!r}; expected avg, max or single:TARGET")
    if targets is not None and parsed.target is not None and parsed.target not in targets:
        raise ValueError(f"reward {parsed.name!r} names target {parsed.target!r}, which has no "
                         f"cost model; targets with one: {', '.join(targets)}")
    return parsed
