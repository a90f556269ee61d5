"""The build config: one frozen, serializable record of what :func:`mhzoo.build` did.

It travels with the model: the builder attaches it, it is part of the model's Keras config (so
it survives ``model.save("m.keras")`` / :func:`mhzoo.load_model` in Keras 3 and tf_keras) and of
``save_pretrained``'s ``config.json``. Export, the checkpoint writer and the profiler read it;
nothing re-infers build arguments from layer names.

::

    cfg = mhzoo.build_config(model)        # BuildConfig
    cfg.spec, cfg.width, cfg.num_classes, cfg.preprocessing
    twin = mhzoo.build(cfg.spec, 1.0, **cfg.build_kwargs(batch_size=1))
    twin = mhzoo.builder.rebuild(cfg, batch_size=1)   # the same

This module sits below :mod:`mhzoo.builder` (which imports it), so it never calls the builder.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from mhzoo.preprocessing import Preprocessing
from mhzoo.spec import ArchSpec

__all__ = ["BUILD_CONFIG_VERSION", "BuildConfig", "build_config"]

#: bumped when a field changes meaning; older records stay readable.
BUILD_CONFIG_VERSION = 1


@dataclass(frozen=True)
class BuildConfig:
    """What :func:`mhzoo.build` built: enough to rebuild the same graph exactly.

    ``spec`` is the concrete spec (every width resolved); ``base_spec`` the registered (width
    1.0) spec it came from, with ``width`` and ``divisible_by`` the rounding rule applied.
    """

    spec: ArchSpec
    base_spec: ArchSpec
    width: float = 1.0
    divisible_by: int | None = None
    input_shape: tuple[int | None, int | None, int] = (224, 224, 3)
    batch_size: int | None = None
    include_top: bool = True
    num_classes: int | None = 1000
    pooling: str | None = None
    dropout_rate: float = 0.2
    classifier_activation: str | None = "softmax"
    include_preprocessing: bool = True
    preprocessing: Preprocessing = dataclasses.field(default_factory=Preprocessing)
    framework: str = "keras"
    features_only: bool = False
    name: str = ""
    weights: str | None = None

    @property
    def architecture(self) -> str:
        """The registered architecture name (``multi_max``)."""
        return self.base_spec.name

    def build_kwargs(self, **overrides: Any) -> dict[str, Any]:
        """Keywords for ``mhzoo.build(self.spec, 1.0, **kwargs)`` that rebuild this graph.

        ``overrides`` replace single keywords (e.g. ``batch_size=1``, ``framework="tf_keras"``).
        """
        kwargs: dict[str, Any] = dict(
            input_shape=self.input_shape, include_top=self.include_top,
            pooling=self.pooling, dropout_rate=self.dropout_rate,
            classifier_activation=self.classifier_activation,
            include_preprocessing=self.include_preprocessing, preprocessing=self.preprocessing,
            batch_size=self.batch_size, framework=self.framework,
            features_only=self.features_only, name=self.name)
        if self.num_classes is not None:
            kwargs["num_classes"] = self.num_classes
        unknown = set(overrides) - set(kwargs) - {"num_classes"}
        if unknown:
            raise ValueError(f"unknown build keyword(s): {', '.join(sorted(unknown))}")
        kwargs.update(overrides)
        return kwargs

    def replace(self, **changes: Any) -> BuildConfig:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (specs as their JSON dicts)."""
        d: dict[str, Any] = {"version": BUILD_CONFIG_VERSION}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, ArchSpec | Preprocessing):
                v = v.to_dict()
            elif isinstance(v, tuple):
                v = list(v)
            d[f.name] = v
        return d

    def to_json(self) -> str:
        """Compact JSON."""
        return json.dumps(self.to_dict(), sort_keys=True, allow_nan=False)

    @classmethod
    def from_dict(cls, data: Any) -> BuildConfig:
        """Inverse of :meth:`to_dict`; a ``ValueError`` for anything that is not one."""
        if not isinstance(data, dict) or "spec" not in data or "base_spec" not in data:
            raise ValueError("not an mhzoo build config (expected a dict with spec and base_spec)")
        version = data.get("version", 1)
        if not isinstance(version, int) or version > BUILD_CONFIG_VERSION:
            raise ValueError(f"build config version {version!r} is newer than this mhzoo reads "
                             f"({BUILD_CONFIG_VERSION}); upgrade mhzoo")
        names = {f.name for f in dataclasses.fields(cls)}
        kw: dict[str, Any] = {k: v for k, v in data.items() if k in names}
        kw["spec"] = ArchSpec.from_dict(data["spec"])
        kw["base_spec"] = ArchSpec.from_dict(data["base_spec"])
        if "preprocessing" in kw:
            kw["preprocessing"] = Preprocessing.from_dict(kw["preprocessing"])
        if "input_shape" in kw:
            kw["input_shape"] = tuple(kw["input_shape"])
        return cls(**kw)

    @classmethod
    def from_json(cls, text: str) -> BuildConfig:
        """Inverse of :meth:`to_json`."""
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise ValueError(f"build config is not valid JSON: {exc}") from None
        return cls.from_dict(data)


def build_config(model: Any) -> BuildConfig:
    """The :class:`BuildConfig` of a model made by :func:`mhzoo.build` (also after
    ``model.save`` / :func:`mhzoo.load_model`); a ``ValueError`` for any other model."""
    cfg = getattr(model, "mhzoo_config", None)
    if isinstance(cfg, BuildConfig):
        return cfg
    kind = type(model).__name__
    raise ValueError(f"expected a model built by mhzoo.build (or reloaded with mhzoo.load_model), "
                     f"got {kind} without an mhzoo build config")
