"""``MhzooModel``: the functional Keras model class that carries its :class:`BuildConfig`.

The builder makes every model an instance of this class (a plain functional model with one
extra item in its config), in Keras 3 or tf_keras. Because the build config is part of
``get_config()``, it survives ``model.save("m.keras")`` and :func:`mhzoo.load_model` (and
tf_keras' ``clone_model``, which tfmot's QAT uses). The class is registered as
``mhzoo>MhzooModel`` in both frameworks.
"""

from __future__ import annotations

from functools import cache
from types import ModuleType
from typing import Any

from mhzoo.build_record import BuildConfig

__all__ = ["CONFIG_KEY", "model_class"]

#: the key of the build config inside the model's Keras config
CONFIG_KEY = "mhzoo_config"


class _ConfigAccess:
    """Read-only views of the build config under the names the rest of mhzoo uses."""

    _mhzoo_config: BuildConfig | None

    @property
    def mhzoo_config(self) -> BuildConfig | None:
        """The :class:`~mhzoo.build_record.BuildConfig` (``None`` only for a bare instance)."""
        return self.__dict__.get("_mhzoo_config")

    @property
    def arch_spec(self) -> Any:
        """The concrete spec the model was built from."""
        return self._required().spec

    @property
    def base_spec(self) -> Any:
        """The registered (width 1.0) spec."""
        return self._required().base_spec

    @property
    def width(self) -> float:
        """The width multiplier."""
        return self._required().width

    @property
    def preprocessing(self) -> Any:
        """The normalization the model contains or expects."""
        return self._required().preprocessing

    @property
    def framework(self) -> str:
        """``"keras"`` or ``"tf_keras"``."""
        return self._required().framework

    def _required(self) -> BuildConfig:
        cfg = self.__dict__.get("_mhzoo_config")
        if cfg is None:
            raise AttributeError("this model has no mhzoo build config")
        return cfg

    def _attach(self, cfg: BuildConfig | None) -> None:
        # bypass the frameworks' attribute tracking: a frozen record, not a trackable
        object.__setattr__(self, "_mhzoo_config", cfg)


def _encode(cfg: BuildConfig | None) -> dict[str, Any] | None:
    return None if cfg is None else cfg.to_dict()


def _decode(data: Any) -> BuildConfig | None:
    if data is None:
        return None
    if hasattr(data, "items") and not isinstance(data, dict):  # tf_keras wrappers
        data = dict(data)
    return BuildConfig.from_dict(data)


@cache
def model_class(km: ModuleType) -> type:
    """The registered ``MhzooModel`` class of a Keras module (``keras`` or ``tf_keras``)."""
    if km.__name__ == "tf_keras":
        return _tf_keras_class(km)
    return _keras3_class(km)


def _keras3_class(km: ModuleType) -> type:
    @km.saving.register_keras_serializable(package="mhzoo", name="MhzooModel")
    class MhzooModel(_ConfigAccess, km.Model):
        """A functional Keras 3 model made by :func:`mhzoo.build`."""

        def __init__(self, *args: Any, mhzoo_config: BuildConfig | None = None,
                     **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._attach(mhzoo_config)

        def get_config(self) -> dict[str, Any]:
            config = super().get_config()
            config[CONFIG_KEY] = _encode(self.mhzoo_config)
            return config

        @classmethod
        def from_config(cls, config: dict[str, Any], custom_objects: Any = None) -> Any:
            config = dict(config)
            cfg = _decode(config.pop(CONFIG_KEY, None))
            model = super().from_config(config, custom_objects=custom_objects)
            model._attach(cfg)
            return model

    return MhzooModel


def _tf_keras_class(km: ModuleType) -> type:
    import copy

    from tf_keras.src.engine import functional

    @km.utils.register_keras_serializable(package="mhzoo", name="MhzooModel")
    class MhzooModel(_ConfigAccess, functional.Functional):
        """A functional tf_keras model made by :func:`mhzoo.build`."""

        def __init__(self, inputs: Any, outputs: Any, name: str | None = None,
                     trainable: bool = True, mhzoo_config: BuildConfig | None = None,
                     **kwargs: Any) -> None:
            super().__init__(inputs, outputs, name=name, trainable=trainable, **kwargs)
            self._attach(mhzoo_config)

        def get_config(self) -> dict[str, Any]:
            config = copy.deepcopy(functional.get_network_config(
                self, config={"name": self.name, "trainable": self.trainable}))
            config[CONFIG_KEY] = _encode(self.mhzoo_config)
            return config

        @classmethod
        def from_config(cls, config: dict[str, Any], custom_objects: Any = None) -> Any:
            config = dict(config)
            cfg = _decode(config.pop(CONFIG_KEY, None))
            inputs, outputs, _ = functional.reconstruct_from_config(config, custom_objects)
            return cls(inputs, outputs, name=config.get("name"),
                       trainable=config.get("trainable", True), mhzoo_config=cfg)

    return MhzooModel
