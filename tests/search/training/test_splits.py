"""Rule ``mhzoo.splits/v1``: three disjoint splits, stable, recorded and checked."""

from __future__ import annotations

import numpy as np
import pytest

from mhzoo.search.training.splits import RULE, check_record, make_splits

#: sha256 of the sorted test indices of make_splits(50000, 5000, seed=0): the rule may never
#: change silently (every recorded run would point at other images)
SHA_50000_5000_SEED0 = "9ed009254d42ec2d6f171a9861cc0276ee32b39821e1cda3ecb7c7453097a0f2"


def test_rule_is_stable():
    s = make_splits(50000, 5000, 5000, 0)
    d = s.describe()
    assert d["rule"] == RULE
    assert d["test_sha256"] == SHA_50000_5000_SEED0
    assert (d["test"], d["search_valid"], d["train"]) == (5000, 5000, 40000)
    # the test split depends only on (n, n_test, seed): plain training sees the same test
    plain = make_splits(50000, 5000, 0, 0)
    assert plain.describe()["test_sha256"] == SHA_50000_5000_SEED0
    assert np.array_equal(plain.test, s.test)
    assert np.array_equal(plain.train, s.final_train)
    # the same as the old held-out mask for split seed = run seed
    old = np.zeros(50000, bool)
    old[np.random.default_rng(0).permutation(50000)[:5000]] = True
    assert np.array_equal(old, s.test)


def test_masks_disjoint_and_cover():
    s = make_splits(1000, 0.1, 0.2, seed=3)
    assert s.test.sum() == 100 and s.search_valid.sum() == 200 and s.train.sum() == 700
    assert not (s.test & s.search_valid).any()
    assert not (s.test & s.final_train).any()
    assert not (s.train & s.search_valid).any()
    assert (s.test | s.search_valid | s.train).all()
    assert np.array_equal(s.mask("final_train"), s.train | s.search_valid)
    other = make_splits(1000, 0.1, 0.2, seed=4)
    assert not np.array_equal(other.test, s.test)


def test_describe_is_plain_json():
    import json

    d = make_splits(50, 5, 5, 1).describe()
    assert json.loads(json.dumps(d)) == d


def test_check_record_rebuilds_and_refuses():
    rec = make_splits(500, 50, 25, 7).describe()
    again = check_record(rec, 500)
    assert again.describe() == rec
    with pytest.raises(ValueError, match=r"no longer matches.*500.*501") as e:
        check_record(rec, 501)
    assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match="test_sha256"):
        check_record({**rec, "test_sha256": "0" * 64}, 500)
    with pytest.raises(ValueError, match="not rule"):
        check_record({**rec, "rule": "other"}, 500)
    with pytest.raises(ValueError, match="own evaluation split"):
        check_record(rec, 500, own_test=10, own_test_digest="x")


def test_own_test_split_carves_nothing():
    s = make_splits(100, 10, 20, 0, own_test=40, own_test_digest="abc")
    assert not s.test.any() and s.n_test == 40
    assert s.search_valid.sum() == 20 and s.train.sum() == 80
    d = s.describe()
    assert d["test_from"] == "own" and d["test_sha256"] == "abc" and d["test"] == 40
    assert check_record(d, 100, own_test=40, own_test_digest="abc").describe() == d
    with pytest.raises(ValueError, match="test_sha256"):
        check_record(d, 100, own_test=40, own_test_digest="abd")
    with pytest.raises(ValueError, match="no longer has"):
        check_record(d, 100)


@pytest.mark.parametrize("kwargs, match", [
    (dict(test=1.5), "test split must be a fraction"),
    (dict(test=0), "test split must be"),
    (dict(test=-3), "test split must be"),
    (dict(test=float("nan")), "test split must be"),
    (dict(test=True), "test split must be"),
    (dict(test=10, search_valid=2.5), "search-validation split must be"),
    (dict(test=60, search_valid=40), "leave none of the 100"),
    (dict(test=0.5, search_valid=0.5), "leave none"),
    (dict(test=10, seed=1.5), "split seed must be an integer"),
])
def test_sizes_validated_one_line(kwargs, match):
    with pytest.raises(ValueError, match=match) as e:
        make_splits(100, **kwargs)
    assert "\n" not in str(e.value)


def test_unknown_split_name():
    with pytest.raises(ValueError, match="unknown split 'held_out'"):
        make_splits(100, 10).mask("held_out")
