"""Old path of :mod:`mhzoo.search.cost.folder`
(kept for one release, with a DeprecationWarning)."""

from mhzoo.search._moved import moved
from mhzoo.search.cost.folder import *  # noqa: F403
from mhzoo.search.cost.folder import __all__  # noqa: F401

MOVED_TO = "mhzoo.search.cost.folder"
moved(__name__, MOVED_TO)
