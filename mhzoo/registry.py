"""Model registry: names -> pure functions that return an :class:`~mhzoo.spec.ArchSpec`.

Model definitions live in :mod:`mhzoo.models`, one readable table per model, registered with
:func:`register_model`. ``list_models`` filters with fnmatch patterns, like timm.
"""

from __future__ import annotations

import difflib
import fnmatch
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from mhzoo.spec import ArchSpec

__all__ = ["ModelEntry", "get_entry", "get_spec", "list_models", "register_model"]


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


_REGISTRY: dict[str, ModelEntry] = {}
KINDS = ("classifier", "backbone")


def register_model(
    *, title: str, kind: str = "classifier", paper_row: str | None = None,
    sources: Iterable[str] = (),
) -> Callable[[Callable[[], ArchSpec]], Callable[[], ArchSpec]]:
    """Decorator: register a spec function under its ``__name__``."""

    def deco(fn: Callable[[], ArchSpec]) -> Callable[[], ArchSpec]:
        name = fn.__name__
        if name in _REGISTRY:
            warnings.warn(f"model {name!r} registered twice; the new definition wins", stacklevel=2)
        _REGISTRY[name] = ModelEntry(name=name, fn=fn, title=title, kind=kind,
                                     paper_row=paper_row, sources=tuple(sources))
        return fn

    return deco


def _ensure_loaded() -> None:
    import mhzoo.models  # noqa: F401  (registers the built-in models)


def list_models(pattern: str | Iterable[str] = "*", kind: str | None = None) -> list[str]:
    """Registered model names matching an fnmatch ``pattern`` (or any of several), sorted.

    Args:
        pattern: e.g. ``"multi_*"`` or ``["mobilenet_v3*", "multi_max"]``.
        kind: ``"classifier"`` or ``"backbone"`` to filter by kind.
    """
    _ensure_loaded()
    patterns = [pattern] if isinstance(pattern, str) else (
        list(pattern) if isinstance(pattern, Iterable) else None)
    if not patterns or not all(isinstance(p, str) for p in patterns):
        raise ValueError(f"pattern must be a string or a list of strings, got {pattern!r}")
    if kind not in (None, *KINDS):
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    names = [n for n in _REGISTRY if any(fnmatch.fnmatchcase(n, p) for p in patterns)]
    if kind is not None:
        names = [n for n in names if _REGISTRY[n].kind == kind]
    return sorted(names)


def get_entry(name: str) -> ModelEntry:
    """The registry entry of ``name``; ``ValueError`` naming the closest matches otherwise."""
    _ensure_loaded()
    if not isinstance(name, str):
        raise ValueError(f"model name must be a string, got {type(name).__name__}")
    if name in _REGISTRY:
        return _REGISTRY[name]
    folded = {_fold(n): n for n in _REGISTRY}
    if _fold(name) in folded:  # "Multi-MAX", "MultiMAX", "MULTI_MAX"
        close = [folded[_fold(name)]]
    else:
        close = [folded[m] for m in difflib.get_close_matches(_fold(name), list(folded), n=3,
                                                               cutoff=0.5)]
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise ValueError(f"unknown model {name!r}{hint} (see `mhzoo list`)")


def _fold(name: str) -> str:
    """Case- and separator-insensitive form of a model name, for suggestions."""
    return "".join(ch for ch in name.lower() if ch.isalnum())


def get_spec(name: str) -> ArchSpec:
    """Base spec (width 1.0) of a registered model."""
    return get_entry(name).fn()
