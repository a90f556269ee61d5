"""The weight-sharing supernet: the plan of a space (pure Python) and its Keras model.

``from mhzoo.search.tunas.supernet import Supernet`` imports TensorFlow; ``plan_space`` alone
does not need it (:mod:`mhzoo.search.tunas.supernet.plan`); child inheritance is
:mod:`mhzoo.search.tunas.supernet.child`.
"""

from __future__ import annotations

from typing import Any

from mhzoo.search.tunas.supernet.plan import plan_space

__all__ = ["Supernet", "flat_masks", "plan_space"]


def __getattr__(name: str) -> Any:
    if name in ("Supernet", "flat_masks"):
        from mhzoo.search.tunas.supernet import model  # lazy: the model imports TensorFlow

        return getattr(model, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
