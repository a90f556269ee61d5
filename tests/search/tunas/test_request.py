"""What a search is asked to do, checked before anything runs: the three splits (training on
``train``, reward on ``search_valid``, the test split never opened, the record checked on
resume), the reference latencies of every cost-model folder, simulated targets."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from mhzoo.search import get_space
from mhzoo.search.cost.folder import write_reference
from mhzoo.search.tunas.request import check_split_record, prepare_search, simulated_targets

SPACE = {"input_size": 32, "width": 0.25, "max_layers": 1}
SPLITS = {"shared": {"test": 6, "search_valid": 8, "split_seed": 3}}


@pytest.fixture(scope="module")
def folder_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("imgs")
    rng = np.random.default_rng(0)
    for c in range(2):
        (root / f"c{c}").mkdir()
        for i in range(20):
            Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(
                root / f"c{c}" / f"{i:02d}.png")
    return root


@pytest.fixture(scope="module")
def costs(tmp_path_factory, write_cost_models):
    folder = tmp_path_factory.mktemp("cm")
    factors = write_cost_models(folder, get_space("multi_hardware", **SPACE), n=40)
    return folder, factors


def _prepare(cost_models, data, **kw):
    return prepare_search(reward="max", cost_models=cost_models, data=data,
                          space_options={"max_layers": 1}, overrides=SPLITS, **kw)


def _two_folders(costs, tmp_path):
    """Folders a (cpu_fp32's model) and b (cpu_int8's), each with its own reference_ms.json."""
    src, factors = costs
    a, b = tmp_path / "a", tmp_path / "b"
    for folder, t in ((a, "cpu_fp32"), (b, "cpu_int8")):
        folder.mkdir()
        shutil.copy(src / f"{t}.json", folder / f"{t}.json")
        write_reference(folder, {t: factors[t]}, reference="r", input_size=32)
    return a, b


def test_search_trains_on_train_rewards_on_search_valid_and_records_the_splits(costs,
                                                                              folder_data):
    p = _prepare(costs[0], folder_data)
    s = p.splits
    assert (int(s.test.sum()), int(s.search_valid.sum()), int(s.train.sum())) == (6, 8, 26)
    assert not (s.test & (p.train_mask | p.valid_mask)).any()  # the search never reads test
    assert p.train_mask is s.train and p.valid_mask is s.search_valid
    assert (p.n_train, p.n_valid) == (26, 8)
    rec = p.record(1, 8, 10)
    assert rec["splits"] == s.describe() and rec["splits"]["rule"] == "mhzoo.splits/v1"
    assert rec["splits"]["seed"] == 3  # the preset's split seed, not the run's seed
    # the same test images whatever the run seed
    q = _prepare(costs[0], folder_data, seed=11)
    assert (q.splits.test == s.test).all()
    check_split_record(p, rec)  # the same data: fine
    changed = json.loads(json.dumps(rec))
    changed["splits"]["num_examples"] = 41
    with pytest.raises(ValueError, match="no longer matches the run's splits") as e:
        check_split_record(p, changed)
    assert "\n" not in str(e.value)
    changed = json.loads(json.dumps(rec))
    changed["splits"]["test_sha256"] = "0" * 64
    with pytest.raises(ValueError, match="test_sha256"):
        check_split_record(p, changed)


def test_too_small_data_names_the_presets_splits(costs, folder_data):
    with pytest.raises(ValueError, match="too few for the cpu-proxy preset's splits") as e:
        prepare_search(reward="max", cost_models=costs[0], data=folder_data,
                       space_options={"max_layers": 1})
    assert "\n" not in str(e.value) and "has 40 images" in str(e.value)
    with pytest.raises(ValueError, match="no search-validation split"):
        prepare_search(reward="max", cost_models=costs[0], data=folder_data,
                       space_options={"max_layers": 1},
                       overrides={"shared": {"test": 6, "search_valid": 0}})


def test_reference_latencies_come_from_every_cost_folder(costs, folder_data, tmp_path):
    factors = costs[1]
    a, b = _two_folders(costs, tmp_path)
    p = _prepare([a, b], folder_data)  # each folder gives its own target's factor
    assert p.factors == pytest.approx(factors)
    write_reference(b, {"cpu_int8": factors["cpu_int8"], "cpu_fp32": factors["cpu_fp32"]},
                    reference="r", input_size=32)
    assert _prepare([a, b], folder_data).factors == pytest.approx(factors)  # agreeing: fine
    write_reference(b, {"cpu_int8": factors["cpu_int8"],
                        "cpu_fp32": factors["cpu_fp32"] * 1.5}, reference="r", input_size=32)
    with pytest.raises(ValueError, match="disagree on the reference latency of cpu_fp32") as e:
        _prepare([a, b], folder_data)
    assert "\n" not in str(e.value)


def test_simulated_targets_are_named(costs):
    from mhzoo.search.cost.folder import load_cost_models

    space = get_space("multi_hardware", **SPACE)
    models = load_cost_models(costs[0], space)
    assert simulated_targets(models) == []
    models["cpu_int8"].info["simulated"] = True
    assert simulated_targets(models) == ["cpu_int8"]


def test_reference_latencies_beside_cost_model_files(costs, folder_data, tmp_path):
    """Cost models given as files: the reference_ms.json of each file's folder is read."""
    factors = costs[1]
    a, b = _two_folders(costs, tmp_path)
    p = _prepare([a / "cpu_fp32.json", b / "cpu_int8.json"], folder_data)
    assert p.factors == pytest.approx(factors)
    (b / "reference_ms.json").unlink()
    with pytest.raises(ValueError, match=r"no MN-Norm factor .* for target.s. cpu_int8"):
        _prepare([a / "cpu_fp32.json", b / "cpu_int8.json"], folder_data)
    (a / "reference_ms.json").unlink()
    with pytest.raises(ValueError, match="the max reward needs the MN-Norm factors") as e:
        _prepare([a / "cpu_fp32.json", b / "cpu_int8.json"], folder_data)
    assert "\n" not in str(e.value)
