"""Old path of :mod:`mhzoo.search.tunas.config`
(kept for one release, with a DeprecationWarning)."""

from mhzoo.search._moved import moved
from mhzoo.search.tunas.config import *  # noqa: F403
from mhzoo.search.tunas.config import __all__  # noqa: F401

MOVED_TO = "mhzoo.search.tunas.config"
moved(__name__, MOVED_TO)
