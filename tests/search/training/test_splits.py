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


# ----------------------------------------------------------------------------- recipes
def test_recipe_split_fields_and_the_old_name():
    from mhzoo.search.training.recipes import Recipe, get_preset

    r = get_preset("cifar10-proxy")
    assert (r.test, r.search_valid, r.split_seed, r.held_out) == (5000, 0, 0, 5000)
    assert r.replace(held_out=100).test == 100  # the old name still sets the test split
    assert r.replace(test=200).held_out == 200  # ... and reads it
    assert r.replace(search_valid=300).test == 5000
    with pytest.raises(ValueError, match="not both"):
        r.replace(test=1, held_out=2)
    assert "held_out" not in r.to_dict() and r.to_dict()["test"] == 5000
    old = {**r.to_dict(), "held_out": 300}
    old.pop("test")
    assert Recipe.from_dict(old).test == 300  # a run.json written before the rule
    assert Recipe.from_dict(r.to_dict()) == r
    for bad, match in (({"test": 2.5}, "test split"), ({"search_valid": -1}, "search-valid"),
                       ({"split_seed": 1.5}, "split_seed")):
        with pytest.raises(ValueError, match=match):
            r.replace(**bad)


# ----------------------------------------------------------------------------- own split
def _png_folder(tree, n, classes=("a", "b")):
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(n):
        d = tree / classes[i % len(classes)]
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(d / f"{i}.png")


def _shard(path, n, label=0):
    import io

    import tensorflow as tf
    from PIL import Image

    from mhzoo.search.training.sources import ENCODED_KEY, LABEL_KEY

    buf = io.BytesIO()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(buf, "PNG")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as w:
        for i in range(n):
            w.write(tf.train.Example(features=tf.train.Features(feature={
                ENCODED_KEY: tf.train.Feature(bytes_list=tf.train.BytesList(
                    value=[buf.getvalue()])),
                LABEL_KEY: tf.train.Feature(int64_list=tf.train.Int64List(
                    value=[(label + i) % 2]))})).SerializeToString())


def test_folder_own_evaluation_split(tmp_path):
    from mhzoo.search.training import data as D

    _png_folder(tmp_path / "d" / "train", 20)
    _png_folder(tmp_path / "d" / "val", 6)
    src = D.open_data(tmp_path / "d")
    assert src.num_examples == 20 and src.eval_source.num_examples == 6
    assert src.eval_source.label_names == src.label_names == ["a", "b"]
    s = D.splits_for(src, 5, 3, 0)
    assert s.describe()["test_from"] == "own" and s.describe()["test"] == 6
    assert s.train.sum() == 17 and not s.test.any()  # nothing carved from train
    ev, mask = D.split_source(src, s, "test")
    assert ev is src.eval_source and mask is None
    assert D.split_source(src, s, "train")[0] is src
    # without train/ a val folder is a class like any other
    _png_folder(tmp_path / "flat", 8, classes=("a", "val"))
    flat = D.open_data(tmp_path / "flat")
    assert flat.eval_source is None and flat.label_names == ["a", "val"]
    # an evaluation class the training data lacks
    _png_folder(tmp_path / "d" / "validation", 4, classes=("a", "zebra"))
    with pytest.raises(ValueError, match="zebra"):
        D.open_data(tmp_path / "d")


def test_tfrecord_own_evaluation_split(tmp_path):
    from mhzoo.search.training import data as D

    root = tmp_path / "shards"
    _shard(root / "train-00000-of-00001", 12)
    _shard(root / "validation-00000-of-00001", 5)
    _shard(root / "validation.tfrecord", 3)  # an evaluation shard even with .tfrecord
    src = D.open_data(root)
    assert [p.rsplit("/", 1)[1] for p in src.files] == ["train-00000-of-00001"]
    assert src.num_examples == 12 and src.eval_source.num_examples == 8
    assert "eval_split" in src.describe()
    # shards in train/ with their evaluation split in validation/ beside it
    other = tmp_path / "tree"
    _shard(other / "train" / "a.tfrecord", 10)
    _shard(other / "validation" / "b.tfrecord", 4)
    src2 = D.open_data(other)
    assert src2.num_examples == 10 and src2.eval_source.num_examples == 4
    # no evaluation split: none invented
    lone = tmp_path / "lone"
    _shard(lone / "train-00000-of-00001", 6)
    assert D.open_data(lone).eval_source is None


def test_split_data_of_old_and_new_records():
    from mhzoo.search.training.evaluate import split_data
    from mhzoo.search.training.sources import DataSource

    src = DataSource("folder", "/nowhere", [f"/nowhere/{i}.png" for i in range(100)], [100],
                     np.zeros(100, np.int32), ["a", "b"])
    ref = make_splits(100, 10, 20, 5)
    new = {"splits": ref.describe(), "data": {"num_examples": 100, "test": 10}}
    for name in ("test", "search_valid", "train", "final_train"):
        got_src, mask, split = split_data(src, name, new)
        assert got_src is src and split == name and np.array_equal(mask, ref.mask(name))
    assert split_data(src, "auto", new)[2] == "test"
    assert np.array_equal(split_data(src, "held_out", new)[1], ref.test)  # the old name
    assert split_data(src, "all", new)[1] is None
    # a checkpoint from before the rule: held_out size and split seed = its held-out mask
    old = {"data": {"num_examples": 100, "held_out": 10, "split_seed": 5}}
    assert np.array_equal(split_data(src, "held_out", old)[1], make_splits(100, 10, 0, 5).test)
    # the data changed since the run
    grown = DataSource("folder", "/nowhere", [f"/nowhere/{i}.png" for i in range(101)], [101],
                       np.zeros(101, np.int32), ["a", "b"])
    for rec in (new, old):
        with pytest.raises(ValueError, match="100") as e:
            split_data(grown, "test", rec)
        assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match="needs the split sizes"):
        split_data(src, "test", None)
    assert split_data(src, "auto", None)[2] == "all"
