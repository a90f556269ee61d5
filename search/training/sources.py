"""Training data sources: ImageNet-schema TFRecord shards, image-folder trees and TFDS resolved
to one :class:`DataSource`, and the seeded held-out split.

* :func:`open_data` resolves a path (or ``tfds:NAME``) to a :class:`DataSource`: the records or
  files, every example's label (one fast scan of the labels only), the class names, and checks
  (no images, files that are not images, shards of another schema, labels / classes mismatch
  -> ``ValueError``).
* The data's own evaluation split, when it has one, is found beside the training data and
  opened as ``DataSource.eval_source``: ``validation-*`` / ``val-*`` / ``test-*`` TFRecord
  shards next to the training shards (the names ``build_imagenet_data.py`` writes), or a
  ``validation/`` / ``val/`` / ``test/`` folder (of shards or class folders) beside ``train/``.
  Such shards are never training shards. It is the test split of
  :mod:`mhzoo.search.training.splits` (rule ``mhzoo.splits/v1``).
* :func:`held_out_mask` is the test split of that rule (the old name).

The input pipeline over a source is :mod:`mhzoo.search.training.data`.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["ENCODED_KEY", "IMAGE_SUFFIXES", "LABELS_FILE", "LABEL_KEY", "DataSource",
           "check_held_out", "held_out_mask", "open_data"]

LABELS_FILE = "labels.txt"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
#: ImageNet TFRecord schema (TF Model Garden / tensorflow/models ``build_imagenet_data.py``).
ENCODED_KEY = "image/encoded"
LABEL_KEY = "image/class/label"
TEXT_KEY = "image/class/text"


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
        eval_source: the data's own evaluation split (same classes), when it has one: the test
            split of every run on this data (nothing is carved from the training data for it).
    """

    kind: str
    root: str
    files: list[str]
    counts: list[int]
    labels: np.ndarray
    label_names: list[str]
    tfds_name: str | None = None
    fingerprint: dict[str, Any] = field(default_factory=dict)
    eval_source: DataSource | None = None

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
        d = {"kind": self.kind, "root": self.root, "num_examples": self.num_examples,
             "num_classes": self.num_classes, "label_names": self.label_names,
             "files": [os.path.basename(f) for f in self.files[:64]]}
        if self.eval_source is not None:
            d["eval_split"] = {"num_examples": self.eval_source.num_examples,
                               "digest": self.eval_source.digest()}
        return d

    def digest(self) -> str:
        """sha256 of what identifies the examples: file names relative to the root, records
        per shard and labels (the test digest of a split that is the data's own)."""
        h = hashlib.sha256()
        for f in self.files:
            h.update(os.path.relpath(f, self.root).encode() + b"\0")
        h.update(np.asarray(self.counts, "<i8").tobytes())
        h.update(np.asarray(self.labels, "<i4").tobytes())
        return h.hexdigest()


def _tensorflow() -> Any:
    """TensorFlow, imported without its start-up lines on stderr (reading TFRecord shards is
    the first thing that needs it; until then a source is read without it)."""
    from mhzoo._quiet import import_tensorflow_quietly  # lazy: no TensorFlow at import time

    import_tensorflow_quietly()
    import tensorflow as tf  # lazy: no TensorFlow at import time

    return tf


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
    shards = _train_shards(root)
    train_dir = root / "train"
    if not shards and train_dir.is_dir():
        shards = _train_shards(train_dir)
    if shards:
        source = _open_tfrecords(root, shards, labels_file)
        eval_shards = _eval_shards(root, shards[0].parent)
        if eval_shards:
            source.eval_source = _open_eval_tfrecords(root, eval_shards, source)
        return source
    tree = train_dir if train_dir.is_dir() else root
    source = _open_folder(root, tree, labels_file)
    if tree == train_dir:
        source.eval_source = _open_eval_folder(root, source)
    return source


#: folders beside ``train/`` that hold the data's own evaluation split, in order of preference
EVAL_DIRS = ("validation", "val", "test")
#: shard name prefixes of an evaluation split (``build_imagenet_data.py``: ``validation-*``)
EVAL_PREFIXES = tuple(f"{d}{sep}" for d in EVAL_DIRS for sep in "-.")


def _is_eval_shard_name(p: Path) -> bool:
    name = p.name
    return name.startswith(EVAL_PREFIXES) and (".tfrecord" in name or name.endswith(".tfrec")
                                               or "-of-" in name)


def _is_tfrecord_name(p: Path) -> bool:
    """A training shard name (evaluation shards, ``validation-*`` ..., are not)."""
    name = p.name
    return not _is_eval_shard_name(p) and (
        ".tfrecord" in name or name.endswith(".tfrec")
        or (name.startswith(("train-", "train.")) and "-of-" in name))


def _train_shards(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and _is_tfrecord_name(p))


def _eval_shards(root: Path, shard_dir: Path) -> list[Path]:
    """Evaluation shards beside the training shards, else in ``validation/`` / ``val/`` /
    ``test/`` beside them or beside ``train/``."""
    for folder in dict.fromkeys([shard_dir, root]):
        found = sorted(p for p in folder.iterdir() if p.is_file() and _is_eval_shard_name(p))
        if found:
            return found
    for folder in dict.fromkeys([shard_dir, root]):
        for d in EVAL_DIRS:
            sub = folder / d
            if sub.is_dir():
                found = sorted(p for p in sub.iterdir() if p.is_file() and (
                    _is_eval_shard_name(p) or _is_tfrecord_name(p)))
                if found:
                    return found
    return []


def _open_eval_tfrecords(root: Path, shards: list[Path], train: DataSource) -> DataSource:
    _check_schema(shards[0])
    counts, labels, _ = _scan_labels(shards)
    where = str(shards[0].parent)
    if labels.size == 0:
        raise ValueError(f"the evaluation shards in {where} hold no images")
    if int(labels.min()) < 0 or int(labels.max()) >= train.num_classes:
        raise ValueError(f"labels/classes mismatch: the evaluation shards in {where} have labels "
                         f"{int(labels.min())}..{int(labels.max())}, the training data "
                         f"{train.num_classes} classes")
    return DataSource("tfrecord", str(root), [str(s) for s in shards], counts,
                      labels.astype(np.int32), list(train.label_names))


def _class_images(tree: Path) -> dict[str, list[str]]:
    """Image files (sorted) of every class folder of ``tree`` that holds any."""
    classes = sorted(d.name for d in tree.iterdir() if d.is_dir() and not d.name.startswith("."))
    per_class: dict[str, list[str]] = {}
    for c in classes:
        imgs = sorted(str(p) for p in (tree / c).rglob("*")
                      if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                      and not p.name.startswith("."))
        if imgs:
            per_class[c] = imgs
    return per_class


def _open_eval_folder(root: Path, train: DataSource) -> DataSource | None:
    """``validation/`` / ``val/`` / ``test/`` class folders beside ``train/`` (classes named as
    the training ones; a class may be missing)."""
    for d in EVAL_DIRS:
        tree = root / d
        if not tree.is_dir():
            continue
        per_class = _class_images(tree)
        if not per_class:
            continue
        unknown = sorted(set(per_class) - set(train.label_names))
        if unknown:
            raise ValueError(f"labels/classes mismatch: {tree} has class folders the training "
                             f"data lacks ({', '.join(unknown[:3])})")
        files: list[str] = []
        labels: list[int] = []
        for i, c in enumerate(train.label_names):
            files += per_class.get(c, [])
            labels += [i] * len(per_class.get(c, []))
        return DataSource("folder", str(root), files, [len(files)],
                          np.asarray(labels, np.int32), list(train.label_names))
    return None


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
    tf = _tensorflow()

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
    tf = _tensorflow()

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
    files: list[str] = []
    labels: list[int] = []
    per_class = _class_images(tree)
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
        import tensorflow_datasets as tfds  # lazy: no TensorFlow at import time
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
def check_held_out(held_out: Any) -> float:
    """A held-out size: a fraction in (0, 1) or a whole image count >= 1 (``1.5`` is neither)."""
    ok = (not isinstance(held_out, bool) and isinstance(held_out, int | float)
          and math.isfinite(held_out) and held_out > 0
          and (held_out < 1 or float(held_out).is_integer()))
    if not ok:
        raise ValueError(f"held-out split must be a fraction in (0, 1) or a whole number of "
                         f"images, got {held_out!r}")
    return float(held_out)


def held_out_mask(num_examples: int, held_out: float, seed: int,
                  remedy: str = "use a smaller --held-out") -> np.ndarray:
    """Boolean mask of the held-out examples: a seeded random subset of ``held_out`` examples
    (a fraction in (0, 1) or a count), disjoint from the training split by construction.
    ``remedy`` ends the error of a split that leaves no training image (the caller's option).

    The old name of the test split of rule ``mhzoo.splits/v1``: equal to
    ``splits.make_splits(num_examples, held_out, seed=seed).test``."""
    check_held_out(held_out)
    k = round(held_out * num_examples) if held_out < 1 else int(held_out)
    if not 0 < k < num_examples:
        raise ValueError(f"held-out split of {held_out:g} leaves {max(num_examples - k, 0)} of "
                         f"{num_examples} images for training; {remedy}")
    mask = np.zeros(num_examples, bool)
    mask[np.random.default_rng(seed).permutation(num_examples)[:k]] = True
    return mask
