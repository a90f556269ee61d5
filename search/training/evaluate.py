"""Top-1 / top-5 of a trained Keras checkpoint or a ``.tflite`` on a data set.

One input path for both (:func:`mhzoo.search.training.data.make_dataset` evaluation batches,
RGB in [0, 255]), so float Keras vs float / int8 TFLite accuracy is one command each. TFLite runs
through LiteRT (``ai_edge_litert``); quantized inputs (uint8 / int8) are quantized with the
input tensor's own scale and zero point, quantized outputs dequantized.

The held-out split of a checkpoint trained by ``mhzoo train`` is rebuilt from its config
(``pretrained_cfg.training.data``: held-out size and split seed), so ``mhzoo eval DIR --data
SHARDS`` scores exactly the images the run held out.
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
from mhzoo.spec import ArchSpec

__all__ = ["SPLITS", "evaluate", "split_mask", "training_record"]

SPLITS = ("auto", "held_out", "train", "all")


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


def split_mask(source: data_lib.DataSource, split: str, record: dict[str, Any] | None, *,
               held_out: float | None = None, seed: int | None = None) -> np.ndarray | None:
    """Mask of the examples of ``split`` (``None`` = all)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    info = (record or {}).get("data") or {}
    if split == "auto":
        split = "held_out" if (info or held_out is not None) else "all"
    if split == "all":
        return None
    size = held_out if held_out is not None else info.get("held_out")
    if size is None:
        raise ValueError(f"split {split!r} needs the held-out size: give --held-out (and --seed), "
                         "or --split-from a checkpoint trained by mhzoo train")
    if info.get("num_examples") not in (None, source.num_examples) and held_out is None:
        raise ValueError(f"the checkpoint was trained on {info['num_examples']} images but the "
                         f"data has {source.num_examples}: its held-out split cannot be rebuilt")
    mask = data_lib.held_out_mask(source.num_examples, float(size),
                                  int(seed if seed is not None else info.get("split_seed", 0)))
    return mask if split == "held_out" else ~mask


def evaluate(weights_or_tflite: str | os.PathLike, data: str | os.PathLike | data_lib.DataSource,
             *, split: str = "auto", split_from: str | os.PathLike | None = None,
             held_out: float | None = None, seed: int | None = None, limit: int | None = None,
             batch_size: int = 256, transform: str | None = None, num_threads: int | None = None,
             labels_file: str | os.PathLike | None = None, return_predictions: bool = False
             ) -> dict[str, Any]:
    """Evaluate a checkpoint folder (or training run folder) or a ``.tflite`` file.

    Args:
        weights_or_tflite: mhzoo checkpoint folder, ``mhzoo train`` run folder or ``.tflite``.
        data: as :func:`mhzoo.search.training.data.open_data`.
        split: ``auto`` (the run's held-out split when known, else all), ``held_out``,
            ``train`` or ``all``.
        split_from: a checkpoint / run folder whose training record defines the split (for
            ``.tflite`` files exported from it).
        held_out, seed: define the split by hand instead.
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
    mask = split_mask(source, split, record, held_out=held_out, seed=seed)
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
