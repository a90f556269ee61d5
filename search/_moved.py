"""The deprecation note of old import paths: a module that moved keeps a small shim at its old
path for one release; importing it warns once with the new path."""

from __future__ import annotations

import warnings

__all__ = ["moved"]


def moved(old: str, new: str) -> None:
    """Warn (``DeprecationWarning``) that module ``old`` is now ``new``."""
    warnings.warn(f"{old} moved to {new}; the old import path works for one more release",
                  DeprecationWarning, stacklevel=3)
