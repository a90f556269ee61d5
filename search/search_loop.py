"""Old path of :mod:`mhzoo.search.tunas.loop` and :mod:`mhzoo.search.tunas.step` (kept for one
release, with a DeprecationWarning; ``SupernetSearch`` is now ``SearchStep``)."""

from mhzoo.search._moved import moved
from mhzoo.search.tunas.loop import SearchOutcome, SearchRequest, prepare_search, run_search
from mhzoo.search.tunas.step import SearchStep, controller_only_search

__all__ = ["SearchOutcome", "SearchRequest", "SupernetSearch", "controller_only_search",
           "prepare_search", "run_search"]

SupernetSearch = SearchStep
MOVED_TO = "mhzoo.search.tunas.loop"
moved(__name__, MOVED_TO)
