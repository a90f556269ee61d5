"""Old path of :mod:`mhzoo.search.latency.cputime`
(kept for one release, with a DeprecationWarning)."""

from mhzoo.search._moved import moved
from mhzoo.search.latency.cputime import *  # noqa: F403
from mhzoo.search.latency.cputime import __all__  # noqa: F401

MOVED_TO = "mhzoo.search.latency.cputime"
moved(__name__, MOVED_TO)
