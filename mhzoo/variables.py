"""Stable, framework-neutral variable names: ``"<layer name>/<variable>"``.

Models built by :func:`mhzoo.build` give the same names in the same order under Keras 3 and
tf_keras (e.g. ``block3_expand/kernel``, ``block3_expand_bn/moving_mean``), so a mapping from
:func:`named_weights` moves weights between frameworks, files and converters.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["assign_named_weights", "named_variables", "named_weights"]


def _short(var: Any) -> str:
    name = getattr(var, "path", None) or var.name
    short = name.split("/")[-1].split(":")[0]
    # tf_keras calls a depthwise kernel "depthwise_kernel", Keras 3 "kernel": use Keras 3's.
    return "kernel" if short == "depthwise_kernel" else short


def named_variables(model: Any) -> dict[str, Any]:
    """Ordered ``{"layer/variable": variable}`` of a Keras 3 or tf_keras model."""
    out: dict[str, Any] = {}
    for layer in model.layers:
        for var in layer.weights:
            key = f"{layer.name}/{_short(var)}"
            if key in out:
                raise ValueError(f"duplicate variable name {key!r} in model {model.name!r}")
            out[key] = var
    return out


def named_weights(model: Any) -> dict[str, np.ndarray]:
    """Ordered ``{"layer/variable": numpy array}`` of a model's weights (BN statistics too)."""
    return {k: np.asarray(v.numpy()) for k, v in named_variables(model).items()}


def assign_named_weights(
    model: Any, weights: Mapping[str, np.ndarray], *, strict: bool = True,
    skip_prefixes: tuple[str, ...] = (),
) -> list[str]:
    """Assign ``weights`` to ``model`` by name, checking every shape first.

    Args:
        model: a model built by mhzoo (either framework).
        weights: ``{"layer/variable": array}``.
        strict: every model variable (outside ``skip_prefixes``) must be given, and no extra
            names are allowed.
        skip_prefixes: layer-name prefixes to leave untouched (e.g. ``("classifier/",)``).

    Returns:
        Names of the model variables that were not assigned (only when ``strict=False``).

    Raises:
        ValueError: naming the first mismatching variable and both shapes, or the first
            missing / unexpected name. Nothing is assigned when it raises.
    """
    targets = named_variables(model)
    wanted = {k: v for k, v in targets.items() if not k.startswith(skip_prefixes)}
    for key, var in wanted.items():
        if key not in weights:
            if strict:
                raise ValueError(f"checkpoint lacks variable {key!r} (shape {tuple(var.shape)})")
            continue
        got = tuple(np.shape(weights[key]))
        want = tuple(var.shape)
        if got != want:
            if key.startswith("block0_") and len(got) == 4 and got[:2] == want[:2] and (
                    got[2] != want[2]):
                hint = (f"the checkpoint expects {got[2]}-channel input images, the model has "
                        f"{want[2]}")
            else:
                hint = "is the checkpoint for another architecture or width?"
            raise ValueError(f"shape mismatch for {key!r}: checkpoint {got} vs model {want} "
                             f"({hint})")
    if strict:
        extra = [k for k in weights if k not in targets and not k.startswith(skip_prefixes)]
        if extra:
            raise ValueError(f"checkpoint has variable {extra[0]!r} that the model lacks "
                             f"({len(extra)} unexpected in all)")
    missing = []
    for key, var in wanted.items():
        if key in weights:
            var.assign(np.asarray(weights[key], dtype=var.dtype.name if hasattr(var.dtype, "name")
                                  else var.dtype))
        else:
            missing.append(key)
    return missing
