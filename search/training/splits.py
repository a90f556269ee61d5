"""Three disjoint splits of a data source from one seeded rule, ``mhzoo.splits/v1``.

* ``train``: what the weights are trained on (the search's shared weights, ``mhzoo train``);
* ``search_valid``: what the search's controller is rewarded on, and what anything that selects
  or stops early may read;
* ``test``: what reported accuracy is measured on; nothing in a search, a model choice or early
  stopping reads it.

Rule: ``perm = numpy.random.default_rng(seed).permutation(num_examples)`` over the source's
global example order (TFRecord: shard order then record order; image folders: class order then
sorted file name; TFDS: its ``train`` split order), then ``test = perm[:n_test]``,
``search_valid = perm[n_test:n_test + n_search_valid]``, ``train`` = the rest. ``test`` depends
only on ``(num_examples, n_test, seed)``: every entry point (``mhzoo train``, ``search run``,
``regenerate``, ``mhzoo eval``, benchmarks) that uses the same three numbers holds out the same
test images, whatever its search-validation size. The final retraining of a searched model may
use ``final_train = train | search_valid``, never ``test``.

When the data has its own evaluation split (``validation-*`` shards, ``val/`` / ``validation/`` /
``test/`` beside ``train/``: see :mod:`mhzoo.search.training.sources`), that split is ``test``
and nothing is carved from the training data for it (:func:`splits_for` does this;
:func:`make_splits` takes ``own_test``).

The rule's split seed is independent of a run's seed, so runs with different seeds share their
test set. The old ``held_out_mask(n, k, seed)`` equals ``make_splits(n, k, seed=seed).test``.

:meth:`Splits.describe` is what ``run.json``, ``config.json`` and ``search_result.json`` record;
:func:`check_record` rebuilds the splits from such a record and refuses data that no longer
gives the same ones (a one-line ``ValueError``).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["NAMES", "RULE", "Splits", "check_record", "check_split_size", "make_splits",
           "split_count", "splits_for"]

RULE = "mhzoo.splits/v1"
#: the split names a caller may ask for (``final_train`` = ``train | search_valid``)
NAMES = ("train", "search_valid", "test", "final_train")


def check_split_size(label: str, value: Any, *, allow_zero: bool = False) -> float:
    """A split size: a fraction in (0, 1) or a whole image count (>= 1, or >= 0 with
    ``allow_zero``); ``1.5``, ``-3``, ``nan`` or ``True`` are one-line ``ValueError`` s."""
    lo = 0 if allow_zero else 1
    ok = (not isinstance(value, bool) and isinstance(value, int | float)
          and math.isfinite(value) and value >= 0 and (value > 0 or allow_zero)
          and (value < 1 or float(value).is_integer()))
    if not ok:
        raise ValueError(f"{label} split must be a fraction in (0, 1) or a whole number of images "
                         f"(>= {lo}), got {value!r}")
    return float(value)


def split_count(label: str, value: Any, num_examples: int, *, allow_zero: bool = False) -> int:
    """Images of a split of size ``value`` (fraction or count) out of ``num_examples``."""
    v = check_split_size(label, value, allow_zero=allow_zero)
    return round(v * num_examples) if 0 < v < 1 else int(v)


def _digest(indices: np.ndarray) -> str:
    return hashlib.sha256(np.sort(indices).astype("<i8").tobytes()).hexdigest()


@dataclass(frozen=True, eq=False)
class Splits:
    """Boolean masks over a source's global example order (``num_examples`` long each).

    Attributes:
        num_examples: examples of the (training) source the masks cover.
        seed: the split seed.
        train, search_valid, test: disjoint masks whose union is every example.
        own_test: the example count of the source's own evaluation split when that split is
            ``test`` (then the ``test`` mask is all False: nothing is carved); else ``None``.
        own_test_digest: what identifies that own split (its files and counts).
    """

    num_examples: int
    seed: int
    train: np.ndarray
    search_valid: np.ndarray
    test: np.ndarray
    own_test: int | None = None
    own_test_digest: str | None = None

    @property
    def final_train(self) -> np.ndarray:
        """``train | search_valid``: what the final retraining of a searched model may use."""
        return self.train | self.search_valid

    @property
    def n_test(self) -> int:
        """Images in the test split (the own evaluation split's count when it is the test)."""
        return int(self.test.sum()) if self.own_test is None else int(self.own_test)

    def mask(self, name: str) -> np.ndarray:
        """The mask of ``train``, ``search_valid``, ``test`` or ``final_train``."""
        if name not in NAMES:
            raise ValueError(f"unknown split {name!r}; expected one of {', '.join(NAMES)}")
        return getattr(self, name)

    def describe(self) -> dict[str, Any]:
        """Plain data for ``run.json`` / ``config.json`` / ``search_result.json``."""
        test_sha = (_digest(np.flatnonzero(self.test)) if self.own_test is None
                    else self.own_test_digest)
        return {"rule": RULE, "seed": self.seed, "num_examples": self.num_examples,
                "test": self.n_test, "search_valid": int(self.search_valid.sum()),
                "train": int(self.train.sum()),
                "test_from": "carved" if self.own_test is None else "own",
                "test_sha256": test_sha}


def make_splits(num_examples: int, test: float, search_valid: float = 0, seed: int = 0, *,
                own_test: int | None = None, own_test_digest: str | None = None) -> Splits:
    """The three splits of ``num_examples`` examples by rule ``mhzoo.splits/v1``.

    Args:
        num_examples: examples of the training source (its global order).
        test: test size, a fraction in (0, 1) or a count >= 1 (ignored with ``own_test``).
        search_valid: search-validation size, a fraction or a count (0: none, plain training).
        seed: the split seed (not the run's seed).
        own_test: the count of the data's own evaluation split, which then is the test split:
            nothing is carved for it.
        own_test_digest: identifies that split (required with ``own_test``).

    Raises:
        ValueError: a size that is neither a fraction nor a whole count, or sizes that leave no
            training image.
    """
    n = int(num_examples)
    if isinstance(num_examples, bool) or n != num_examples or n < 1:
        raise ValueError(f"num_examples must be a whole number >= 1, got {num_examples!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise ValueError(f"split seed must be an integer, got {seed!r}")
    if own_test is not None:
        if own_test < 1 or not own_test_digest:
            raise ValueError("own_test needs a count >= 1 and its digest")
        k_t = 0
    else:
        k_t = split_count("test", test, n)
    k_v = split_count("search-validation", search_valid, n, allow_zero=True)
    if k_t + k_v >= n:
        raise ValueError(f"test {k_t} + search-validation {k_v} images leave none of the "
                         f"{n} for training; use smaller splits")
    perm = np.random.default_rng(int(seed)).permutation(n)
    masks = [np.zeros(n, bool) for _ in range(3)]
    masks[0][perm[:k_t]] = True
    masks[1][perm[k_t:k_t + k_v]] = True
    masks[2][perm[k_t + k_v:]] = True
    return Splits(n, int(seed), train=masks[2], search_valid=masks[1], test=masks[0],
                  own_test=own_test, own_test_digest=own_test_digest)


def splits_for(source: Any, test: float, search_valid: float = 0, seed: int = 0) -> Splits:
    """:func:`make_splits` for a :class:`~mhzoo.search.training.sources.DataSource`: its own
    evaluation split (``source.eval_source``) is the test split when it has one."""
    own = getattr(source, "eval_source", None)
    if own is None:
        return make_splits(source.num_examples, test, search_valid, seed)
    return make_splits(source.num_examples, test, search_valid, seed,
                       own_test=own.num_examples, own_test_digest=own.digest())


def check_record(record: dict[str, Any], num_examples: int, *, own_test: int | None = None,
                 own_test_digest: str | None = None) -> Splits:
    """Rebuild the splits a run recorded (:meth:`Splits.describe`) for data of
    ``num_examples`` examples, and refuse data that no longer gives the same ones.

    Raises:
        ValueError: (one line) another rule, another example count, or another test split.
    """
    if not isinstance(record, dict) or record.get("rule") != RULE:
        got = record.get("rule") if isinstance(record, dict) else record
        raise ValueError(f"the run's split record is not rule {RULE} (got {got!r})")
    if record.get("num_examples") != num_examples:
        raise ValueError(f"the data no longer matches the run's splits: the run split "
                         f"{record.get('num_examples')} images, the data has {num_examples}")
    own = record.get("test_from") == "own"
    if own and own_test is None:
        raise ValueError("the run's test split was the data's own evaluation split, which the "
                         "data no longer has")
    if not own and own_test is not None:
        raise ValueError("the data now has its own evaluation split, but the run carved its "
                         "test split from the training data")
    try:
        splits = make_splits(num_examples, record["test"] if not own else 1,
                             record.get("search_valid", 0), record["seed"],
                             own_test=own_test if own else None,
                             own_test_digest=own_test_digest if own else None)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"the run's split record lacks {exc}") from None
    mine = splits.describe()
    for key in ("test", "search_valid", "test_sha256"):
        if key in record and record[key] != mine[key]:
            raise ValueError(f"the data no longer matches the run's splits: {key} "
                             f"{record[key]!r} recorded, {mine[key]!r} now")
    return splits
