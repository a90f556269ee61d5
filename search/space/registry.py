"""The registry of search spaces: names to space classes, and genotype files decoded in the space
they record (``get_space``, ``list_spaces``, ``space_of``, ``save_genotype``, ``load_genotype``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mhzoo.search.space.base import Space
from mhzoo.search.space.fbnet import FBNetSpace
from mhzoo.search.space.genotype import Genotype
from mhzoo.search.space.mobilenet_v3_like import MobileNetV3LikeSpace
from mhzoo.search.space.multi_hardware import MultiHardwareSpace
from mhzoo.search.space.proxylessnas import ProxylessNASSpace
from mhzoo.spec import ArchSpec

__all__ = ["decode_genotype", "get_space", "list_spaces", "load_genotype", "save_genotype",
           "space_of"]

_SPACES: dict[str, type[Space]] = {cls.name: cls for cls in (
    MultiHardwareSpace, ProxylessNASSpace, MobileNetV3LikeSpace, FBNetSpace)}


def list_spaces() -> list[str]:
    """Names of the registered spaces."""
    return sorted(_SPACES)


def get_space(name: str, **options: Any) -> Space:
    """A space by name, with options (``input_size``, ``strides``, ``width``, ...)."""
    if name not in _SPACES:
        raise ValueError(f"unknown search space {name!r}; expected one of "
                         f"{', '.join(list_spaces())}")
    return _SPACES[name](**options)


def space_of(genotype: Genotype) -> Space:
    """The space (with the options) recorded in a genotype."""
    return get_space(genotype.space, **genotype.meta)


def decode_genotype(genotype: Genotype | str) -> ArchSpec:
    """Decode a genotype (or its compact string) in the space it records."""
    if isinstance(genotype, str):
        genotype = Genotype.from_string(genotype)
    return space_of(genotype).decode(genotype)


def save_genotype(genotype: Genotype, path: str | Path, *, with_spec: bool = True) -> Path:
    """Write a genotype file atomically, with its decoded spec (``with_spec``) so that
    ``mhzoo.build("g.json")`` and ``mhzoo info/export/bench g.json`` read it as a spec."""
    return genotype.save(path, spec=decode_genotype(genotype) if with_spec else None)


def load_genotype(path: str | Path) -> Genotype:
    """Read and validate a genotype file (JSON or compact string)."""
    g = Genotype.load(path)
    space_of(g).genotype(g.indices)
    return g
