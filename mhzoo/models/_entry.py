"""Where model definitions register: :class:`ModelEntry`, the entry table and the decorator.

This module sits below both :mod:`mhzoo.models` (whose tables register through
:func:`register_model`) and :mod:`mhzoo.registry` (which looks entries up), so imports point
one way: registry -> models -> this module.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from mhzoo.spec import ArchSpec

__all__ = ["KINDS", "ModelEntry", "register_model"]

KINDS = ("classifier", "backbone")


@dataclass(frozen=True)
class ModelEntry:
    """What the registry knows about a model besides its architecture."""

    name: str
    fn: Callable[[], ArchSpec]
    title: str
    kind: str = "classifier"  # "classifier" or "backbone" (segmentation feature extractors)
    paper_row: str | None = None  # row name in ../shared/data/paper_table1_pixel4.csv
    sources: tuple[str, ...] = field(default_factory=tuple)

    @property
    def description(self) -> str:
        return (self.fn.__doc__ or "").strip().splitlines()[0] if self.fn.__doc__ else ""


#: name -> entry; filled by :func:`register_model` (the built-ins when mhzoo.models is imported).
ENTRIES: dict[str, ModelEntry] = {}


def register_model(
    *, title: str, kind: str = "classifier", paper_row: str | None = None,
    sources: Iterable[str] = (),
) -> Callable[[Callable[[], ArchSpec]], Callable[[], ArchSpec]]:
    """Decorator: register a spec function under its ``__name__``."""
    def deco(fn: Callable[[], ArchSpec]) -> Callable[[], ArchSpec]:
        name = fn.__name__
        if name in ENTRIES:
            warnings.warn(f"model {name!r} registered twice; the new definition wins", stacklevel=2)
        ENTRIES[name] = ModelEntry(name=name, fn=fn, title=title, kind=kind,
                                   paper_row=paper_row, sources=tuple(sources))
        return fn

    return deco
