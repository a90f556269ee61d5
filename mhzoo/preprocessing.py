"""Input normalization: the one place where preprocessing is defined and recorded.

``Preprocessing(mean, std)`` in 0-255 units maps an RGB image to ``(pixel - mean) / std``. The
default (127.5, 127.5) is the [-1, 1] convention of slim, Keras and TFLite MobileNets; the
ImageNet mean/std convention of timm and the TF Model Garden is :data:`IMAGENET`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

__all__ = ["IMAGENET", "MINUS_ONE_TO_ONE", "Preprocessing"]


def _as_tuple(v: float | Sequence[float]) -> tuple[float, ...]:
    if isinstance(v, int | float):
        return (float(v),)
    return tuple(float(x) for x in v)


@dataclass(frozen=True)
class Preprocessing:
    """Per-channel ``(x - mean) / std`` with mean and std in 0-255 pixel units."""

    mean: tuple[float, ...] = (127.5,)
    std: tuple[float, ...] = (127.5,)

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "mean", _as_tuple(self.mean))
            object.__setattr__(self, "std", _as_tuple(self.std))
        except (TypeError, ValueError):
            raise ValueError("mean and std must be numbers or sequences of numbers") from None
        object.__setattr__(self, "mean", _as_tuple(self.mean))
        object.__setattr__(self, "std", _as_tuple(self.std))
        if any(s <= 0 for s in self.std):
            raise ValueError(f"std must be > 0, got {self.std}")
        if len(self.mean) not in (1, 3) or len(self.std) not in (1, 3):
            raise ValueError("mean and std need 1 or 3 values")

    def check_channels(self, channels: int) -> None:
        """``ValueError`` unless this normalization fits an input with ``channels`` channels."""
        for label, values in (("mean", self.mean), ("std", self.std)):
            if len(values) not in (1, channels):
                raise ValueError(
                    f"preprocessing has {len(values)} per-channel {label} values but the input has "
                    f"{channels} channel(s); pass preprocessing=Preprocessing(mean=m, std=s) with "
                    f"1 or {channels} values")

    def scale_offset(self, channels: int = 3) -> tuple[np.ndarray, np.ndarray]:
        """``scale``, ``offset`` such that ``x * scale + offset == (x - mean) / std``."""
        self.check_channels(channels)
        mean = np.broadcast_to(np.asarray(self.mean, np.float32), (channels,))
        std = np.broadcast_to(np.asarray(self.std, np.float32), (channels,))
        return (1.0 / std).astype(np.float32), (-mean / std).astype(np.float32)

    def apply(self, images: np.ndarray) -> np.ndarray:
        """Normalize a float/uint8 NHWC numpy batch outside the model."""
        scale, offset = self.scale_offset(images.shape[-1])
        return images.astype(np.float32) * scale + offset

    def layer(self, km: ModuleType, channels: int = 3) -> Any:
        """A ``Rescaling`` layer named ``preprocessing`` (no weights, exact in both Kerases)."""
        scale, offset = self.scale_offset(channels)
        if np.all(scale == scale[0]) and np.all(offset == offset[0]):
            return km.layers.Rescaling(float(scale[0]), float(offset[0]), name="preprocessing")
        return km.layers.Rescaling(scale.tolist(), offset.tolist(), name="preprocessing")

    @property
    def input_range(self) -> tuple[float, float]:
        """Range of normalized values for inputs in [0, 255] (min over channels, max)."""
        scale, offset = self.scale_offset(3)
        return float(offset.min()), float((255.0 * scale + offset).max())

    def to_dict(self) -> dict[str, list[float]]:
        """``{"mean": [...], "std": [...]}`` in 0-255 units (as stored in config.json)."""
        return {"mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Preprocessing:
        """Inverse of :meth:`to_dict`."""
        return cls(mean=d["mean"], std=d["std"])


MINUS_ONE_TO_ONE = Preprocessing()
#: ImageNet mean/std (timm IMAGENET_DEFAULT_*, TF Model Garden MEAN_RGB / STDDEV_RGB) x 255.
IMAGENET = Preprocessing(mean=(123.675, 116.28, 103.53), std=(58.395, 57.12, 57.375))
