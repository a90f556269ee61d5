"""Input pipeline: TFRecord shards and folder trees, the seeded split, determinism, errors."""

from __future__ import annotations

import numpy as np
import pytest

from mhzoo.search.training import data as D


@pytest.fixture(scope="module")
def cifar(shared_dir):
    return D.open_data(shared_dir / "data" / "cifar10")


def _jpegs(cifar, n):
    """The first ``n`` (label, JPEG bytes) records of the shards."""
    import tensorflow as tf

    spec = {D.ENCODED_KEY: tf.io.FixedLenFeature([], tf.string),
            D.LABEL_KEY: tf.io.FixedLenFeature([], tf.int64)}
    out = []
    for rec in tf.data.TFRecordDataset(cifar.files[0]).take(n):
        p = tf.io.parse_single_example(rec, spec)
        out.append((int(p[D.LABEL_KEY]), p[D.ENCODED_KEY].numpy()))
    return out


def test_tfrecord_shards_and_split(cifar):
    assert cifar.kind == "tfrecord" and cifar.num_examples == 50000
    assert cifar.label_names[:2] == ["airplane", "automobile"] and cifar.num_classes == 10
    assert np.bincount(cifar.labels).tolist() == [5000] * 10
    mask = D.held_out_mask(cifar.num_examples, 5000, seed=0)
    assert mask.sum() == 5000
    assert np.array_equal(mask, D.held_out_mask(cifar.num_examples, 5000, seed=0))
    assert not np.array_equal(mask, D.held_out_mask(cifar.num_examples, 5000, seed=1))
    assert D.held_out_mask(1000, 0.1, 3).sum() == 100
    with pytest.raises(ValueError, match="leaves 0"):
        D.held_out_mask(10, 10, 0)


def test_train_pipeline_is_deterministic_resumable_and_in_0_255(cifar):
    mask = D.held_out_mask(cifar.num_examples, 5000, seed=0)
    kw = dict(mask=~mask, training=True, batch_size=8, image_size=32, augmentation="small",
              seed=1, limit=64, batches_per_epoch=4)
    full = [(x.numpy(), y.numpy()) for x, y in D.make_dataset(cifar, **kw).take(7)]
    x0 = full[0][0]
    assert x0.shape == (8, 32, 32, 3) and x0.dtype == np.float32
    assert x0.min() >= 0 and x0.max() <= 255 and x0.max() > 100
    again = [(x.numpy(), y.numpy()) for x, y in D.make_dataset(cifar, **kw).take(2)]
    assert np.array_equal(again[1][0], full[1][0])
    # resume at epoch 1, batch 1 == the 6th batch of the uninterrupted stream
    resumed = next(iter(D.make_dataset(cifar, **kw, start_epoch=1, skip_batches=1)))
    assert np.array_equal(resumed[0].numpy(), full[5][0])
    assert np.array_equal(resumed[1].numpy(), full[5][1])
    # each epoch reshuffles: same 32 images, other order and crops
    e0 = np.sort(np.concatenate([b[1] for b in full[:4]]))
    e1 = np.sort(np.concatenate([b[1] for b in full[4:7]] + [resumed[1].numpy()]))
    assert not np.array_equal(full[0][1], full[4][1]) or not np.array_equal(x0, full[4][0])
    assert len(e0) == 32 and len(e1) == 32


def test_eval_pipeline_pads_and_covers_the_split(cifar):
    mask = D.held_out_mask(cifar.num_examples, 5000, seed=0)
    ds = D.make_dataset(cifar, mask=mask, training=False, batch_size=64, image_size=32,
                        augmentation="small", limit=100)
    ys = np.concatenate([y.numpy() for _, y in ds])
    assert len(ys) == 128 and (ys >= 0).sum() == 100 and (ys[100:] == -1).all()
    whole = D.make_dataset(cifar, mask=mask, training=False, batch_size=1000, image_size=32,
                           augmentation="small")
    ys = np.concatenate([y.numpy() for _, y in whole])
    assert np.array_equal(np.bincount(ys, minlength=10), np.bincount(cifar.labels[mask],
                                                                     minlength=10))
    big = next(iter(D.make_dataset(cifar, mask=mask, training=False, batch_size=2,
                                   image_size=64, augmentation="resnet")))[0]
    assert big.shape == (2, 64, 64, 3)
    aug = next(iter(D.make_dataset(cifar, mask=~mask, training=True, batch_size=2,
                                   image_size=48, augmentation="resnet", limit=8)))[0]
    assert aug.shape == (2, 48, 48, 3)


def test_distributed_pipeline_one_replica(cifar):
    import tensorflow as tf

    strategy = tf.distribute.get_strategy()
    ds = D.distribute(strategy, cifar, global_batch=4, mask=None, training=True, image_size=32,
                      augmentation="small", limit=16, batches_per_epoch=4)
    x, _ = next(iter(ds))
    assert tuple(x.shape) == (4, 32, 32, 3)


def test_image_folder_tree(cifar, tmp_path):
    recs = _jpegs(cifar, 40)
    root = tmp_path / "user"
    for i, (label, jpg) in enumerate(recs):
        if label > 2:
            continue
        d = root / "train" / cifar.label_names[label]
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{i}.jpg").write_bytes(jpg)
    src = D.open_data(root)
    assert src.kind == "folder"
    assert src.label_names == sorted({cifar.label_names[la] for la, _ in recs if la <= 2})
    x, y = next(iter(D.make_dataset(src, mask=None, training=False, batch_size=4, image_size=32,
                                    augmentation="small")))
    assert x.shape == (4, 32, 32, 3)
    assert set(y.numpy().tolist()) <= set(range(src.num_classes))
    (root / "labels.txt").write_text("\n".join([*src.label_names, "zebra"]) + "\n")
    with pytest.raises(ValueError, match="labels/classes mismatch"):
        D.open_data(root)


def test_bad_inputs(cifar, tmp_path):
    import tensorflow as tf

    with pytest.raises(ValueError, match="not found"):
        D.open_data(tmp_path / "missing")
    (tmp_path / "empty" / "cat").mkdir(parents=True)
    (tmp_path / "empty" / "cat" / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="no images found"):
        D.open_data(tmp_path / "empty")
    other = tmp_path / "other"
    other.mkdir()
    ex = tf.train.Example(features=tf.train.Features(feature={
        "image/raw": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"x"])),
        "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[1]))}))
    with tf.io.TFRecordWriter(str(other / "train-00000-of-00001.tfrecord")) as w:
        w.write(ex.SerializeToString())
    with pytest.raises(ValueError, match="not in the ImageNet TFRecord schema"):
        D.open_data(other)
    wrong = tmp_path / "wrong_labels.txt"
    wrong.write_text("a\nb\nc\n")
    with pytest.raises(ValueError, match=r"labels/classes mismatch.*3 classes"):
        D.open_data(cifar.root, labels_file=wrong)
    renamed = tmp_path / "renamed.txt"
    renamed.write_text("\n".join(["plane", *cifar.label_names[1:]]) + "\n")
    with pytest.raises(ValueError, match="names class 0 'plane'"):
        D.open_data(cifar.root, labels_file=renamed)
