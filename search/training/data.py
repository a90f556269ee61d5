"""Input pipeline: ImageNet-schema TFRecord shards, image-folder trees and TFDS, one code path.

* :func:`open_data` resolves a path (or ``tfds:NAME``) to a :class:`DataSource`: the records or
  files, every example's label (one fast scan of the labels only), the class names, and checks
  (no images, shards of another schema, labels / classes mismatch -> ``ValueError``).
* :func:`held_out_mask` carves a seeded held-out split out of train (TuNAS ``l2l_valid``).
* :func:`make_dataset` builds one replica pipeline: deterministic per epoch (a seeded shuffle
  and stateless augmentation keyed by ``(seed, epoch, example index)``), so a run resumed at
  ``(epoch, batch)`` sees exactly the batches an uninterrupted run sees; parallel decode,
  prefetch, optional in-memory cache of the encoded bytes, and sharding per input pipeline.
* :func:`distribute` wraps it for a ``tf.distribute`` strategy
  (``distribute_datasets_from_function``).

Images leave the pipeline as float32 RGB in [0, 255]: mhzoo models carry their normalization
inside (``include_preprocessing=True``), the one place where preprocessing is defined.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["IMAGE_SUFFIXES", "LABELS_FILE", "DataSource", "distribute", "held_out_mask",
           "make_dataset", "open_data", "preprocess_eval", "preprocess_train"]

LABELS_FILE = "labels.txt"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
#: ImageNet TFRecord schema (TF Model Garden / tensorflow/models ``build_imagenet_data.py``).
ENCODED_KEY = "image/encoded"
LABEL_KEY = "image/class/label"
TEXT_KEY = "image/class/text"
SHUFFLE_BUFFER = 16384
CYCLE_LENGTH = 16


@dataclass
class DataSource:
    """A resolved data set.

    Attributes:
        kind: ``"tfrecord"``, ``"folder"`` or ``"tfds"``.
        root: where it came from (for messages and ``run.json``).
        files: TFRecord shards (sorted) or image files (sorted by class, then name).
        counts: records per shard (``tfrecord``), else ``[len(files)]``.
        labels: label of every example, in global index order (shard order, record order).
        label_names: one name per class (``labels.txt``, the records' class text, or the
            folder names).
        tfds_name: the TFDS name for ``kind == "tfds"``.
    """

    kind: str
    root: str
    files: list[str]
    counts: list[int]
    labels: np.ndarray
    label_names: list[str]
    tfds_name: str | None = None
    fingerprint: dict[str, Any] = field(default_factory=dict)

    @property
    def num_examples(self) -> int:
        """Number of examples."""
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        """Number of classes (``len(label_names)``)."""
        return len(self.label_names)

    def describe(self) -> dict[str, Any]:
        """What identifies the data in ``run.json`` (checked on resume)."""
        return {"kind": self.kind, "root": self.root, "num_examples": self.num_examples,
                "num_classes": self.num_classes, "label_names": self.label_names,
                "files": [os.path.basename(f) for f in self.files[:64]]}


# ----------------------------------------------------------------------------- discovery
def open_data(path: str | os.PathLike, *, labels_file: str | os.PathLike | None = None
              ) -> DataSource:
    """Resolve ``path`` to a :class:`DataSource`.

    Accepted: a folder of ImageNet-schema TFRecord shards (``*.tfrecord*``, ``train-*-of-*``,
    optionally with ``labels.txt``); an image-folder tree (``DIR/train/<class>/*.jpg`` or
    ``DIR/<class>/*.jpg``); ``tfds:NAME`` when ``tensorflow_datasets`` and the prepared data
    are present.

    Raises:
        ValueError: missing path, no images, shards of another schema, a labels file that
            does not match the classes.
    """
    text = os.fspath(path)
    if text.startswith("tfds:"):
        return _open_tfds(text[len("tfds:"):])
    root = Path(text)
    if not root.exists():
        raise ValueError(f"data path not found: {root}")
    if root.is_file():
        if _is_tfrecord_name(root):
            return _open_tfrecords(root.parent, [root], labels_file)
        raise ValueError(f"data path {root} is a file; give a folder of TFRecord shards or an "
                         "image-folder tree (train/<class>/*.jpg)")
    shards = sorted(p for p in root.iterdir() if p.is_file() and _is_tfrecord_name(p))
    if not shards and (root / "train").is_dir():
        shards = sorted(p for p in (root / "train").iterdir()
                        if p.is_file() and _is_tfrecord_name(p))
    if shards:
        return _open_tfrecords(root, shards, labels_file)
    tree = root / "train" if (root / "train").is_dir() else root
    return _open_folder(root, tree, labels_file)


def _is_tfrecord_name(p: Path) -> bool:
    name = p.name
    return (".tfrecord" in name or name.endswith(".tfrec")
            or (name.startswith(("train-", "train.")) and "-of-" in name))


def _read_labels_file(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise ValueError(f"labels file {path} is not UTF-8 text (one class name per line)"
                         ) from None
    names = [line.strip() for line in lines]
    while names and not names[-1]:
        names.pop()
    if not names or any(not n for n in names):
        raise ValueError(f"labels file {path} must list one class name per line, no blank lines")
    return names


def _labels_path(root: Path, labels_file: str | os.PathLike | None) -> Path | None:
    if labels_file is not None:
        p = Path(labels_file)
        if not p.is_file():
            raise ValueError(f"labels file not found: {p}")
        return p
    p = root / LABELS_FILE
    return p if p.is_file() else None


def _check_schema(shard: Path) -> None:
    import tensorflow as tf

    try:
        first = next(iter(tf.data.TFRecordDataset(str(shard)).take(1)), None)
    except tf.errors.OpError as exc:
        raise ValueError(f"{shard} is not a readable TFRecord file: "
                         f"{' '.join(str(exc.message).split())[:200]}") from None
    if first is None:
        raise ValueError(f"TFRecord shard {shard} holds no records")
    try:
        example = tf.train.Example.FromString(first.numpy())
    except Exception:  # protobuf DecodeError
        raise ValueError(f"{shard} does not hold tf.train.Example records in the ImageNet "
                         f"TFRecord schema ({ENCODED_KEY}, {LABEL_KEY})") from None
    feats = example.features.feature
    kinds = {k: v.WhichOneof("kind") for k, v in feats.items()}
    if kinds.get(ENCODED_KEY) != "bytes_list" or kinds.get(LABEL_KEY) != "int64_list":
        found = ", ".join(sorted(kinds)[:6]) or "none"
        raise ValueError(f"{shard} is not in the ImageNet TFRecord schema: it needs "
                         f"{ENCODED_KEY} (bytes) and {LABEL_KEY} (int64); found keys {found}")


def _scan_labels(shards: list[Path]) -> tuple[list[int], np.ndarray, dict[int, str]]:
    """Records per shard, every label and the class text per label (labels only parsed)."""
    import tensorflow as tf

    spec = {LABEL_KEY: tf.io.FixedLenFeature([], tf.int64),
            TEXT_KEY: tf.io.FixedLenFeature([], tf.string, default_value="")}

    def parse(batch: Any) -> Any:
        p = tf.io.parse_example(batch, spec)
        return p[LABEL_KEY], p[TEXT_KEY]

    counts: list[int] = []
    labels: list[np.ndarray] = []
    texts: dict[int, str] = {}
    for shard in shards:
        ds = tf.data.TFRecordDataset(str(shard)).batch(8192).map(parse)
        n = 0
        try:
            for lab, txt in ds:
                lab = lab.numpy()
                n += len(lab)
                labels.append(lab)
                if len(texts) < 100000:
                    for value, t in zip(*np.unique(lab, return_index=True)):
                        texts.setdefault(int(value), txt[t].numpy().decode("utf-8", "replace"))
        except tf.errors.OpError as exc:
            raise ValueError(f"{shard}: unreadable record (truncated shard or another schema?): "
                             f"{' '.join(str(exc.message).split())[:200]}") from None
        counts.append(n)
    return counts, (np.concatenate(labels) if labels else np.zeros(0, np.int64)), texts


def _class_names(where: str, labels: np.ndarray, texts: dict[int, str],
                 labels_path: Path | None) -> list[str]:
    if labels.size == 0:
        raise ValueError(f"{where} holds no images")
    lo, hi = int(labels.min()), int(labels.max())
    if lo < 0:
        raise ValueError(f"{where}: negative class label {lo}")
    if labels_path is None:
        return [texts.get(i) or str(i) for i in range(hi + 1)]
    names = _read_labels_file(labels_path)
    if len(names) != hi + 1:
        raise ValueError(f"labels/classes mismatch: {labels_path} lists {len(names)} classes but "
                         f"the labels in {where} run {lo}..{hi} ({hi + 1} classes); fix the "
                         "labels file (one line per class index, background first if label 0 "
                         "is unused)")
    for i, t in sorted(texts.items()):
        if t and names[i] != t:
            raise ValueError(f"labels/classes mismatch: {labels_path} names class {i} "
                             f"{names[i]!r} but the records call it {t!r}")
    return names


def _open_tfrecords(root: Path, shards: list[Path], labels_file: Any) -> DataSource:
    for shard in shards[:1]:
        _check_schema(shard)
    counts, labels, texts = _scan_labels(shards)
    names = _class_names(str(root), labels, texts, _labels_path(root, labels_file))
    return DataSource("tfrecord", str(root), [str(s) for s in shards], counts,
                      labels.astype(np.int32), names)


def _open_folder(root: Path, tree: Path, labels_file: Any) -> DataSource:
    classes = sorted(d.name for d in tree.iterdir() if d.is_dir() and not d.name.startswith("."))
    files: list[str] = []
    labels: list[int] = []
    per_class: dict[str, list[str]] = {}
    for c in classes:
        imgs = sorted(str(p) for p in (tree / c).rglob("*")
                      if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                      and not p.name.startswith("."))
        if imgs:
            per_class[c] = imgs
    if not per_class:
        raise ValueError(f"no images found in {tree}: expected TFRecord shards or an image-folder "
                         "tree <class>/*.jpg (JPEG or PNG)")
    labels_path = _labels_path(root, labels_file)
    if labels_path is not None:
        names = _read_labels_file(labels_path)
        if set(names) != set(per_class):
            extra = sorted(set(per_class) - set(names))[:3]
            missing = sorted(set(names) - set(per_class))[:3]
            raise ValueError(f"labels/classes mismatch: {labels_path} lists {len(names)} classes, "
                             f"{tree} has {len(per_class)} class folders with images "
                             f"(folders not listed: {extra or 'none'}; listed without images: "
                             f"{missing or 'none'})")
    else:
        names = sorted(per_class)
    for i, c in enumerate(names):
        files += per_class[c]
        labels += [i] * len(per_class[c])
    return DataSource("folder", str(root), files, [len(files)], np.asarray(labels, np.int32),
                      names)


def _open_tfds(name: str) -> DataSource:
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise ValueError(f"tfds:{name} needs tensorflow-datasets (pip install "
                         "tensorflow-datasets)") from None
    try:
        builder = tfds.builder(name)
        info = builder.info
        n = info.splits["train"].num_examples
    except Exception as exc:  # tfds raises its own error types
        raise ValueError(f"TFDS data set {name!r} is not available: {exc}") from None
    if not builder.data_path or not Path(str(builder.data_path)).exists() or n == 0:
        raise ValueError(f"TFDS data set {name!r} is not prepared (run tfds build {name})")
    feature = info.features["label"]
    names = list(getattr(feature, "names", None) or [str(i) for i in range(feature.num_classes)])
    ds = builder.as_dataset(split="train", shuffle_files=False,
                            decoders={"image": tfds.decode.SkipDecoding()})
    labels = np.fromiter((int(x["label"]) for x in ds.as_numpy_iterator()), np.int32, n)
    return DataSource("tfds", f"tfds:{name}", [], [n], labels, names, tfds_name=name)


# ----------------------------------------------------------------------------- split
def held_out_mask(num_examples: int, held_out: float, seed: int) -> np.ndarray:
    """Boolean mask of the held-out examples: a seeded random subset of ``held_out`` examples
    (a fraction in (0, 1) or a count), disjoint from the training split by construction."""
    k = round(held_out * num_examples) if held_out < 1 else int(held_out)
    if not 0 < k < num_examples:
        raise ValueError(f"held-out split of {held_out:g} leaves {num_examples - k} of "
                         f"{num_examples} images for training; use a smaller --held-out")
    mask = np.zeros(num_examples, bool)
    mask[np.random.default_rng(seed).permutation(num_examples)[:k]] = True
    return mask


# ----------------------------------------------------------------------------- preprocessing
def _decode(encoded: Any) -> Any:
    import tensorflow as tf

    image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
    image.set_shape([None, None, 3])
    return image


def _resize(image: Any, size: int) -> Any:
    import tensorflow as tf

    shape = tf.shape(image)
    same = tf.logical_and(tf.equal(shape[0], size), tf.equal(shape[1], size))
    return tf.cond(same, lambda: tf.cast(image, tf.float32),
                   lambda: tf.image.resize(image, [size, size], method="bilinear"))


def _crop_decode(encoded: Any, window: Any) -> Any:
    """Decode only ``window`` (y, x, h, w) of a JPEG; other formats decode, then slice."""
    import tensorflow as tf

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
    import tensorflow as tf

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
    import tensorflow as tf

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
    import tensorflow as tf

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


# ----------------------------------------------------------------------------- pipeline
def _records(source: DataSource, num_shards: int, shard_index: int) -> Any:
    """``(global index, encoded bytes, label)`` in global order (deterministic)."""
    import tensorflow as tf

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
        import tensorflow_datasets as tfds

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
    import tensorflow as tf

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
    import tensorflow as tf

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
