"""Old path of :mod:`mhzoo.search.space.registry`
(kept for one release, with a DeprecationWarning)."""

from mhzoo.search._moved import moved
from mhzoo.search.space.registry import *  # noqa: F403
from mhzoo.search.space.registry import __all__  # noqa: F401

MOVED_TO = "mhzoo.search.space.registry"
moved(__name__, MOVED_TO)
