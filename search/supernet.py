"""Old path of :mod:`mhzoo.search.tunas.supernet` (kept for one release, with a
DeprecationWarning); TensorFlow loads only when ``Supernet`` or ``flat_masks`` is used."""

from typing import Any

from mhzoo.search._moved import moved

__all__ = ["Supernet", "flat_masks", "plan_space"]  # noqa: F822 (module __getattr__)

MOVED_TO = "mhzoo.search.tunas.supernet"
moved(__name__, MOVED_TO)


def __getattr__(name: str) -> Any:
    from mhzoo.search.tunas import supernet

    return getattr(supernet, name)
