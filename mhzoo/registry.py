"""Model registry: names -> pure functions that return an :class:`~mhzoo.spec.ArchSpec`.

Model definitions live in :mod:`mhzoo.models`, one readable table per model, registered with
:func:`register_model` (defined in :mod:`mhzoo.models._entry`, below both, so imports point
one way: registry -> models -> entry table). ``list_models`` filters with fnmatch patterns,
like timm.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Iterable

from mhzoo.models._entry import ENTRIES as _REGISTRY
from mhzoo.models._entry import KINDS, ModelEntry, register_model
from mhzoo.spec import ArchSpec

__all__ = ["ModelEntry", "get_entry", "get_spec", "list_models", "register_model"]


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
