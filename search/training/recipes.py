"""Training recipes: the paper's ImageNet recipe (TuNAS ``mobile_train_eval``) and the CPU proxy.

A :class:`Recipe` is plain data (it is stored in ``run.json`` and in the final checkpoint's
``config.json``). :func:`learning_rate` is the one definition of the schedule: linear warm-up to
``base_lr x global_batch / 256``, then cosine decay to 0 (TuNAS, ../shared/reference/
search-algorithm.md section 5). :func:`apply_stride_plan` is the one place where a proxy stride
plan changes an architecture.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from mhzoo.search.training.splits import check_split_size
from mhzoo.spec import ArchSpec

__all__ = ["OPTIMIZERS", "PRESETS", "STRIDE_PLANS", "Recipe", "apply_stride_plan", "get_preset",
           "learning_rate", "parse_stride_plan", "tunas_dropout"]

OPTIMIZERS = ("rmsprop", "sgd")
AUGMENTATIONS = ("resnet", "small")


@dataclass(frozen=True)
class Recipe:
    """Everything that defines a training run besides the model and the data.

    Attributes:
        name: preset name (``"custom"`` once a field is overridden by hand is not tracked; the
            name says where the values started from).
        image_size: square training / evaluation resolution.
        global_batch: batch across all replicas (the LR scales with it).
        epochs: passes over the training split.
        optimizer: ``"rmsprop"`` (TuNAS: decay 0.9, momentum 0.9, eps 1.0) or ``"sgd"``
            (momentum, optionally Nesterov).
        base_lr: peak learning rate per 256 images; peak = ``base_lr * global_batch / 256``.
        warmup_epochs: linear warm-up length in epochs (TuNAS: 2.5 % of the steps).
        momentum, rho, epsilon, nesterov: optimizer settings.
        label_smoothing: cross-entropy label smoothing.
        weight_decay: L2 on conv / depthwise / dense kernels, added to the loss as
            ``weight_decay / 2 * sum(w ** 2)`` (TuNAS ``l2(wd / 2)``: gradient ``wd * w``).
        dropout: dropout before the classifier; ``None`` = TuNAS rule (:func:`tunas_dropout`).
        ema_decay: decay of the exponential moving average of the weights used for
            evaluation and the final checkpoint; 0 disables it.
        augmentation: ``"resnet"`` (random resized crop + flip; eval resize + centre crop) or
            ``"small"`` (pad-and-crop + flip for 32 px data; eval resize only).
        crop_fraction: evaluation centre-crop fraction for ``"resnet"`` (0.875 = 224 of 256).
        pad: padding of the ``"small"`` augmentation, in pixels.
        stride_plan: ``None`` (the architecture's own strides) or a named / explicit plan,
            see :data:`STRIDE_PLANS` and :func:`apply_stride_plan`.
        test: the test split (rule ``mhzoo.splits/v1``, :mod:`mhzoo.search.training.splits`):
            images carved (seeded by ``split_seed``) out of the training data, a fraction in
            (0, 1) or a count; the data's own evaluation split replaces it when there is one.
            Reported accuracy is measured on it; nothing selects or stops on it.
        search_valid: the search-validation split carved next (a fraction or a count; 0 for
            plain training): the search's controller reward (TuNAS ``l2l_valid``: 50,046
            ImageNet images) and anything that selects or stops early.
        split_seed: seed of the splits, independent of the run's seed (runs with other seeds
            share the test images).
        held_out: the old name of ``test`` (accepted as input; reads as ``test``).
        eval_every_epochs: test evaluation period.
        bn_momentum: batch-norm moving-average momentum override (``None`` = the spec's).
        notes: where the values come from, for humans.
    """

    name: str
    image_size: int
    global_batch: int
    epochs: float
    optimizer: str = "rmsprop"
    base_lr: float = 0.165
    warmup_epochs: float = 0.0
    warmup_fraction: float = 0.025
    momentum: float = 0.9
    rho: float = 0.9
    epsilon: float = 1.0
    nesterov: bool = False
    label_smoothing: float = 0.1
    weight_decay: float = 4e-5
    dropout: float | None = None
    ema_decay: float = 0.9999
    augmentation: str = "resnet"
    crop_fraction: float = 0.875
    pad: int = 4
    stride_plan: str | None = None
    test: float = 50000
    search_valid: float = 0
    split_seed: int = 0
    held_out: float | None = None
    eval_every_epochs: float = 1.0
    bn_momentum: float | None = None
    notes: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):  # 2 and 2.0 are the same recipe (run.json compares)
            v = getattr(self, f.name)
            if f.type in ("float", "float | None") and isinstance(v, int) and not isinstance(
                    v, bool):
                object.__setattr__(self, f.name, float(v))
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; expected one of "
                             f"{', '.join(OPTIMIZERS)}")
        if self.augmentation not in AUGMENTATIONS:
            raise ValueError(f"unknown augmentation {self.augmentation!r}; expected one of "
                             f"{', '.join(AUGMENTATIONS)}")
        for label, v, lo in (("image_size", self.image_size, 32),
                             ("global_batch", self.global_batch, 1)):
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ValueError(f"{label} must be an integer >= {lo}, got {v!r}")
        if not (isinstance(self.epochs, int | float) and self.epochs > 0):
            raise ValueError(f"epochs must be > 0, got {self.epochs!r}")
        if not (self.base_lr > 0):
            raise ValueError(f"base_lr must be > 0, got {self.base_lr!r}")
        if not (0 <= self.label_smoothing < 1):
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing!r}")
        if self.dropout is not None and not (0 <= self.dropout < 1):
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if not (0 <= self.ema_decay < 1):
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay!r}")
        if self.held_out is not None:  # the old name of ``test`` wins when given
            object.__setattr__(self, "test", self.held_out)
        object.__setattr__(self, "held_out", self.test)
        check_split_size("test", self.test)
        check_split_size("search-validation", self.search_valid, allow_zero=True)
        if isinstance(self.split_seed, bool) or not isinstance(self.split_seed, int):
            raise ValueError(f"split_seed must be an integer, got {self.split_seed!r}")
        if self.stride_plan is not None:
            parse_stride_plan(self.stride_plan)

    # -- derived values ---------------------------------------------------------------------
    @property
    def peak_lr(self) -> float:
        """``base_lr * global_batch / 256`` (TuNAS / Goyal et al. linear scaling)."""
        return self.base_lr * self.global_batch / 256

    @property
    def effective_dropout(self) -> float:
        """The dropout used: the explicit value, else the TuNAS rule for ``epochs``."""
        return tunas_dropout(self.epochs) if self.dropout is None else float(self.dropout)

    def warmup_steps(self, total_steps: int, steps_per_epoch: int) -> int:
        """Warm-up length in steps: ``warmup_epochs`` if set, else ``warmup_fraction`` of all."""
        if self.warmup_epochs > 0:
            return max(1, round(self.warmup_epochs * steps_per_epoch))
        return max(0, round(self.warmup_fraction * total_steps))

    def build_optimizer(self, learning_rate: Any, *, loss_scale: bool = False) -> Any:
        """The Keras optimizer of this recipe at ``learning_rate`` (a number or a callable
        schedule): RMSProp (``rho``, ``momentum``, ``epsilon``) or SGD (``momentum``,
        ``nesterov``), wrapped for loss scaling when asked (mixed float16)."""
        import keras  # function-level: recipes are plain data, read without TensorFlow

        if self.optimizer == "rmsprop":
            opt = keras.optimizers.RMSprop(learning_rate=learning_rate, rho=self.rho,
                                           momentum=self.momentum, epsilon=self.epsilon)
        else:
            opt = keras.optimizers.SGD(learning_rate=learning_rate, momentum=self.momentum,
                                       nesterov=self.nesterov)
        return keras.optimizers.LossScaleOptimizer(opt) if loss_scale else opt

    def replace(self, **changes: Any) -> Recipe:
        """A copy with some fields changed (``None`` values are ignored)."""
        changes = {k: v for k, v in changes.items() if v is not None}
        known = {f.name for f in dataclasses.fields(self)}
        bad = sorted(set(changes) - known)
        if bad:
            raise ValueError(f"unknown recipe field(s): {', '.join(bad)}")
        if "test" in changes and "held_out" in changes and changes["test"] != changes["held_out"]:
            raise ValueError("give the test split size as test or as held_out (its old name), "
                             "not both")
        if "held_out" not in changes:
            changes["held_out"] = None  # ``test`` (changed or kept) decides
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON)."""
        d = dataclasses.asdict(self)
        d.pop("held_out")  # the old name of ``test``
        d["peak_lr"] = self.peak_lr
        d["effective_dropout"] = self.effective_dropout
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Recipe:
        """Inverse of :meth:`to_dict`."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


def tunas_dropout(epochs: float, v3_like: bool = True) -> float:
    """TuNAS ``mobile_train_eval``: 0 under 150 epochs, else 0.25 (V3-like spaces, incl.
    Multi-AVG / MAX) or 0.15 (other spaces)."""
    if epochs <= 150:
        return 0.0
    return 0.25 if v3_like else 0.15


def learning_rate(step: Any, *, peak: float, warmup_steps: Any, total_steps: Any) -> Any:
    """Linear warm-up from 0 to ``peak`` over ``warmup_steps``, then cosine decay to 0 at
    ``total_steps`` (works on Python numbers and on TF tensors)."""
    try:
        import tensorflow as tf  # lazy: no TensorFlow at import time

        if any(isinstance(v, tf.Tensor | tf.Variable) for v in (step, warmup_steps,
                                                                 total_steps)):
            step = tf.cast(step, tf.float32)
            warm = tf.cast(warmup_steps, tf.float32)
            total = tf.cast(total_steps, tf.float32)
            warm_lr = peak * (step + 1.0) / tf.maximum(warm, 1.0)
            progress = tf.clip_by_value((step - warm) / tf.maximum(total - warm, 1.0), 0.0, 1.0)
            cos_lr = 0.5 * peak * (1.0 + tf.cos(math.pi * progress))
            return tf.where(step < warm, warm_lr, cos_lr)
    except ImportError:  # pragma: no cover - TF is a dependency
        pass
    if step < warmup_steps:
        return peak * (step + 1) / max(warmup_steps, 1)
    progress = min(max((step - warmup_steps) / max(total_steps - warmup_steps, 1), 0.0), 1.0)
    return 0.5 * peak * (1.0 + math.cos(math.pi * progress))


# ----------------------------------------------------------------------------- stride plans
#: Named stride plans. A plan lists the stride of every strided block of the architecture, in
#: order (stem first). ``proxy32``: stem stride 1, every later stride kept: total stride 16, so
#: a 32 px image ends on a 2 x 2 map instead of 1 x 1 (../shared/reference/
#: cifar10-proxy-notes.md: 60.6 % -> 79.6 % held-out top-1 for Multi-MAX at equal recipe).
STRIDE_PLANS = {"model": None, "proxy32": "stem1"}


def parse_stride_plan(plan: str) -> str | tuple[int, ...] | None:
    """``"model"`` / ``None``, ``"proxy32"`` / ``"stem1"``, or explicit ``"1,2,2,2,2"``."""
    if plan is None or plan == "model":
        return None
    plan = STRIDE_PLANS.get(plan, plan)
    if plan == "stem1":
        return "stem1"
    try:
        strides = tuple(int(s) for s in str(plan).split(","))
    except ValueError:
        raise ValueError(f"unknown stride plan {plan!r}; expected one of "
                         f"{', '.join(STRIDE_PLANS)} or comma-separated strides such as "
                         "'1,2,2,2,2'") from None
    if not strides or any(s < 1 for s in strides):
        raise ValueError(f"stride plan {plan!r} needs strides >= 1")
    return strides


def apply_stride_plan(spec: ArchSpec, plan: str | None) -> ArchSpec:
    """``spec`` with the strides of its strided blocks replaced by ``plan``.

    Only strides change: every block keeps its kernel, widths, expansion, activation, SE and
    residual flag (a stride-1 block whose input and output widths match gains no residual: the
    spec's ``residual`` flag is kept and the builder adds the skip only where shapes allow, as
    for any stride-1 block). The name stays the same, so a checkpoint trained with a plan loads
    with ``mhzoo.build(name, weights=DIR)``; the plan is recorded in the checkpoint's recipe.
    """
    parsed = parse_stride_plan(plan) if plan is not None else None
    if parsed is None:
        return spec
    strided = [i for i, b in enumerate(spec.blocks) if getattr(b, "stride", 1) > 1]
    if parsed == "stem1":  # the stem at stride 1 (already so in a checkpoint trained with it)
        new = {0: 1}
    else:
        if len(parsed) != len(strided):
            raise ValueError(f"stride plan {plan!r} gives {len(parsed)} strides but "
                             f"{spec.name} has {len(strided)} strided blocks")
        new = dict(zip(strided, parsed))
    blocks = tuple(dataclasses.replace(b, stride=new[i]) if i in new else b
                   for i, b in enumerate(spec.blocks))
    return spec.replace(blocks=blocks)


# ----------------------------------------------------------------------------- presets
PRESETS: dict[str, Recipe] = {
    # The paper / TuNAS stand-alone recipe (search-algorithm.md section 5, paper section 7.1):
    # RMSProp(0.9, 0.9, eps 1.0), 0.165 x B / 256 with 2.5 % linear warm-up then cosine,
    # label smoothing 0.1, wd 4e-5, 360 epochs at global batch 4096, dropout 0.25 (> 150
    # epochs), EMA for evaluation (0.9999, TF Model Garden ImageNet MobileNet configs).
    "imagenet": Recipe(
        name="imagenet", image_size=224, global_batch=4096, epochs=360, optimizer="rmsprop",
        base_lr=0.165, warmup_fraction=0.025, label_smoothing=0.1, weight_decay=4e-5,
        dropout=None, ema_decay=0.9999, augmentation="resnet", test=50000, search_valid=0,
        notes="paper section 7.1 / TuNAS mobile_train_eval with --use_held_out_test_set"),
    # CPU proxy on the 2-core machine (../shared/data/cifar10, 45,000 / 5,000 split). Deviates
    # from the ImageNet recipe where the measured notes (cifar10-proxy-notes.md) justify it:
    # SGD Nesterov 0.9 at peak 0.2 for batch 128 (= 0.4 per 256), half an epoch of warm-up,
    # weight decay 5e-4 (CIFAR scale; 4e-5 under-regularises 45k images), EMA 0.999 (0.9999
    # would average over ~28 epochs of a 25-epoch run), dropout 0.1 (notes); label smoothing
    # 0.1 kept from the paper. Stride plan proxy32: stem stride 1 (the notes' biggest win).
    "cifar10-proxy": Recipe(
        name="cifar10-proxy", image_size=32, global_batch=128, epochs=24, optimizer="sgd",
        base_lr=0.4, warmup_epochs=0.5, momentum=0.9, nesterov=True, label_smoothing=0.1,
        weight_decay=5e-4, dropout=0.1, ema_decay=0.999, augmentation="small", pad=4,
        stride_plan="proxy32", test=5000, search_valid=0,
        notes="CPU proxy: cifar10-proxy-notes.md SGD-nesterov starting point, stem stride 1"),
}


def get_preset(name: str) -> Recipe:
    """The preset ``name``; ``ValueError`` naming the known ones otherwise."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; expected one of {', '.join(PRESETS)}")
    return PRESETS[name]
