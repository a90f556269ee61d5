"""Local checkpoints: ``model.safetensors`` (keyed by stable variable names) + ``config.json``."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mhzoo.atomic import atomic_dir
from mhzoo.preprocessing import Preprocessing
from mhzoo.spec import ArchSpec
from mhzoo.variables import assign_named_weights, named_weights

__all__ = ["WeightSource", "open_weights", "save_pretrained"]

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"


@dataclass
class WeightSource:
    """A resolved checkpoint: what the builder needs before and after building."""

    path: Path
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def spec(self) -> ArchSpec | None:
        """Full spec stored in the config (base widths), if any."""
        raw = self.config.get("spec")
        return ArchSpec.from_dict(raw) if raw else None

    @property
    def num_classes(self) -> int | None:
        return self.config.get("num_classes")

    @property
    def preprocessing(self) -> Preprocessing | None:
        cfg = self.config.get("pretrained_cfg", {})
        if "mean" in cfg and "std" in cfg:
            return Preprocessing(mean=cfg["mean"], std=cfg["std"])
        return None

    def tensors(self) -> dict[str, np.ndarray]:
        from safetensors.numpy import load_file

        try:
            return load_file(str(self.path / WEIGHTS_NAME))
        except Exception as exc:  # safetensors raises its own error types
            raise ValueError(f"cannot read {self.path / WEIGHTS_NAME}: {exc}") from None

    def load_into(self, model: Any, *, include_top: bool = True) -> None:
        """Assign the checkpoint to ``model`` (the classifier is skipped without a top)."""
        tensors = self.tensors()
        if include_top:
            ck = tensors.get("classifier/kernel")
            layer_names = {layer.name for layer in model.layers}
            if ck is not None and "classifier" in layer_names:
                want = model.get_layer("classifier").units
                if ck.shape[-1] != want:
                    raise ValueError(
                        f"checkpoint has {ck.shape[-1]} classes but the model {want}; pass "
                        f"num_classes={ck.shape[-1]} or include_top=False")
            assign_named_weights(model, tensors)
        else:
            assign_named_weights(model, {k: v for k, v in tensors.items()
                                         if not k.startswith("classifier/")})


def open_weights(weights: str | os.PathLike, *, model: str | None = None,
                 width: float | None = None) -> WeightSource:
    """Resolve ``weights`` (a checkpoint directory) to a :class:`WeightSource`."""
    path = Path(weights)
    if path.is_file() and path.name == WEIGHTS_NAME:
        path = path.parent
    if not path.is_dir():
        raise ValueError(f"weights not found: {weights!s} (expected a checkpoint directory)")
    if not (path / WEIGHTS_NAME).is_file():
        raise ValueError(f"{path} has no {WEIGHTS_NAME}")
    config: dict[str, Any] = {}
    if (path / CONFIG_NAME).is_file():
        try:
            config = json.loads((path / CONFIG_NAME).read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"malformed {path / CONFIG_NAME}: {exc}") from None
    return WeightSource(path=path, config=config)


def save_pretrained(model: Any, directory: str | os.PathLike, *,
                    label_names: list[str] | None = None,
                    pretrained_cfg: dict[str, Any] | None = None) -> Path:
    """Write ``model.safetensors`` + ``config.json`` atomically into ``directory``."""
    from safetensors.numpy import save_file

    spec: ArchSpec = model.base_spec
    cfg = {
        "architecture": spec.name,
        "width": model.width,
        "spec": spec.to_dict(),
        "num_classes": model.get_layer("classifier").units
        if "classifier" in {la.name for la in model.layers} else None,
        "label_names": label_names,
        "pretrained_cfg": {**model.preprocessing.to_dict(), **(pretrained_cfg or {})},
    }
    tensors = {k: np.ascontiguousarray(v) for k, v in named_weights(model).items()}
    with atomic_dir(directory) as tmp:
        save_file(tensors, str(tmp / WEIGHTS_NAME))
        (tmp / CONFIG_NAME).write_text(json.dumps(cfg, indent=1))
    return Path(directory)
