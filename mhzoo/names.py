"""The one place where mhzoo names things: model slugs and the cache folder.

* :func:`model_slug` -- ``multi_max`` at width 0.75 is ``multi_max_075`` (timm-style); model
  names, pretrained tags, export and benchmark file names all use it.
* :func:`cache_dir` -- mhzoo's own cache (``$MHZOO_HOME``, default ``~/.cache/mhzoo``): the
  benchmark work folder, converted checkpoints, the default results database. Downloads from
  the Hugging Face Hub stay in the Hub's own cache (``HF_HOME`` / ``HF_HUB_CACHE``).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CACHE_ENV", "cache_dir", "model_slug"]

#: the environment variable of mhzoo's cache folder
CACHE_ENV = "MHZOO_HOME"


def model_slug(name: str, width: float) -> str:
    """``<name>_<width x 100, 3 digits>``: ``multi_max`` at 0.75 -> ``multi_max_075``."""
    return f"{name}_{round(width * 100):03d}"


def cache_dir() -> Path:
    """mhzoo's cache folder: ``$MHZOO_HOME``, else ``$XDG_CACHE_HOME/mhzoo``, else
    ``~/.cache/mhzoo`` (not created here)."""
    root = os.environ.get(CACHE_ENV)
    if root:
        return Path(root).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "mhzoo"
