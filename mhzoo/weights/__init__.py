"""Pretrained weights: mhzoo checkpoints, the Hugging Face Hub, the pretrained registry and
exact converters from the TF Model Garden, keras.applications and timm.

* ``mhzoo.build(name, weights=...)`` accepts a checkpoint folder, ``"hf-hub:org/repo[@rev]"``,
  ``"imagenet"`` or a tag (:func:`list_pretrained`).
* :func:`save_pretrained` / :func:`push_to_hub` write ``model.safetensors`` + ``config.json`` +
  ``README.md`` (``save_pretrained`` refuses an existing folder unless ``force=True``, and even
  then replaces only an mhzoo checkpoint folder, never the working directory).
* :func:`convert` (and ``mhzoo convert``) turns upstream checkpoints into mhzoo checkpoints.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mhzoo.weights import resolve
from mhzoo.weights.checkpoint import (
    WeightSource,
    check_checkpoint_dir,
    open_local,
    read_safetensors,
    save_pretrained,
)
from mhzoo.weights.hub import push_to_hub
from mhzoo.weights.pretrained import (
    PretrainedTag,
    get_pretrained,
    list_pretrained,
    register_pretrained,
)

__all__ = ["SOURCES", "PretrainedTag", "WeightSource", "check_checkpoint_dir", "convert",
           "get_pretrained", "list_pretrained", "open_local", "open_weights", "push_to_hub",
           "read_safetensors", "register_pretrained", "save_pretrained"]

#: ``convert(source=...)`` values.
SOURCES = ("tf-model-garden", "keras", "timm", "tflite")


def open_weights(weights: str | os.PathLike, *, model: str | None = None,
                 width: float | None = None) -> WeightSource:
    """Resolve a ``weights=`` value to a :class:`WeightSource` (see
    :func:`mhzoo.weights.resolve.open_weights`); a source not yet in the conversion cache is
    converted with :func:`mhzoo.build`.

    Args:
        weights: a checkpoint folder or its ``model.safetensors``; ``"hf-hub:org/repo[@rev]"``;
            ``"imagenet"``; or a tag ``"<model>_<width x 100>.<tag>"`` / ``"<model>.<tag>"``.
        model: the model being built (registry name), to pick tags and check the checkpoint.
        width: the requested width.

    Raises:
        ValueError: with what is wrong and how to fix it.
    """
    from mhzoo.builder import build

    return resolve.open_weights(weights, model=model, width=width, build=build)


def convert(source: str, src: Any, out: str | os.PathLike, *, model: str | None = None,
            width: float | None = None, num_classes: int | None = None,
            force: bool = False, preprocessing: str | None = None) -> Path:
    """Convert an upstream checkpoint into an mhzoo checkpoint folder ``out``.

    Args:
        source: ``"tf-model-garden"``, ``"keras"``, ``"timm"`` or ``"tflite"``.
        src: checkpoint path (Model Garden prefix / folder; Keras file or model object; timm
            folder or ``"hf-hub:timm/<repo>"``; a ``.tflite`` classification model of ``model``,
            float or quantized, mapped by structure and dequantized).
        out: output folder (written atomically).
        model: mhzoo model name (required except for timm, where it is checked).
        width: width multiplier (checked against the tensors; inferred when ``None``).
        num_classes: expected classifier size (checked).
        force: replace ``out`` if it is an existing mhzoo checkpoint folder (a folder with
            other files in it, or the working directory, is refused even then).
        preprocessing: ``tflite`` only: the normalization the weights expect when the graph
            holds none (``imagenet``, ``minus_one_to_one``, ``zero_one`` or ``none``).

    Returns:
        ``out``; ``mhzoo.build(model, weights=out)`` rebuilds the converted model exactly.
    """
    from mhzoo.builder import build
    from mhzoo.weights.fit import write_converted

    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; expected one of {', '.join(SOURCES)}")
    if preprocessing is not None and source != "tflite":
        raise ValueError("--preprocessing applies to --from tflite only (the other sources "
                         "state their normalization)")
    _named_preprocessing(preprocessing)  # checked before anything is read
    check_checkpoint_dir(out, force=force)
    if source == "tf-model-garden":
        from mhzoo.weights.convert_tfm import convert_tfm

        if model is None:
            raise ValueError("converting a TF Model Garden checkpoint needs --model")
        conv = convert_tfm(src, model=model, width=width, num_classes=num_classes)
    elif source == "keras":
        from mhzoo.weights.convert_keras import convert_keras

        if model is None:
            raise ValueError("converting Keras weights needs --model")
        conv = convert_keras(src, model=model, width=width, num_classes=num_classes)
    elif source == "tflite":
        from mhzoo.weights.convert_tflite import convert_tflite

        if model is None:
            raise ValueError("converting a TFLite model needs --model (its structure is matched "
                             "against that architecture)")
        conv = convert_tflite(src, model=model, width=width, num_classes=num_classes,
                              preprocessing=_named_preprocessing(preprocessing))
    else:
        from mhzoo.weights.convert_timm import convert_timm

        origin = None
        if isinstance(src, str) and src.startswith("hf-hub:"):
            from mhzoo.weights.checkpoint import WEIGHTS_NAME
            from mhzoo.weights.hub import download, parse_hub_id

            repo, rev = parse_hub_id(src)
            download(repo, "config.json", revision=rev)
            origin, src = src, download(repo, WEIGHTS_NAME, revision=rev).parent
        conv = convert_timm(src, model=model, width=width, num_classes=num_classes,
                            origin=origin)
    return write_converted(conv, out, build=build)


def _named_preprocessing(name: str | None) -> Any:
    from mhzoo.preprocessing import Preprocessing
    from mhzoo.weights.pretrained import PREPROCESSINGS

    if name is None:
        return None
    if name == "none":
        return Preprocessing((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    if name not in PREPROCESSINGS:
        raise ValueError(f"unknown preprocessing {name!r}; expected one of "
                         f"{', '.join([*PREPROCESSINGS, 'none'])}")
    return PREPROCESSINGS[name]
