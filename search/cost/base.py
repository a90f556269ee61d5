"""What every latency cost model shares: its identity (space, target, machine), JSON files, the
one-line refusal to be used for another space or target, and predicting genotypes."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from mhzoo.atomic import atomic_write_text
from mhzoo.search.jsonfile import check_tagged, read_tagged_json
from mhzoo.search.space import Genotype, Space, get_space

__all__ = ["FORMAT", "CostModel", "load_model", "model_kinds"]

FORMAT = "mhzoo.costmodel"
_KINDS: dict[str, type[CostModel]] = {}


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def _plain_options(options: dict[str, Any]) -> dict[str, Any]:
    return {k: _plain(v) for k, v in options.items()}


class CostModel:
    """Base class: ``predict(genotypes)`` in milliseconds for one space and target.

    Attributes:
        space_name, space_options: the space the model was fitted in (its structural options
            must match where it is used).
        target: the hardware it predicts (``cpu_fp32``, ``pixel3``, ...).
        machine: the machine key of the measurements.
        feature_size: length of the model's feature vector.
        info: how it was fitted (rows, lambda, cross-validation, ...).
    """

    kind: ClassVar[str] = ""

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if cls.kind:
            _KINDS[cls.kind] = cls

    def __init__(self, space: Space, target: str, *, machine: str = "",
                 info: dict[str, Any] | None = None) -> None:
        if not isinstance(target, str) or not target:
            raise ValueError(f"cost model target must be a name, got {target!r}")
        self.space = space
        self.target = target
        self.machine = machine
        self.info: dict[str, Any] = dict(info or {})

    @property
    def space_name(self) -> str:
        """Name of the model's space."""
        return self.space.name

    @property
    def feature_size(self) -> int:
        """Length of the model's feature vector."""
        raise NotImplementedError

    # ------------------------------------------------------------------ checks
    def check(self, space: Space | str | None = None, target: str | None = None) -> None:
        """``ValueError`` (one line) when this model is not one of ``space`` / ``target``."""
        if space is not None:
            name = space if isinstance(space, str) else space.name
            if name != self.space.name:
                raise ValueError(f"cost model is of space {self.space.name!r}, not {name!r}")
            if isinstance(space, Space):
                for key in space.STRUCTURAL:
                    if space.options.get(key) != self.space.options.get(key):
                        raise ValueError(
                            f"cost model's space has {key}={self.space.options.get(key)!r}, "
                            f"this one {key}={space.options.get(key)!r}")
        if target is not None and target != self.target:
            raise ValueError(f"cost model is of target {self.target!r}, not {target!r}")

    def _genotypes(self, genotypes: Sequence[Genotype | str | Sequence[int]]) -> list[Genotype]:
        out = []
        for g in genotypes:
            if isinstance(g, str):
                g = Genotype.from_string(g)
            if isinstance(g, Genotype):
                if g.space != self.space.name:
                    raise ValueError(f"genotype is of space {g.space!r}; the cost model is of "
                                     f"space {self.space.name!r}")
                if g.options and _plain_options(g.meta) != _plain_options(self.space.options):
                    diff = sorted(k for k in set(g.meta) | set(self.space.options)
                                  if _plain(g.meta.get(k)) != _plain(self.space.options.get(k)))
                    k = diff[0]
                    raise ValueError(f"genotype has {k}={g.meta.get(k)!r}, the cost model's "
                                     f"space {k}={self.space.options.get(k)!r}: it prices "
                                     "another decoding")
                g = self.space.genotype(g.indices) if not g.options else g
                self.space.active(g)  # length, ranges and structural options
            else:
                g = self.space.genotype(g)
            out.append(g)
        return out

    # ------------------------------------------------------------------ prediction
    def predict(self, genotypes: Sequence[Genotype | str | Sequence[int]]) -> np.ndarray:
        """Predicted latency (ms) of each genotype."""
        raise NotImplementedError

    def predict_one(self, genotype: Genotype | str | Sequence[int]) -> float:
        """Predicted latency (ms) of one genotype."""
        return float(self.predict([genotype])[0])

    # ------------------------------------------------------------------ files
    def _payload(self) -> dict[str, Any]:
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (see :func:`load_model`)."""
        return {"format": FORMAT, "kind": self.kind, "space": self.space.name,
                "space_options": {k: _plain(v) for k, v in self.space.options.items()},
                "target": self.target, "machine": self.machine,
                "feature_size": self.feature_size, "info": self.info, **self._payload()}

    def save(self, path: str | os.PathLike) -> Path:
        """Write the model as JSON, atomically."""
        return atomic_write_text(path, json.dumps(self.to_dict(), indent=None,
                                                  separators=(",", ":")) + "\n")

    @classmethod
    def _from_payload(cls, space: Space, data: dict[str, Any]) -> CostModel:
        raise NotImplementedError


def model_kinds() -> list[str]:
    """Names of the model kinds that :func:`load_model` reads."""
    return sorted(_KINDS)


def finite_number(data: dict[str, Any], key: str) -> float:
    """``data[key]`` as a finite float; a one-line ``ValueError`` naming the field otherwise."""
    v = data.get(key)
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise ValueError(f"cost model field {key!r} must be a finite number, got {v!r}")
    return float(v)


def _finite_list(data: dict[str, Any], key: str, n: int | None = None) -> np.ndarray:
    v = data.get(key)
    if not isinstance(v, list) or not all(isinstance(x, int | float) and not isinstance(x, bool)
                                          and math.isfinite(x) for x in v):
        raise ValueError(f"cost model field {key!r} must be a list of finite numbers")
    if n is not None and len(v) != n:
        raise ValueError(f"cost model field {key!r} has {len(v)} values, expected {n}")
    return np.asarray(v, np.float64)


def load_model(source: str | os.PathLike | dict[str, Any], *, space: Space | str | None = None,
               target: str | None = None) -> CostModel:
    """Read a cost model (a JSON file or its dict); with ``space`` / ``target`` given, a model
    of another space or target is a one-line ``ValueError``."""
    if isinstance(source, dict):
        data = check_tagged(source, FORMAT, "cost model", "cost model")
        where = "cost model"
    else:
        data = read_tagged_json(source, FORMAT, "cost model")
        where = str(source)
    kind = data.get("kind")
    if kind not in _KINDS:
        raise ValueError(f"{where}: unknown cost model kind {kind!r}; expected one of "
                         f"{', '.join(model_kinds())}")
    opts = data.get("space_options", {})
    if not isinstance(opts, dict) or not isinstance(data.get("space"), str):
        raise ValueError(f"{where}: malformed space / space_options")
    try:
        sp = get_space(data["space"], **{k: tuple(v) if isinstance(v, list) else v
                                         for k, v in opts.items()})
        model = _KINDS[kind]._from_payload(sp, data)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    if data.get("feature_size") != model.feature_size:
        raise ValueError(f"{where}: feature size {data.get('feature_size')} does not match the "
                         f"space's {model.feature_size}")
    model.check(space, target)
    return model
