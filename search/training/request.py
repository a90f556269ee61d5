"""What a training run is asked to do: :class:`TrainRequest`, checked once when it is made.

``mhzoo train`` builds one from its options; :func:`mhzoo.search.training.loop.train` takes it
(or the same fields as keywords). Every value is validated here, before any data is read or
any model is built: a bad one is a one-line ``ValueError``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mhzoo.search.training.recipes import Recipe, get_preset

__all__ = ["MIXED_PRECISION", "TrainRequest"]

MIXED_PRECISION = ("auto", "on", "off")
STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")


def _positive_int(label: str, value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"{label} must be an integer >= 1, got {value!r}")


def _positive_number(label: str, value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                              or not math.isfinite(value) or value <= 0):
        raise ValueError(f"{label} must be a number > 0, got {value!r}")


@dataclass(frozen=True)
class TrainRequest:
    """A training (or fine-tuning) run.

    Attributes:
        model: registered name, ``ArchSpec`` or spec JSON file.
        data: TFRecord shard folder, image-folder tree, ``tfds:NAME`` or a ``DataSource``.
        out_dir: run folder (new, empty, or this run's own folder to resume).
        preset: ``"imagenet"``, ``"cifar10-proxy"`` or a :class:`Recipe`.
        overrides: recipe fields to change (``epochs``, ``base_lr``, ``image_size`` ...;
            ``None`` values are ignored).
        width, divisible_by: as :func:`mhzoo.build`.
        weights: checkpoint (or run folder) to fine-tune from; another class count gets a new
            classifier.
        num_classes: default: the data's class count (must match it).
        freeze_backbone: train only the classifier.
        labels_file: ``labels.txt`` for the data (default: the data's own).
        strategy: ``default`` / ``mirrored`` / ``multi_worker`` / ``tpu`` or a strategy object.
        tpu: TPU name or address for ``strategy="tpu"``.
        per_replica_batch: give the batch per replica instead (global = this x replicas; the
            learning rate follows the global batch).
        seed: seeds the data order and augmentation, the initial weights and dropout (the
            splits have their own seed, the recipe's ``split_seed``).
        final_train: train on ``final_train`` (train + search_valid: the retraining of a
            searched model) instead of ``train``; never on ``test``.
        checkpoint_every: steps between checkpoints (default: every evaluation and every
            ``checkpoint_minutes``).
        max_steps: stop (resumably) after this global step, without finishing the run.
        time_budget: seconds for the whole run (restarts included, > 0): after a short timing
            the total step count is fixed so that training and evaluation fit.
        limit_train, limit_held_out: use only that many images of the training and the test
            split (tests).
        cache: keep the encoded training images in memory.
        mixed_precision: ``auto`` (on GPUs / TPUs), ``on`` or ``off``.
        sync_bn: synchronized batch norm across replicas.
        log_every: steps between logged training scalars.
        progress: tqdm bar on stderr.
        deterministic: ``tf.config.experimental.enable_op_determinism()`` (bitwise resumes).
        on_step: callback ``f(step)`` after every step (tests).
    """

    model: Any
    data: Any
    out_dir: str | os.PathLike
    preset: str | Recipe = "cifar10-proxy"
    overrides: Mapping[str, Any] | None = None
    width: float | None = None
    divisible_by: int | None = None
    weights: str | os.PathLike | None = None
    num_classes: int | None = None
    freeze_backbone: bool = False
    labels_file: str | os.PathLike | None = None
    strategy: Any = "default"
    tpu: str | None = None
    per_replica_batch: int | None = None
    seed: int = 0
    final_train: bool = False
    checkpoint_every: int | None = None
    checkpoint_minutes: float = 10.0
    max_steps: int | None = None
    time_budget: float | None = None
    limit_train: int | None = None
    limit_held_out: int | None = None
    cache: bool = False
    mixed_precision: str = "auto"
    sync_bn: bool = False
    log_every: int = 50
    progress: bool = True
    deterministic: bool = False
    on_step: Callable[[int], None] | None = field(default=None, compare=False, repr=False)
    recipe: Recipe = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        base = self.preset if isinstance(self.preset, Recipe) else get_preset(self.preset)
        object.__setattr__(self, "recipe", base.replace(**dict(self.overrides or {})))
        for label, v in (("divisible_by", self.divisible_by), ("num_classes", self.num_classes),
                         ("per_replica_batch", self.per_replica_batch),
                         ("checkpoint_every", self.checkpoint_every),
                         ("max_steps", self.max_steps), ("limit_train", self.limit_train),
                         ("limit_held_out", self.limit_held_out), ("log_every", self.log_every)):
            _positive_int(label, v)
        _positive_number("the time budget", self.time_budget)
        _positive_number("checkpoint_minutes", self.checkpoint_minutes)
        _positive_number("width", self.width)
        if not isinstance(self.final_train, bool):
            raise ValueError(f"final_train must be true or false, got {self.final_train!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"seed must be an integer, got {self.seed!r}")
        if self.mixed_precision not in MIXED_PRECISION:
            raise ValueError(f"mixed precision must be auto, on or off, got "
                             f"{self.mixed_precision!r}")
        if isinstance(self.strategy, str) and self.strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {self.strategy!r}; expected one of "
                             f"{', '.join(STRATEGIES)}")
