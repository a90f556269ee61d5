"""Old path of :mod:`mhzoo.search.tunas.controller`
(kept for one release, with a DeprecationWarning)."""

from mhzoo.search._moved import moved
from mhzoo.search.tunas.controller import *  # noqa: F403
from mhzoo.search.tunas.controller import __all__  # noqa: F401

MOVED_TO = "mhzoo.search.tunas.controller"
moved(__name__, MOVED_TO)
