"""Models for training: ``mhzoo.build`` plus the stride plan, fine-tuning loads and freezing.

Training builds logits models (no softmax; the checkpoint is the same either way) that take RGB
in [0, 255] with the normalization inside, as every mhzoo model does.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mhzoo.builder import build, resolve_spec
from mhzoo.search.training.recipes import apply_stride_plan
from mhzoo.spec import ArchSpec
from mhzoo.variables import assign_named_weights
from mhzoo.weights import open_weights

__all__ = ["build_training_model", "resolve_weights_dir"]


def resolve_weights_dir(weights: str | os.PathLike) -> str | os.PathLike:
    """A training run folder (``run.json`` + ``model/``) stands for its final checkpoint."""
    p = Path(weights)
    if p.is_dir() and (p / "run.json").is_file() and (p / "model").is_dir():
        return str(p / "model")
    return weights


def build_training_model(name_or_spec: str | os.PathLike | ArchSpec, *, image_size: int,
                         num_classes: int, dropout: float, stride_plan: str | None = None,
                         width: float | None = None, divisible_by: int | None = None,
                         weights: str | os.PathLike | None = None,
                         freeze_backbone: bool = False, bn_momentum: float | None = None,
                         sync_bn: bool = False) -> Any:
    """A Keras 3 logits model for training (call inside ``strategy.scope()``).

    Args:
        name_or_spec: registered name, ``ArchSpec`` or spec JSON file.
        image_size: square input size.
        num_classes: classifier size; with ``weights`` of another class count the classifier
            is new and the rest is loaded (fine-tuning).
        dropout: dropout before the classifier.
        stride_plan: see :func:`mhzoo.search.training.recipes.apply_stride_plan`.
        width, divisible_by: as :func:`mhzoo.build`.
        weights: checkpoint folder (or training run folder) to start from.
        freeze_backbone: train the classifier only (batch norm frozen in inference mode).
        bn_momentum: override the batch-norm momentum.
        sync_bn: synchronized batch norm across replicas (batch statistics of the global batch).

    Raises:
        ValueError: a checkpoint of another architecture or width, ``divisible_by`` with
            ``weights`` (a checkpoint fixes every width), bad sizes.
    """
    base = resolve_spec(name_or_spec)
    common = dict(input_shape=(image_size, image_size, 3), num_classes=num_classes,
                  dropout_rate=dropout, classifier_activation=None)
    if weights is None:
        model = build(apply_stride_plan(base, stride_plan), width, divisible_by=divisible_by,
                      **common)
    else:
        model = _build_from_checkpoint(base, resolve_weights_dir(weights), width, divisible_by,
                                       stride_plan, num_classes, common)
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            if bn_momentum is not None:
                layer.momentum = float(bn_momentum)
            layer.synchronized = bool(sync_bn)
        if freeze_backbone and layer.name != "classifier":
            layer.trainable = False
    return model


def _build_from_checkpoint(base: ArchSpec, weights: Any, width: float | None,
                           divisible_by: int | None, stride_plan: str | None, num_classes: int,
                           common: dict[str, Any]) -> Any:
    if divisible_by is not None:
        raise ValueError("--divisible-by cannot be combined with --weights: a checkpoint fixes "
                         "every channel count")
    src = open_weights(weights, model=base.name, width=width)
    if not src.matches_request:
        raise ValueError(f"--weights {weights} holds a checkpoint of {src.architecture!r}, not "
                         f"{base.name!r}; give a checkpoint of the same architecture")
    concrete = src.concrete_spec
    if src.config.get("base_spec"):
        spec, w = src.spec, src.width or 1.0
    elif concrete is not None:
        spec, w = concrete, 1.0
    else:
        spec, w = base, width
    spec = apply_stride_plan(spec, stride_plan)
    model = build(spec, w, preprocessing=src.preprocessing, **common)
    if concrete is not None and [getattr(b, "filters", None) for b in model.arch_spec.blocks] != [
            getattr(b, "filters", None) for b in concrete.blocks]:
        raise ValueError(f"--weights {weights}: the checkpoint's spec does not rebuild exactly "
                         "(widths differ)")
    if src.num_classes == num_classes:
        src.load_into(model, include_top=True)
    else:  # a new classifier: load everything else, strictly

        tensors = {k: v for k, v in src.tensors().items() if not k.startswith("classifier/")}
        try:
            assign_named_weights(model, tensors, strict=True, skip_prefixes=("classifier/",))
        except ValueError as exc:
            raise ValueError(f"checkpoint {weights} ({src.architecture}) does not fit model "
                             f"{model.name!r}: {exc}") from None
    model.pretrained_cfg = src.config
    model.fine_tuned_from = str(weights)
    return model
