"""Old path of :mod:`mhzoo.search.tunas.rewards`
(kept for one release, with a DeprecationWarning)."""

from mhzoo.search._moved import moved
from mhzoo.search.tunas.rewards import *  # noqa: F403
from mhzoo.search.tunas.rewards import __all__  # noqa: F401

MOVED_TO = "mhzoo.search.tunas.rewards"
moved(__name__, MOVED_TO)
