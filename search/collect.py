"""Old path of :mod:`mhzoo.search.latency`
(kept for one release, with a DeprecationWarning)."""

from mhzoo.search._moved import moved
from mhzoo.search.latency import *  # noqa: F403
from mhzoo.search.latency import __all__  # noqa: F401

MOVED_TO = "mhzoo.search.latency"
moved(__name__, MOVED_TO)
