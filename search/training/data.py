"""The input pipeline over a :class:`~mhzoo.search.training.sources.DataSource`: decoding,
augmentation, batching and per-replica sharding.

* :func:`make_dataset` builds one replica pipeline: deterministic per epoch (a seeded shuffle
  and stateless augmentation keyed by ``(seed, epoch, example index)``), so a run resumed at
  ``(epoch, batch)`` sees exactly the batches an uninterrupted run sees; parallel decode,
  prefetch, optional in-memory cache of the encoded bytes, and sharding per input pipeline.
* :func:`distribute` wraps it for a ``tf.distribute`` strategy
  (``distribute_datasets_from_function``).
* :func:`find_undecodable` names the first file of a split that does not decode (the message of
  a failed step).

Images leave the pipeline as float32 RGB in [0, 255]: mhzoo models carry their normalization
inside (``include_preprocessing=True``), the one place where preprocessing is defined. Every
TensorFlow import is function-level, so that the sources are read without TensorFlow where
they can be.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mhzoo._quiet import native_stderr_muted
from mhzoo.search.training.sources import (
    ENCODED_KEY,
    LABEL_KEY,
    DataSource,
    held_out_mask,
    open_data,
)
from mhzoo.search.training.splits import Splits, make_splits, splits_for

__all__ = ["DataSource", "Splits", "distribute", "find_undecodable", "held_out_mask",
           "make_dataset", "make_splits", "open_data", "preprocess_eval", "preprocess_train",
           "split_source", "splits_for"]

SHUFFLE_BUFFER = 16384
CYCLE_LENGTH = 16


# ----------------------------------------------------------------------------- preprocessing
def _decode(encoded: Any) -> Any:
    import tensorflow as tf  # lazy: no TensorFlow at import time

    image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
    image.set_shape([None, None, 3])
    return image


def _resize(image: Any, size: int) -> Any:
    import tensorflow as tf  # lazy: no TensorFlow at import time

    shape = tf.shape(image)
    same = tf.logical_and(tf.equal(shape[0], size), tf.equal(shape[1], size))
    return tf.cond(same, lambda: tf.cast(image, tf.float32),
                   lambda: tf.image.resize(image, [size, size], method="bilinear"))


def _crop_decode(encoded: Any, window: Any) -> Any:
    """Decode only ``window`` (y, x, h, w) of a JPEG; other formats decode, then slice."""
    import tensorflow as tf  # lazy: no TensorFlow at import time

    is_jpeg = tf.equal(tf.strings.substr(encoded, 0, 3), b"\xff\xd8\xff")

    def jpeg() -> Any:
        return tf.io.decode_and_crop_jpeg(encoded, window, channels=3)

    def other() -> Any:
        img = _decode(encoded)
        return tf.slice(img, [window[0], window[1], 0], [window[2], window[3], 3])

    img = tf.cond(is_jpeg, jpeg, other)
    img.set_shape([None, None, 3])
    return img


def _image_shape(encoded: Any) -> Any:
    import tensorflow as tf  # lazy: no TensorFlow at import time

    is_jpeg = tf.equal(tf.strings.substr(encoded, 0, 3), b"\xff\xd8\xff")
    return tf.cond(is_jpeg, lambda: tf.io.extract_jpeg_shape(encoded)[:2],
                   lambda: tf.shape(_decode(encoded), out_type=tf.int32)[:2])


def preprocess_train(encoded: Any, seed: Any, *, size: int, augmentation: str, pad: int = 4
                     ) -> Any:
    """One training image, float32 [0, 255] ``size x size x 3``, from its encoded bytes.

    ``"resnet"``: random resized crop (area 8-100 %, aspect 3/4-4/3, the ResNet / Inception
    recipe of the TF Model Garden) decoded straight from the JPEG, bilinear resize, random
    flip. ``"small"``: resize if needed, zero-pad ``pad`` pixels, random ``size`` crop, random
    flip (the CIFAR recipe). All randomness is stateless from ``seed`` (shape [2]).
    """
    import tensorflow as tf  # lazy: no TensorFlow at import time

    s1 = tf.random.experimental.stateless_fold_in(seed, 1)
    s2 = tf.random.experimental.stateless_fold_in(seed, 2)
    if augmentation == "small":
        img = _resize(_decode(encoded), size)
        img = tf.pad(img, [[pad, pad], [pad, pad], [0, 0]])
        img = tf.image.stateless_random_crop(img, [size, size, 3], seed=s1)
    else:
        shape = _image_shape(encoded)
        begin, extent, _ = tf.image.stateless_sample_distorted_bounding_box(
            tf.concat([shape, [3]], 0), bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]),
            seed=s1, min_object_covered=0.1, aspect_ratio_range=(3 / 4, 4 / 3),
            area_range=(0.08, 1.0), max_attempts=10, use_image_if_no_bounding_boxes=True)
        window = tf.stack([begin[0], begin[1], extent[0], extent[1]])
        img = tf.image.resize(_crop_decode(encoded, window), [size, size], method="bilinear")
    img = tf.image.stateless_random_flip_left_right(img, seed=s2)
    return tf.ensure_shape(tf.cast(img, tf.float32), [size, size, 3])


def preprocess_eval(encoded: Any, *, size: int, augmentation: str, crop_fraction: float = 0.875
                    ) -> Any:
    """One evaluation image, float32 [0, 255]: ``"resnet"`` centre crop of ``crop_fraction``
    of the shorter side then resize; ``"small"`` resize only (identity for 32 px CIFAR)."""
    import tensorflow as tf  # lazy: no TensorFlow at import time

    if augmentation == "small":
        img = _resize(_decode(encoded), size)
    else:
        shape = _image_shape(encoded)
        crop = tf.cast(crop_fraction * tf.cast(tf.reduce_min(shape), tf.float32), tf.int32)
        y = (shape[0] - crop + 1) // 2
        x = (shape[1] - crop + 1) // 2
        img = tf.image.resize(_crop_decode(encoded, tf.stack([y, x, crop, crop])), [size, size],
                              method="bilinear")
    return tf.ensure_shape(tf.cast(img, tf.float32), [size, size, 3])


# ----------------------------------------------------------------------------- splits
def split_source(source: DataSource, splits: Splits, name: str
                 ) -> tuple[DataSource, np.ndarray | None]:
    """``(source, mask)`` that hold split ``name`` (``train``, ``search_valid``, ``test``,
    ``final_train``) for :func:`make_dataset`: the test split of data with its own evaluation
    split is all of ``source.eval_source``; every other split is a mask over ``source``."""
    if name == "test" and splits.own_test is not None:
        if source.eval_source is None:
            raise ValueError(f"the splits name the data's own evaluation split but {source.root} "
                             "has none")
        return source.eval_source, None
    return source, splits.mask(name)


# ----------------------------------------------------------------------------- pipeline
def _records(source: DataSource, num_shards: int, shard_index: int) -> Any:
    """``(global index, encoded bytes, label)`` in global order (deterministic)."""
    import tensorflow as tf  # lazy: no TensorFlow at import time

    if source.kind == "tfrecord":
        offsets = np.concatenate([[0], np.cumsum(source.counts)[:-1]]).astype(np.int64)
        spec = {ENCODED_KEY: tf.io.FixedLenFeature([], tf.string),
                LABEL_KEY: tf.io.FixedLenFeature([], tf.int64)}

        def shard(path: Any, offset: Any) -> Any:
            def parse(i: Any, record: Any) -> Any:
                p = tf.io.parse_single_example(record, spec)
                return offset + i, p[ENCODED_KEY], tf.cast(p[LABEL_KEY], tf.int32)

            return tf.data.TFRecordDataset(path, buffer_size=1 << 20).enumerate().map(parse)

        files = tf.data.Dataset.from_tensor_slices((source.files, offsets))
        ds = files.interleave(shard, cycle_length=min(CYCLE_LENGTH, len(source.files)),
                              block_length=1, num_parallel_calls=tf.data.AUTOTUNE,
                              deterministic=True)
    elif source.kind == "folder":
        idx = np.arange(len(source.files), dtype=np.int64)

        def read(i: Any, path: Any, label: Any) -> Any:
            return i, tf.io.read_file(path), label

        ds = tf.data.Dataset.from_tensor_slices((idx, source.files, source.labels)).map(
            read, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    else:
        import tensorflow_datasets as tfds  # lazy: no TensorFlow at import time

        raw = tfds.builder(source.tfds_name).as_dataset(
            split="train", shuffle_files=False, decoders={"image": tfds.decode.SkipDecoding()})

        def pick(i: Any, x: Any) -> Any:
            return i, x["image"], tf.cast(x["label"], tf.int32)

        ds = raw.enumerate().map(pick)
    if num_shards > 1:
        ds = ds.shard(num_shards, shard_index)
    return ds


def make_dataset(source: DataSource, *, mask: np.ndarray | None, training: bool,
                 batch_size: int, image_size: int, augmentation: str, seed: int = 0,
                 start_epoch: int = 0, skip_batches: int = 0, batches_per_epoch: int | None = None,
                 crop_fraction: float = 0.875, pad: int = 4, cache: bool = False,
                 num_shards: int = 1, shard_index: int = 0, limit: int | None = None) -> Any:
    """One input pipeline of ``(images float32 [0, 255], labels int32)`` batches.

    Args:
        source: from :func:`open_data`.
        mask: examples to keep (``held_out_mask`` or its negation); ``None`` keeps all.
        training: augment, shuffle per epoch and repeat forever (epoch by epoch, each
            ``batches_per_epoch`` long); otherwise one deterministic pass, the last batch padded
            to ``batch_size`` with label -1 (static shapes for TPUs; count only labels >= 0).
        batch_size: batch of this pipeline (per replica under ``distribute``).
        seed: run seed; epoch ``e`` shuffles and augments with ``(seed, e)``.
        start_epoch, skip_batches: resume position (the first epoch skips that many batches
            before decoding).
        cache: keep the encoded bytes of the split in memory after the first pass.
        num_shards, shard_index: input-pipeline sharding (multi-worker).
        limit: keep only the first ``limit`` examples of the split (tests, quick checks).
    """
    import tensorflow as tf  # lazy: no TensorFlow at import time

    base = _records(source, num_shards, shard_index)
    if mask is not None:
        keep = tf.constant(mask)

        def selected(i: Any, *_: Any) -> Any:
            return tf.gather(keep, i)

        base = base.filter(selected)
    if limit is not None:
        base = base.take(limit)
    if cache:
        base = base.cache()
    opts = tf.data.Options()
    opts.deterministic = True
    opts.experimental_optimization.map_parallelization = True

    if not training:
        def prep(i: Any, encoded: Any, label: Any) -> Any:
            return preprocess_eval(encoded, size=image_size, augmentation=augmentation,
                                   crop_fraction=crop_fraction), label

        def pad_batch(x: Any, y: Any) -> Any:
            n = batch_size - tf.shape(y)[0]
            x = tf.pad(x, [[0, n], [0, 0], [0, 0], [0, 0]])
            y = tf.pad(y, [[0, n]], constant_values=-1)
            return (tf.ensure_shape(x, [batch_size, image_size, image_size, 3]),
                    tf.ensure_shape(y, [batch_size]))

        ds = base.map(prep, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size).map(pad_batch)
        return ds.prefetch(tf.data.AUTOTUNE).with_options(opts)

    n_split = int(mask.sum()) if mask is not None else source.num_examples
    if limit is not None:
        n_split = min(n_split, limit)
    buffer = min(SHUFFLE_BUFFER, max(n_split // max(num_shards, 1), 1))
    if batches_per_epoch is None:
        batches_per_epoch = n_split // max(num_shards, 1) // batch_size
    if batches_per_epoch < 1:
        raise ValueError(f"the training split has {n_split} images, fewer than one batch of "
                         f"{batch_size}; use a smaller batch")

    def epoch_data(epoch: Any) -> Any:
        epoch_seed = tf.cast(seed, tf.int64) * 1_000_003 + epoch
        ds = base.shuffle(buffer, seed=epoch_seed, reshuffle_each_iteration=False)
        skip = tf.where(tf.equal(epoch, start_epoch), tf.cast(skip_batches * batch_size,
                                                                tf.int64), tf.constant(0, tf.int64))

        def prep(i: Any, encoded: Any, label: Any) -> Any:
            key = tf.stack([epoch_seed, i])
            return preprocess_train(encoded, key, size=image_size, augmentation=augmentation,
                                    pad=pad), label

        ds = ds.take(batches_per_epoch * batch_size).skip(skip)
        return ds.map(prep, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    epochs = tf.data.Dataset.counter(start_epoch, dtype=tf.int64)
    ds = epochs.flat_map(epoch_data).batch(batch_size, drop_remainder=True)
    return ds.prefetch(tf.data.AUTOTUNE).with_options(opts)


def distribute(strategy: Any, source: DataSource, *, global_batch: int, **kwargs: Any) -> Any:
    """``make_dataset`` for every input pipeline of ``strategy`` (per-replica batches).

    The global batch is split evenly across replicas; each input pipeline (one per worker)
    reads ``1 / num_input_pipelines`` of the examples. ``skip_batches`` is in global batches.
    """
    import tensorflow as tf  # lazy: no TensorFlow at import time

    replicas = strategy.num_replicas_in_sync
    if global_batch % replicas:
        raise ValueError(f"global batch {global_batch} is not divisible by the {replicas} "
                         "replicas")
    skip = kwargs.pop("skip_batches", 0)
    per_epoch = kwargs.pop("batches_per_epoch", None)

    def fn(ctx: tf.distribute.InputContext) -> Any:
        per_replica = ctx.get_per_replica_batch_size(global_batch)
        local = replicas // ctx.num_input_pipelines  # replicas fed by this pipeline
        return make_dataset(source, batch_size=per_replica, num_shards=ctx.num_input_pipelines,
                            shard_index=ctx.input_pipeline_id, skip_batches=skip * local,
                            batches_per_epoch=None if per_epoch is None else per_epoch * local,
                            **kwargs)

    return strategy.distribute_datasets_from_function(fn)


def find_undecodable(source: DataSource, mask: np.ndarray | None = None) -> str | None:
    """The first example of the split (``mask``; ``None``: all) whose image does not decode,
    named by file (or shard and record number); ``None`` when every image decodes. The
    decoder's own stderr lines are muted: the caller names the file in one line."""
    with native_stderr_muted():
        return _first_undecodable(source, mask)


def _first_undecodable(source: DataSource, mask: np.ndarray | None) -> str | None:
    import tensorflow as tf  # lazy: no TensorFlow at import time

    if source.kind == "folder":
        for i, path in enumerate(source.files):
            if mask is not None and not mask[i]:
                continue
            try:
                tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
            except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError):
                return path
        return None
    if source.kind == "tfrecord":
        spec = {ENCODED_KEY: tf.io.FixedLenFeature([], tf.string)}
        offset = 0
        for shard, count in zip(source.files, source.counts):
            for j, record in enumerate(tf.data.TFRecordDataset(shard)):
                if mask is not None and not mask[offset + j]:
                    continue
                try:
                    encoded = tf.io.parse_single_example(record, spec)[ENCODED_KEY]
                    tf.io.decode_image(encoded, channels=3, expand_animations=False)
                except tf.errors.InvalidArgumentError:
                    return f"{shard} (record {j})"
            offset += count
    return None
