"""``to_tflite`` / ``to_saved_model``: exact, self-describing exports of mhzoo models.

Every export is rebuilt at a fixed batch of 1 from the model's concrete spec with its weights
copied by name (no SHAPE / STRIDED_SLICE / PACK ops from a dynamic batch), carries the
normalization inside (a uint8 or float RGB image in [0, 255] goes in), is converted from a
frozen concrete function, checked on LiteRT against Keras (fidelity report, stored next to it
as JSON), inventoried and checked against the per-hardware rules, given standard TFLite
metadata (labels, normalization, input range, description) and written atomically.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mhzoo.atomic import atomic_dir, atomic_group, check_output_path
from mhzoo.export._quiet import captured_output
from mhzoo.export.compat import CompatReport, check_compatibility
from mhzoo.export.fidelity import FidelityReport, compare, run_tflite_outputs
from mhzoo.export.op_inventory import ModelInventory, inventory
from mhzoo.export.quant import (
    DATA_MODES,
    INTEGER_ONLY_MODES,
    check_mode,
    io_dtype,
    make_converter,
)

__all__ = ["DEFAULT_CALIBRATION_STEPS", "ExportResult", "export_model", "fidelity_path",
           "labels_and_classes", "read_labels", "requantization_note", "tflite_bytes",
           "to_saved_model", "to_tflite"]

DEFAULT_CALIBRATION_STEPS = 100  # images used for calibration / QAT fine-tuning at most
DEFAULT_FIDELITY_IMAGES = 8
SYNTHETIC_SEED = 0


@dataclass
class ExportResult:
    """What :func:`to_tflite` produced."""

    path: Path
    quant: str
    fidelity: FidelityReport
    fidelity_path: Path
    compatibility: CompatReport
    inventory: ModelInventory
    seconds: float
    size_bytes: int

    def summary(self) -> str:
        inv = self.inventory
        io = f"{inv.inputs[0].dtype} {list(inv.inputs[0].shape)} -> " \
             f"{inv.outputs[0].dtype} {list(inv.outputs[0].shape)}"
        return "\n".join([
            f"Wrote {self.path} ({self.size_bytes / 1e6:.2f} MB, {self.quant}, {io}, "
            f"{self.seconds:.1f} s)",
            "Fidelity:", self.fidelity.format(),
            "Hardware compatibility:", self.compatibility.format(),
        ])

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "quant": self.quant, "seconds": self.seconds,
                "size_bytes": self.size_bytes, "fidelity": self.fidelity.to_dict(),
                "fidelity_path": str(self.fidelity_path),
                "compatibility": self.compatibility.to_dict(),
                "ops": [{"op": o.name, "version": o.version, "count": o.count}
                        for o in self.inventory.ops],
                "integer_only": self.inventory.integer_only,
                "inputs": [vars(t) for t in self.inventory.inputs],
                "outputs": [vars(t) for t in self.inventory.outputs]}


def fidelity_path(path: str | os.PathLike) -> Path:
    """Where the fidelity JSON of an export at ``path`` goes: ``<stem>.fidelity.json``."""
    p = Path(path)
    return p.with_name(f"{p.stem}.fidelity.json")


def read_labels(labels: str | os.PathLike | Sequence[str] | None) -> list[str] | None:
    """Labels from a text file (one per line) or a sequence of strings."""
    if labels is None:
        return None
    if isinstance(labels, str | os.PathLike):
        p = Path(labels)
        if not p.is_file():
            raise ValueError(f"labels file not found: {p}")
        try:
            lines = p.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError:
            raise ValueError(f"labels file {p} is not UTF-8 text (one label per line)") from None
        out = [line.strip() for line in lines]
        while out and not out[-1]:
            out.pop()
    else:
        out = [str(x) for x in labels]
    if not out or any(not x for x in out):
        raise ValueError("labels must be non-empty, one label per line with no blank lines")
    return out


def labels_and_classes(labels: str | os.PathLike | Sequence[str] | None,
                       num_classes: int | None = None, *, weights: Any = None
                       ) -> tuple[list[str] | None, int | None]:
    """Labels (see :func:`read_labels`) and the classifier size to build with: ``num_classes``
    when given, else one class per label, unless ``weights`` is set (a checkpoint fixes its
    own classes, so ``None`` is returned and the builder takes the checkpoint's)."""
    label_list = read_labels(labels)
    if num_classes is None and label_list is not None and weights is None:
        num_classes = len(label_list)
    return label_list, num_classes


def export_model(model: Any) -> tuple[Any, dict[str, Any]]:
    """The Keras 3 batch-1 twin of an mhzoo model (weights copied) and its build keywords.

    The twin is rebuilt from the model's build config (:func:`mhzoo.build_config`), so a model
    reloaded with :func:`mhzoo.load_model` exports exactly like the one that was saved.
    """
    from mhzoo import build_config
    from mhzoo.builder import build
    from mhzoo.variables import assign_named_weights, named_weights

    if isinstance(model, str):
        model = build(model)
    cfg = build_config(model)
    h, w, _ = cfg.input_shape
    if h is None or w is None:
        raise ValueError(f"cannot export a model with a variable input size {cfg.input_shape}; "
                         "build it with a fixed input_shape, e.g. (224, 224, 3)")
    kwargs = cfg.build_kwargs(batch_size=1, include_preprocessing=True, framework="keras")
    twin = build(cfg.spec, 1.0, **kwargs)
    assign_named_weights(twin, named_weights(model))
    return twin, kwargs


def _frozen_function(model: Any) -> Any:
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    spec = tf.TensorSpec(tuple(model.inputs[0].shape), tf.float32, name="image")
    fn = tf.function(lambda image: model(image, training=False)).get_concrete_function(spec)
    return convert_variables_to_constants_v2(fn)


def _convert(fn: Any, quant: str, images: np.ndarray | None) -> bytes:
    """Run the TFLite converter on a frozen concrete function (quietly)."""
    from mhzoo.export.representative import representative_fn

    rep = representative_fn(images) if images is not None else None
    with captured_output():  # absl: "Please consider providing the trackable_obj argument"
        converter = make_converter(fn, quant, rep)
    if rep is None:
        converter.representative_dataset = None
    # the converter prints through absl / C++ logging ("fully_quantize: 0, ...", the
    # trackable_obj warning) and warns about uint8 input statistics that the representative
    # data already fixed (see representative_fn)
    with warnings.catch_warnings(), captured_output():
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
        return converter.convert()


def tflite_bytes(model_or_spec: Any, quant: str = "float32", *, input_size: int = 224,
                 num_classes: int = 1000, representative_data: np.ndarray | None = None,
                 calibration_images: int = 4, seed: int = 0) -> bytes:
    """The lean path: a .tflite as bytes, with no fidelity report, metadata or file.

    For latency measurement (the search's latency collection calls it per architecture): an
    ``ArchSpec`` (concrete, width 1.0) is built at batch 1 with random weights, an mhzoo model
    is rebuilt from its build config; the graph is the one :func:`to_tflite` exports. Calibration
    for the ``int8*`` modes uses ``representative_data`` or ``calibration_images`` random
    images (the quantized graph, and so its speed, does not depend on the values).
    """
    from mhzoo.builder import build
    from mhzoo.spec import ArchSpec

    quant = check_mode(quant)
    if quant == "qat":
        raise ValueError("the lean path converts float and PTQ modes; use to_tflite for qat")
    if isinstance(model_or_spec, ArchSpec):
        twin = build(model_or_spec, 1.0, input_shape=(input_size, input_size, 3),
                     num_classes=num_classes, batch_size=1)
    else:
        twin, _ = export_model(model_or_spec)
    images = None
    if quant in DATA_MODES:
        shape = tuple(int(d) for d in twin.inputs[0].shape[1:])
        if representative_data is None:
            rng = np.random.default_rng(seed)
            images = rng.uniform(0, 255, (calibration_images, *shape)).astype(np.float32)
        else:
            images = np.asarray(representative_data, np.float32)
    flat = _convert(_frozen_function(twin), quant, images)
    _check_export(inventory(flat), quant)
    return flat


def _synthetic_images(shape: tuple[int, int, int], n: int) -> np.ndarray:
    """Smooth random colour fields (for fidelity checks when no images are given)."""
    import tensorflow as tf

    rng = np.random.default_rng(SYNTHETIC_SEED)
    h, w, c = shape
    coarse = rng.uniform(0, 255, (n, 8, 8, c)).astype(np.float32)
    return np.clip(tf.image.resize(coarse, (h, w), method="bicubic").numpy(), 0, 255)


def _progress(enabled: bool, total: int, desc: str) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="img" if "calib" in desc else "step",
                leave=False, file=None)


def _metadata(model: Any, kwargs: dict[str, Any], quant: str, labels: list[str] | None,
              description: str | None, info: dict[str, Any]) -> Any:
    from mhzoo import __version__
    from mhzoo.export.metadata import INFO_FILE, ImageClassifierMetadata

    h, w, c = kwargs["input_shape"]
    softmax = kwargs.get("classifier_activation") is not None
    name = model.base_spec.name
    desc = description or (
        f"{name} at width {model.width:g}, {quant} TFLite export by mhzoo "
        f"{__version__}. Input: {'RGB' if c == 3 else 'grayscale'} {h}x{w} pixels in [0, 255] "
        f"(normalization mean={list(model.preprocessing.mean)} "
        f"std={list(model.preprocessing.std)} is inside the model).")
    return ImageClassifierMetadata(
        name=name, description=desc, version=f"mhzoo {__version__}", author="mhzoo",
        license="Apache-2.0", channels=c, width=w, height=h,
        output_name="probability" if softmax else "logits",
        output_description="Class probabilities (softmax)." if softmax else "Class logits.",
        labels=labels,
        extra_files={INFO_FILE: json.dumps(info, indent=2, allow_nan=False).encode()})


def requantization_note(model: Any, quant: str) -> str | None:
    """What to tell a user who quantizes weights that were dequantized from an int8 model.

    Weights converted from a quantized ``.tflite`` (``config.json`` source ``quantized``, e.g.
    ``multi_avg_100.tfm_qat_in1k``) are already on an int8 grid; an int8 / QAT export
    re-quantizes them (new activation ranges, a second rounding). ``None`` for other models
    and for float modes.
    """
    cfg = getattr(model, "pretrained_cfg", None) or {}
    source = cfg.get("source") if isinstance(cfg, dict) else None
    if not (isinstance(source, dict) and source.get("quantized")) or not (
            quant.startswith("int8") or quant == "qat"):
        return None
    tag = (cfg.get("pretrained_cfg") or {}).get("tag")
    where = tag or source.get("url") or source.get("path") or "the source file"
    deploy = (f"use the original file: mhzoo fetch {tag} -o FILE.tflite" if tag else
              f"deploy the original file ({where})")
    return (f"these weights were dequantized from an already quantized TFLite model ({where}); "
            f"--quant {quant} re-quantizes them. To deploy the model as published, {deploy}")


def to_tflite(
    model: Any,
    path: str | os.PathLike,
    quant: str = "float32",
    representative_data: Any = None,
    calibration_steps: int = DEFAULT_CALIBRATION_STEPS,
    labels: str | os.PathLike | Sequence[str] | None = None,
    *,
    force: bool = False,
    qat_steps: int = 10,
    qat_batch_size: int = 8,
    qat_learning_rate: float = 1e-4,
    fidelity_images: int = DEFAULT_FIDELITY_IMAGES,
    description: str | None = None,
    progress: bool = False,
) -> ExportResult:
    """Export an mhzoo model to TFLite.

    Args:
        model: a model from :func:`mhzoo.build` (any width, head and input size) or a registry
            name (random weights).
        path: output ``.tflite``; its fidelity report goes to ``<stem>.fidelity.json``.
        quant: ``float32``, ``fp16``, ``dynamic``, ``int8`` (float fallback), ``int8_full``
            (integer-only, uint8 I/O), ``int8_full_int8_io``, ``int8_full_fp32_io`` or ``qat``.
        representative_data: images for calibration / QAT fine-tuning and fidelity: an image
            folder (JPEG/PNG), a ``tf.data.Dataset`` or numpy arrays of [0, 255] RGB pixels.
            Required by the ``int8*`` modes and ``qat``.
        calibration_steps: the most images used from ``representative_data``.
        labels: class names (a text file with one per line, or a list) for the metadata.
        force: overwrite an existing output.
        qat_steps, qat_batch_size, qat_learning_rate: the QAT fine-tune (distillation from the
            float model on ``representative_data``).
        fidelity_images: images used for the fidelity report.
        description: metadata description (default: model, width, mode and input convention).
        progress: show progress bars (stderr) while calibrating and fine-tuning.

    Returns:
        :class:`ExportResult` with the path, fidelity report and hardware compatibility.

    Raises:
        ValueError: unknown mode, missing / bad representative data, wrong channel count,
            label count mismatch, unwritable or existing output (without ``force``), or a model
            that tfmot cannot quantize (QAT of hard-swish models).
    """
    from mhzoo import __version__

    t0 = time.perf_counter()
    quant = check_mode(quant)
    if (note := requantization_note(model, quant)) is not None:
        warnings.warn(note, UserWarning, stacklevel=2)
    out = check_output_path(path, force=force)
    fid_out = fidelity_path(out)
    check_output_path(fid_out, force=force)
    if quant in DATA_MODES and representative_data is None:
        raise ValueError(f"quantization mode {quant!r} needs representative data: pass "
                         "representative_data= (image folder, tf.data or arrays) or --calib DIR")
    label_list = read_labels(labels)
    twin, kwargs = export_model(model)
    if label_list is not None:
        n = kwargs.get("num_classes")
        if n is None:
            raise ValueError("labels were given but the model has no classifier head")
        if len(label_list) != n:
            raise ValueError(f"{len(label_list)} labels given for a {n}-class model; give one "
                             "label per class (or set --num-classes)")
    if quant == "qat":
        from mhzoo.export.qat import check_qat_supported

        check_qat_supported(twin.arch_spec)
    shape = tuple(kwargs["input_shape"])
    images = None
    if representative_data is not None:
        total = calibration_steps
        if isinstance(representative_data, str | os.PathLike):
            from mhzoo.export.representative import find_images

            total = min(calibration_steps, len(find_images(representative_data)))  # validates
        bar = _progress(progress, total, "calibration images")
        try:
            images = _load_images(representative_data, shape, calibration_steps, bar)
        finally:
            if bar is not None:
                bar.close()

    from mhzoo.variables import named_weights

    if quant == "qat":
        from mhzoo.export.qat import qat_concrete_function

        bar = _progress(progress, qat_steps, "QAT fine-tune")
        try:
            fn = qat_concrete_function(
                twin.arch_spec, kwargs, named_weights(twin), images, steps=qat_steps,
                batch_size=qat_batch_size, learning_rate=qat_learning_rate,
                progress=(bar.update if bar is not None else None))
        finally:
            if bar is not None:
                bar.close()
    else:
        fn = _frozen_function(twin)
    flat = _convert(fn, quant, images if quant != "qat" else None)
    inv = inventory(flat)
    _check_export(inv, quant)

    eval_images = images[:fidelity_images] if images is not None else _synthetic_images(
        shape, min(fidelity_images, 4))
    fid = _fidelity(twin, flat, eval_images, quant,
                    "calibration" if images is not None else "synthetic")
    compat = check_compatibility(inv)
    info = {"mhzoo_version": __version__, "model": twin.base_spec.name,
            "width": twin.width, "quant": quant,
            "input_shape": list(shape), "input_dtype": io_dtype(quant),
            "preprocessing_inside": twin.preprocessing.to_dict(),
            "calibration_images": 0 if images is None else len(images),
            "fidelity": fid.to_dict(), "fully_supported": compat.fully_supported}
    if quant == "qat":
        info["qat"] = {"steps": qat_steps, "batch_size": qat_batch_size,
                       "learning_rate": qat_learning_rate}
    if len(inv.inputs) == 1 and len(inv.outputs) == 1 and not kwargs.get("features_only"):
        from mhzoo.export.metadata import add_metadata

        flat = add_metadata(flat, _metadata(twin, kwargs, quant, label_list, description, info))
    seconds = time.perf_counter() - t0
    with atomic_group([out, fid_out]) as (model_tmp, fid_tmp):  # together or not at all
        model_tmp.write_bytes(flat)
        fid_tmp.write_bytes(fid.to_json().encode())
    return ExportResult(path=out, quant=quant, fidelity=fid, fidelity_path=fid_out,
                        compatibility=compat, inventory=inv, seconds=seconds,
                        size_bytes=len(flat))


def _fidelity(twin: Any, flat: bytes, images: np.ndarray, quant: str, source: str
              ) -> FidelityReport:
    """Logit-level fidelity of ``flat`` against the Keras float ``twin`` on ``images``.

    A classifier with an activation (softmax) is compared on its logits: the Keras
    ``classifier`` layer output against the SOFTMAX input of the .tflite; the probabilities
    are a secondary figure. Without such a head the outputs themselves are compared.
    """
    import keras

    from mhzoo import build_config

    cfg = build_config(twin)
    head = cfg.include_top and cfg.classifier_activation is not None
    probe = (keras.Model(twin.inputs[0], [twin.get_layer("classifier").output, twin.output])
             if head else twin)  # "classifier": the builder's name of the Dense head
    ref_logits, ref_out = [], []
    for i in range(len(images)):
        y = probe(images[i:i + 1], training=False)
        if head:
            ref_logits.append(np.asarray(y[0]))
            ref_out.append(np.asarray(y[1]))
        else:
            ref_out.append(np.asarray(y))
    reference = np.concatenate(ref_out)
    got = run_tflite_outputs(flat, images)
    if not head:
        return compare(reference, got["output"], mode=quant, output_kind="logits",
                       images=source, logits_from="model output")
    if got["logits"] is got["output"]:  # no SOFTMAX in front of the output (other activation)
        return compare(reference, got["output"], mode=quant, output_kind="outputs",
                       images=source)
    return compare(np.concatenate(ref_logits), got["logits"], mode=quant, output_kind="logits",
                   images=source, logits_from="SOFTMAX input",
                   probabilities=(reference, got["output"]))


def _load_images(data: Any, shape: tuple[int, ...], steps: int, bar: Any) -> np.ndarray:
    from mhzoo.export.representative import representative_array

    return representative_array(data, shape, steps,
                                progress=(bar.update if bar is not None else None))


def _check_export(inv: ModelInventory, quant: str) -> None:
    """Post-conditions every export must meet."""
    if not inv.static_shapes:
        raise RuntimeError(f"export has dynamic shapes: {inv.dynamic_tensors[:3]}")
    dyn_ops = {"SHAPE", "STRIDED_SLICE", "PACK"} & set(inv.op_names())
    if dyn_ops:
        raise RuntimeError(f"export contains dynamic-batch ops {sorted(dyn_ops)}")
    if quant in INTEGER_ONLY_MODES and not inv.integer_only:
        raise RuntimeError(f"{quant} export is not integer-only; float ops: {inv.float_ops}")


def to_saved_model(model: Any, path: str | os.PathLike, *, force: bool = False) -> Path:
    """Export a batch-1 SavedModel (normalization inside) with a ``serving_default`` signature
    taking ``image`` (float32 RGB pixels in [0, 255]); written atomically as a folder."""
    import tensorflow as tf

    out = check_output_path(path, force=force, directory=True)
    twin, kwargs = export_model(model)
    spec = tf.TensorSpec((1, *kwargs["input_shape"]), tf.float32, name="image")
    module = tf.Module()
    module.model_vars = list(twin.variables)
    module.serve = tf.function(lambda image: {"output": twin(image, training=False)},
                               input_signature=[spec])
    with atomic_dir(out) as tmp:
        tf.saved_model.save(module, str(tmp), signatures={"serving_default": module.serve})
    return out
