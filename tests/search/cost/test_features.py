"""The TuNAS linear cost-model features: one-hot Kronecker products per slot, the memoized
matrix equal to the direct recursion, and TuNAS's feature count."""

from __future__ import annotations

import numpy as np
import pytest

from mhzoo.search import get_space, list_spaces
from mhzoo.search.cost.features import (
    feature_matrix,
    feature_size,
    features_from_masks,
    genotype_features,
    masks_of,
    slot_index,
)


@pytest.mark.parametrize("name", list_spaces())
def test_one_active_feature_per_slot(name):
    space = get_space(name)
    g = space.sample(11)
    f = genotype_features(space, g)
    assert len(f) == feature_size(space)
    assert set(np.unique(f)) <= {0.0, 1.0}
    # one active feature per slot that has features (each is a one-hot Kronecker product)
    assert f.sum() == len(slot_index(space).slots)
    assert not np.array_equal(genotype_features(space, space.sample(12)), f)


@pytest.mark.parametrize("name", ["multi_hardware", "mobilenet_v3_like"])
def test_memoized_matrix_equals_the_recursion(name):
    space = get_space(name)
    gs = [space.sample(s) for s in range(20)]
    direct = np.array([features_from_masks(space, masks_of(space, g)) for g in gs])
    np.testing.assert_array_equal(feature_matrix(space, gs), direct)
    # a genotype's features move when one decision moves (the recursion reads every mask)
    assert len({row.tobytes() for row in direct}) == len(gs)


def test_proxylessnas_feature_size_matches_tunas():
    """TuNAS's proxylessnas_search cost model has 144 features (search-algorithm.md s. 4)."""
    assert feature_size(get_space("proxylessnas")) == 144
