"""Three disjoint splits from one seeded rule (proposed for ``search/training/data.py``).

Rule ``mhzoo.splits/v1``: ``perm = numpy.random.default_rng(split_seed).permutation(n)`` over
the source's global example order (TFRecord: shard order then record order; folders: class
order then sorted file name; TFDS: the ``train`` split order), then

* ``test``         = ``perm[:n_test]``
* ``search_valid`` = ``perm[n_test : n_test + n_search_valid]``
* ``train``        = the rest.

``test`` depends only on ``(n, n_test, split_seed)``: every entry point (``mhzoo train``,
``search run``, ``regenerate``, benchmarks, ``mhzoo eval``) that uses the same three numbers sees
the same test images, whatever its search-validation size. With ``n_search_valid = 0`` (plain
training) ``train`` is everything but ``test``. The old ``held_out_mask(n, k, seed)`` is exactly
``test`` with ``n_test = k, split_seed = seed``: a checkpoint trained before the change keeps
its held-out images as its test split (but searches before the change rewarded the controller on
them: such results are not test accuracies).

When the data has its own evaluation split (``validation-*`` shards or a ``val/`` /
``validation/`` / ``test/`` folder beside ``train/``), ``test`` is that split and nothing is
carved for it (``n_test = 0`` over train).

``describe()`` is what ``run.json`` and ``search_result.json`` record; a resumed run or
``mhzoo eval --split test`` rebuilds the masks from it and refuses a mismatch (``num_examples``
or the test digest).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

RULE = "mhzoo.splits/v1"
NAMES = ("train", "search_valid", "test")


@dataclass(frozen=True)
class Splits:
    """Boolean masks over the source's global example order."""

    num_examples: int
    seed: int
    n_test: int
    n_search_valid: int
    test: np.ndarray
    search_valid: np.ndarray
    train: np.ndarray

    def mask(self, name: str) -> np.ndarray:
        """Mask of ``train`` / ``search_valid`` / ``test`` / ``final_train`` (train + search_valid:
        what the final retraining may use; never ``test``)."""
        if name == "final_train":
            return self.train | self.search_valid
        if name not in NAMES:
            raise ValueError(
                f"unknown split {name!r}; expected one of {', '.join(NAMES)}, final_train"
            )
        return getattr(self, name)

    def describe(self) -> dict:
        """What run.json records (and what a rebuild is checked against)."""
        idx = np.flatnonzero(self.test).astype("<i8").tobytes()
        return {
            "rule": RULE,
            "seed": self.seed,
            "num_examples": self.num_examples,
            "test": self.n_test,
            "search_valid": self.n_search_valid,
            "train": int(self.train.sum()),
            "test_sha256": hashlib.sha256(idx).hexdigest()[:16],
        }


def _count(label: str, value: float, n: int) -> int:
    k = round(value * n) if 0 < value < 1 else int(value)
    if k < 0:
        raise ValueError(f"{label} split must be >= 0, got {value!r}")
    return k


def make_splits(
    num_examples: int, *, test: float, search_valid: float = 0, seed: int = 0
) -> Splits:
    """The three splits (sizes: a fraction in (0, 1) or a count)."""
    n = int(num_examples)
    k_t = _count("test", test, n)
    k_v = _count("search-validation", search_valid, n)
    if k_t + k_v >= n:
        raise ValueError(
            f"test {k_t} + search-validation {k_v} images leave none of {n} for training"
        )
    perm = np.random.default_rng(seed).permutation(n)
    masks = {name: np.zeros(n, bool) for name in NAMES}
    masks["test"][perm[:k_t]] = True
    masks["search_valid"][perm[k_t : k_t + k_v]] = True
    masks["train"][perm[k_t + k_v :]] = True
    return Splits(n, int(seed), k_t, k_v, masks["test"], masks["search_valid"], masks["train"])


def check_record(splits: Splits, record: dict) -> None:
    """Refuse to rebuild splits that differ from a run's record (one-line ``ValueError``)."""
    mine = splits.describe()
    for key in ("rule", "num_examples", "seed", "test", "search_valid", "test_sha256"):
        if key in record and record[key] != mine[key]:
            raise ValueError(
                f"data splits differ from the run's record: {key} {record[key]!r} "
                f"recorded, {mine[key]!r} now"
            )


if __name__ == "__main__":
    s = make_splits(50000, test=5000, search_valid=5000, seed=0)
    assert not (s.test & s.search_valid).any() and not (s.test & s.train).any()
    assert not (s.search_valid & s.train).any() and (s.test | s.search_valid | s.train).all()
    plain = make_splits(50000, test=5000, seed=0)  # mhzoo train without search
    assert (plain.test == s.test).all() and not (plain.train & s.test).any()
    old = np.zeros(50000, bool)  # d62f890 held_out_mask(50000, 5000, 0)
    old[np.random.default_rng(0).permutation(50000)[:5000]] = True
    assert (old == s.test).all()
    print(s.describe())
