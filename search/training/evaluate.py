"""Top-1 / top-5 of a trained Keras checkpoint or a ``.tflite`` on a data set.

One input path for both (:func:`mhzoo.search.training.data.make_dataset` evaluation batches,
RGB in [0, 255]), so float Keras vs float / int8 TFLite accuracy is one command each. TFLite runs
through LiteRT (``ai_edge_litert``); quantized inputs (uint8 / int8) are quantized with the
input tensor's own scale and zero point, quantized outputs dequantized.

The splits of a checkpoint trained by ``mhzoo train`` are rebuilt from its config
(``pretrained_cfg.training.splits``, rule ``mhzoo.splits/v1``) and checked against the data
(:func:`mhzoo.search.training.splits.check_record`), so ``mhzoo eval DIR --data SHARDS`` scores
exactly the run's test images. Checkpoints from before the rule recorded a ``held_out`` size and
split seed: their held-out split is their test split (the rule's test split is the old
held-out mask).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from mhzoo.builder import build
from mhzoo.registry import list_models
from mhzoo.search.jsonfile import read_json
from mhzoo.search.training import data as data_lib
from mhzoo.search.training.modeling import resolve_weights_dir
from mhzoo.search.training.splits import Splits, check_record, make_splits, splits_for
from mhzoo.spec import ArchSpec

__all__ = ["SPLITS", "evaluate", "split_data", "training_record"]

#: ``held_out`` is the old name of ``test``; ``auto``: the run's test split when known, else all
SPLITS = ("auto", "test", "search_valid", "train", "final_train", "all", "held_out")


def training_record(path: str | os.PathLike) -> dict[str, Any] | None:
    """The ``training`` record of a checkpoint (or run) folder's config, if it has one."""
    p = Path(resolve_weights_dir(path))
    cfg_path = p / "config.json"
    if not cfg_path.is_file():
        return None
    cfg = _config(cfg_path)
    return (cfg.get("pretrained_cfg") or {}).get("training")


def _config(path: Path) -> dict[str, Any]:
    cfg = read_json(path, "checkpoint config")
    if not isinstance(cfg, dict):
        raise ValueError(f"checkpoint config {path} is not a JSON object")
    return cfg


def _run_splits(source: data_lib.DataSource, record: dict[str, Any] | None,
                test: float | None, search_valid: float | None, seed: int | None
                ) -> Splits | None:
    """The splits given by hand, recorded by the run, or ``None`` when neither says."""
    own = source.eval_source
    if test is not None:
        return splits_for(source, test, search_valid or 0, 0 if seed is None else seed)
    record = record or {}
    rec = record.get("splits")
    if isinstance(rec, dict) and seed is None:
        return check_record(rec, source.num_examples,
                            own_test=None if own is None else own.num_examples,
                            own_test_digest=None if own is None else own.digest())
    info = record.get("data") or {}
    size = info.get("test", info.get("held_out"))
    if size is None:
        return None
    if info.get("num_examples") not in (None, source.num_examples):
        raise ValueError(f"the checkpoint was trained on {info['num_examples']} images but the "
                         f"data has {source.num_examples}: its splits cannot be rebuilt")
    if isinstance(rec, dict) and rec.get("test_from") == "own":
        return splits_for(source, size, info.get("search_valid", 0), int(seed))
    # a checkpoint from before the rule: its held-out mask is the rule's test split
    return make_splits(source.num_examples, float(size), info.get("search_valid", 0) or 0,
                       int(seed if seed is not None else info.get("split_seed", 0)))


def split_data(source: data_lib.DataSource, split: str, record: dict[str, Any] | None, *,
               test: float | None = None, search_valid: float | None = None,
               seed: int | None = None) -> tuple[data_lib.DataSource, np.ndarray | None, str]:
    """``(source, mask, split name)`` of the examples of ``split`` (mask ``None`` = all of
    that source): the run's (``record``) or hand-given (``test``, ``search_valid``, ``seed``)
    splits by rule ``mhzoo.splits/v1``; the data's own evaluation split is the test split.

    Raises:
        ValueError: an unknown split, no way to know the splits, or data that no longer gives
            the run's splits (one line).
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    if split == "held_out":
        split = "test"
    if split == "auto":
        known = bool(record and (record.get("splits") or record.get("data")))
        split = "test" if (known or test is not None or source.eval_source is not None) \
            else "all"
    if split == "all":
        return source, None, "all"
    splits = _run_splits(source, record, test, search_valid, seed)
    if splits is None:
        if split == "test" and source.eval_source is not None:
            return source.eval_source, None, "test"
        raise ValueError(f"split {split!r} needs the split sizes: give --test (and --seed), or "
                         "--split-from a checkpoint trained by mhzoo train")
    src, mask = data_lib.split_source(source, splits, split)
    return src, mask, split


def evaluate(weights_or_tflite: str | os.PathLike, data: str | os.PathLike | data_lib.DataSource,
             *, split: str = "auto", split_from: str | os.PathLike | None = None,
             test: float | None = None, search_valid: float | None = None,
             held_out: float | None = None, seed: int | None = None, limit: int | None = None,
             batch_size: int = 256, transform: str | None = None, num_threads: int | None = None,
             labels_file: str | os.PathLike | None = None, return_predictions: bool = False
             ) -> dict[str, Any]:
    """Evaluate a checkpoint folder (or training run folder) or a ``.tflite`` file.

    Args:
        weights_or_tflite: mhzoo checkpoint folder, ``mhzoo train`` run folder or ``.tflite``.
        data: as :func:`mhzoo.search.training.data.open_data`.
        split: ``auto`` (the run's test split when known, else all), ``test``,
            ``search_valid``, ``train``, ``final_train``, ``all``; ``held_out`` is the old name
            of ``test``.
        split_from: a checkpoint / run folder whose training record defines the splits (for
            ``.tflite`` files exported from it).
        test, search_valid, seed: define the splits by hand instead (``held_out``: the old
            name of ``test``).
        limit: score only the first ``limit`` images of the split.
        transform: ``"small"`` (resize only) or ``"resnet"`` (centre crop); default: the
            checkpoint's, else ``small`` up to 64 px and ``resnet`` above.
        return_predictions: also return every top-1 prediction and label (for agreement).

    Returns:
        ``{"top1", "top5", "count", "kind", "split", ...}``.
    """
    source = data if isinstance(data, data_lib.DataSource) else data_lib.open_data(
        data, labels_file=labels_file)
    path = Path(weights_or_tflite)
    if not path.exists():
        raise ValueError(f"not found: {path} (expected a checkpoint folder or a .tflite file)")
    is_tflite = path.is_file() and path.suffix == ".tflite"
    if path.is_file() and not is_tflite:
        raise ValueError(f"{path} is neither a .tflite file nor a checkpoint folder")
    record = training_record(split_from if split_from is not None else path) if (
        split_from is not None or not is_tflite) else None
    if held_out is not None:
        if test is not None and test != held_out:
            raise ValueError("give test or held_out (its old name), not both")
        test = held_out
    source, mask, split = split_data(source, split, record, test=test,
                                     search_valid=search_valid, seed=seed)
    if is_tflite:
        runner, size, _, classes = _tflite_runner(path, num_threads)
    else:
        runner, size, _, classes, cfg = _keras_runner(path)
        names = cfg.get("label_names")
        if names and list(names) != list(source.label_names) and len(names) == len(
                source.label_names):
            raise ValueError(f"labels/classes mismatch: the checkpoint's classes "
                             f"({', '.join(names[:3])} ...) are not the data's "
                             f"({', '.join(source.label_names[:3])} ...)")
        transform = transform or cfg.get("pretrained_cfg", {}).get("eval_transform")
    if classes != source.num_classes:
        raise ValueError(f"labels/classes mismatch: the model has {classes} classes, the data "
                         f"{source.num_classes}")
    transform = transform or ("small" if size <= 64 else "resnet")
    ds = data_lib.make_dataset(source, mask=mask, training=False, batch_size=batch_size,
                               image_size=size, augmentation=transform, limit=limit)
    preds, labels, top5 = [], [], 0
    for x, y in ds:
        y = y.numpy()
        valid = y >= 0
        out = runner(x.numpy()[valid])
        order = np.argsort(-out, axis=1)
        k = min(5, out.shape[1])
        preds.append(order[:, 0])
        labels.append(y[valid])
        top5 += int(np.sum(np.any(order[:, :k] == y[valid][:, None], axis=1)))
    pred = np.concatenate(preds) if preds else np.zeros(0, int)
    lab = np.concatenate(labels) if labels else np.zeros(0, int)
    n = len(lab)
    if n == 0:
        raise ValueError("the selected split holds no images")
    result: dict[str, Any] = {
        "source": str(path), "kind": "tflite" if is_tflite else "keras", "split": split,
        "count": n, "top1": float(np.mean(pred == lab)), "top5": top5 / n,
        "image_size": size, "transform": transform}
    if return_predictions:
        result["predictions"] = pred.tolist()
        result["labels"] = lab.tolist()
    return result


def _keras_runner(path: Path) -> tuple[Any, int, str, int, dict[str, Any]]:
    import tensorflow as tf  # function-level: TensorFlow only for Keras checkpoints

    ckpt = Path(resolve_weights_dir(path))
    cfg_path = ckpt / "config.json"
    if not cfg_path.is_file():
        raise ValueError(f"{path} is not an mhzoo checkpoint folder (no config.json)")
    cfg = _config(cfg_path)
    size = int((cfg.get("pretrained_cfg") or {}).get("input_size", [224])[0])
    arch = cfg.get("architecture")
    kwargs = dict(weights=str(ckpt), input_shape=(size, size, 3), classifier_activation=None)
    if arch in list_models():
        model = build(arch, **kwargs)
    elif cfg.get("spec"):
        model = build(ArchSpec.from_dict(cfg["spec"]), 1.0, **kwargs)
    else:
        raise ValueError(f"{ckpt}: config.json names no registered architecture and no spec")
    fn = tf.function(lambda x: model(x, training=False))

    def run(images: np.ndarray) -> np.ndarray:
        return fn(tf.constant(images)).numpy() if len(images) else np.zeros((0, classes))

    classes = int(model.output_shape[-1])
    return run, size, "keras", classes, cfg


def _tflite_runner(path: Path, num_threads: int | None) -> tuple[Any, int, str, int]:
    try:
        interp = Interpreter(model_path=str(path), num_threads=num_threads or os.cpu_count())
        interp.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise ValueError(f"{path} is not a loadable TFLite model: {exc}") from None
    inp = interp.get_input_details()[0]
    outp = interp.get_output_details()[0]
    shape = inp["shape"]
    if len(shape) != 4 or shape[3] != 3:
        raise ValueError(f"{path}: expected one NHWC RGB image input, got shape {list(shape)}")
    size = int(shape[1])
    in_scale, in_zero = inp["quantization"]
    out_scale, out_zero = outp["quantization"]
    dtype = inp["dtype"]

    def quantize(img: np.ndarray) -> np.ndarray:
        if np.issubdtype(dtype, np.integer):
            if in_scale:
                img = np.round(img / in_scale + in_zero)
            info = np.iinfo(dtype)
            return np.clip(img, info.min, info.max).astype(dtype)
        return img.astype(dtype)

    def run(images: np.ndarray) -> np.ndarray:
        outs = []
        for img in images:
            interp.set_tensor(inp["index"], quantize(img[None]))
            interp.invoke()
            o = interp.get_tensor(outp["index"]).astype(np.float32)
            if out_scale:
                o = (o - out_zero) * out_scale
            outs.append(o.reshape(-1))
        return np.stack(outs) if outs else np.zeros((0, classes), np.float32)

    classes = int(np.prod(outp["shape"][1:]))
    return run, size, "tflite", classes
