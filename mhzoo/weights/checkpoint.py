"""mhzoo checkpoints: ``model.safetensors`` (keyed by stable variable names) + ``config.json``.

A checkpoint folder holds:

* ``model.safetensors``: every variable of the model (BN statistics too) under the names of
  :func:`mhzoo.variables.named_weights` (``block3_expand/kernel`` ...), framework-neutral, so one
  file loads into Keras 3 and tf_keras builds;
* ``config.json``: ``architecture`` (registry name), ``width``, ``num_classes``, ``label_names``,
  ``spec`` (the exact concrete spec, so converted variants such as Keras' unscaled V3 stem or
  timm's symmetric padding rebuild exactly), ``base_spec`` (when ``scale_spec(base_spec, width)``
  gives ``spec``), ``pretrained_cfg`` (input size, interpolation, crop, mean/std in 0-255 units,
  license, source);
* ``README.md``: a model card (optional).

:func:`open_local` reads a folder into a :class:`WeightSource`; every other ``weights=`` value
(``hf-hub:``, ``"imagenet"``, ``name.tag``) is resolved by :mod:`mhzoo.weights.resolve`.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mhzoo.atomic import atomic_dir, check_output_path
from mhzoo.preprocessing import Preprocessing
from mhzoo.spec import ArchSpec
from mhzoo.variables import assign_named_weights, named_variables, named_weights

__all__ = [
    "CONFIG_NAME",
    "FORMAT",
    "HASH_KEY",
    "WEIGHTS_NAME",
    "WeightSource",
    "check_checkpoint_dir",
    "open_local",
    "read_safetensors",
    "save_pretrained",
    "write_checkpoint",
]

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
CARD_NAME = "README.md"
FORMAT = "mhzoo"
FORMAT_VERSION = 1
#: config.json key holding the sha256 of model.safetensors (written by mhzoo since 0.2)
HASH_KEY = "weights_sha256"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def read_safetensors(path: str | os.PathLike, *, sha256: str | None = None
                     ) -> dict[str, np.ndarray]:
    """All tensors of a safetensors file as numpy arrays; ``ValueError`` if unreadable.

    With ``sha256`` (the content hash a checkpoint's config.json records), the file must have
    that hash: a damaged or replaced file is refused before it is parsed.
    """
    from safetensors.numpy import load_file

    p = Path(path)
    if not p.is_file():
        raise ValueError(f"weights file not found: {p}")
    try:
        tensors = load_file(str(p))
    except Exception as exc:  # safetensors raises its own (Rust) error types
        msg = " ".join(str(exc).split())
        raise ValueError(f"{p} is not a readable safetensors file (truncated or corrupted?): "
                         f"{msg}; download or convert it again") from None
    if sha256 is not None:  # parseable but altered (flipped bytes in a tensor)
        _verify_hash(p, sha256)
    return tensors


def _verify_hash(path: Path, expected: Any) -> None:
    from mhzoo.hashing import sha256_file

    if not isinstance(expected, str) or not _HEX64.match(expected.lower()):
        raise ValueError(f"{path.parent / CONFIG_NAME}: {HASH_KEY} must be 64 hex digits, got "
                         f"{expected!r:.80}")
    got = sha256_file(path)
    if got != expected.lower():
        raise ValueError(f"{path} is damaged or was replaced: its sha256 is {got[:16]}..., the "
                         f"checkpoint's {CONFIG_NAME} records {expected.lower()[:16]}...; "
                         "download, convert or save it again")


@dataclass
class WeightSource:
    """A resolved checkpoint: what the builder needs before and after building.

    Attributes:
        path: the checkpoint folder.
        config: its parsed ``config.json``.
        requested_model: the model name the caller builds (``None``: any).
        origin: how it was given (for messages), e.g. ``"hf-hub:org/repo@main"``.
    """

    path: Path
    config: dict[str, Any] = field(default_factory=dict)
    requested_model: str | None = None
    origin: str | None = None

    # -- what the builder reads before building ------------------------------------------
    @property
    def architecture(self) -> str | None:
        """Registry name the checkpoint was made for."""
        return self.config.get("architecture")

    @property
    def matches_request(self) -> bool:
        """Whether the checkpoint is for the model being built (then its spec is used)."""
        if self.requested_model is None:
            return True
        names = {self.architecture}
        spec = self.config.get("spec")
        if isinstance(spec, dict):
            names.add(spec.get("name"))
        return self.requested_model in names

    @property
    def concrete_spec(self) -> ArchSpec | None:
        """The exact concrete spec stored in the config (all widths final)."""
        raw = self.config.get("spec")
        if not raw or not self.matches_request:
            return None
        try:
            return ArchSpec.from_dict(raw)
        except ValueError as exc:
            raise ValueError(f"{self._where()}: config.json holds an invalid spec: {exc}") from None

    @property
    def spec(self) -> ArchSpec | None:
        """Base spec (width 1.0) when the config has one, else the concrete spec."""
        if not self.matches_request:
            return None
        raw = self.config.get("base_spec")
        if raw:
            try:
                return ArchSpec.from_dict(raw)
            except ValueError as exc:
                raise ValueError(f"{self._where()}: config.json holds an invalid base_spec: {exc}"
                                 ) from None
        return self.concrete_spec

    @property
    def width(self) -> float | None:
        """Width multiplier of the checkpoint (``None`` if not recorded or not applicable)."""
        w = self.config.get("width")
        return float(w) if isinstance(w, int | float) and self.matches_request else None

    @property
    def num_classes(self) -> int | None:
        """Classifier size (``None`` for backbone-only checkpoints)."""
        return self.config.get("num_classes")

    @property
    def preprocessing(self) -> Preprocessing | None:
        """Normalization the weights expect (mean / std in 0-255 units), if recorded."""
        cfg = self.config.get("pretrained_cfg") or {}
        if "mean" in cfg and "std" in cfg:
            return Preprocessing(mean=cfg["mean"], std=cfg["std"])
        return None

    @property
    def pretrained_cfg(self) -> dict[str, Any]:
        """Input size, interpolation, crop, mean / std, license, source of the weights."""
        return dict(self.config.get("pretrained_cfg") or {})

    def _where(self) -> str:
        return self.origin or str(self.path)

    # -- after building -----------------------------------------------------------------
    def tensors(self) -> dict[str, np.ndarray]:
        """All tensors of ``model.safetensors``, checked against the content hash its
        ``config.json`` records (checkpoints written before mhzoo recorded one load
        unchecked)."""
        return read_safetensors(self.path / WEIGHTS_NAME, sha256=self.config.get(HASH_KEY))

    def load_into(self, model: Any, *, include_top: bool = True) -> None:
        """Assign the checkpoint to ``model`` (built by :func:`mhzoo.build`).

        With ``include_top=False`` (or a feature extractor) the classifier and any layer the
        model does not contain are skipped; every variable of the model must still be present.

        Raises:
            ValueError: num_classes mismatch (suggesting ``include_top=False``), a checkpoint
                without a classifier, or another architecture (naming the first mismatching
                variable and both shapes). Nothing is assigned when it raises.
        """
        tensors = self.tensors()
        layer_names = {layer.name for layer in model.layers}
        has_top = "classifier" in layer_names
        if include_top and has_top:
            ck = tensors.get("classifier/kernel")
            if ck is None and _features_only_gap(tensors, model):
                pass  # reported below, with the features_only=True fix
            elif ck is None:
                raise ValueError(
                    f"{self._where()} has no classifier (backbone weights only); build with "
                    "include_top=False or features_only=True")
            want = model.get_layer("classifier").units
            if ck is not None and ck.shape[-1] != want:
                raise ValueError(
                    f"checkpoint {self._where()} has {ck.shape[-1]} classes but the model "
                    f"{want}; pass num_classes={ck.shape[-1]}, or include_top=False to load the "
                    "backbone only and add your own classifier")
            mapping = tensors
        else:
            mapping = {k: v for k, v in tensors.items()
                       if k.split("/")[0] in layer_names and not k.startswith("classifier/")}
        head = _features_only_gap(mapping, model)
        if head:
            raise ValueError(
                f"checkpoint {self._where()} was saved from a feature extractor "
                f"(features_only=True): it stops at block {head[0]} and has no weights for the "
                f"layers after it ({', '.join(head[1][:3])}{' ...' if len(head[1]) > 3 else ''}"
                "); build with features_only=True to load it")
        try:
            assign_named_weights(model, mapping, strict=True)
        except ValueError as exc:
            what = self.architecture or "?"
            if self.config.get("width") is not None:
                what += f" at width {self.config['width']}"
            raise ValueError(f"checkpoint {self._where()} ({what}) does not fit model "
                             f"{model.name!r}: {exc}") from None


_BLOCK_RE = re.compile(r"^block(\d+)_")


def _features_only_gap(tensors: dict[str, np.ndarray], model: Any
                       ) -> tuple[int, list[str]] | None:
    """``(last block, missing layers)`` when ``tensors`` are a prefix of ``model``'s blocks.

    A ``features_only=True`` model ends at its last endpoint, so its checkpoint holds every
    variable of the first blocks and none of the later ones (e.g. the 1x1 head conv).
    """
    have = {int(m.group(1)) for k in tensors if (m := _BLOCK_RE.match(k))}
    if not have:
        return None
    last = max(have)
    missing: list[str] = []
    for key, var in named_variables(model).items():
        if key in tensors:
            if tuple(np.shape(tensors[key])) != tuple(var.shape):
                return None  # another architecture or width: the shape error says so
            continue
        if key.startswith("classifier/"):
            continue
        m = _BLOCK_RE.match(key)
        if m is None or int(m.group(1)) <= last:
            return None  # a gap inside the blocks the checkpoint has: another architecture
        layer = key.split("/")[0]
        if layer not in missing:
            missing.append(layer)
    return (last, missing) if missing else None


def _read_config(path: Path) -> dict[str, Any]:
    cfg_path = path / CONFIG_NAME
    if not cfg_path.is_file():
        return {}
    from mhzoo.safe_json import read_json_file

    config = read_json_file(cfg_path, what=str(cfg_path))
    if not isinstance(config, dict):
        raise ValueError(f"malformed {cfg_path}: expected a JSON object")
    return config


def open_local(path: str | os.PathLike, *, model: str | None = None,
               width: float | None = None, origin: str | None = None) -> WeightSource:
    """Open a checkpoint folder (or its ``model.safetensors``) as a :class:`WeightSource`."""
    p = Path(path)
    if p.is_file():
        if p.suffix != ".safetensors":
            raise ValueError(
                f"{p} is not an mhzoo checkpoint ({WEIGHTS_NAME} + {CONFIG_NAME}); convert "
                "upstream files first: mhzoo convert --from tf-model-garden|keras|timm SRC "
                "--model NAME -o DIR")
        weights_file, p = p, p.parent
    else:
        weights_file = p / WEIGHTS_NAME
    if not p.is_dir():
        raise ValueError(f"weights not found: {path!s} (expected a checkpoint folder, "
                         "'hf-hub:org/repo', 'imagenet' or a tag such as "
                         "'mobilenet_v3_large_100.keras_in1k')")
    if not weights_file.is_file():
        hint = ""
        if any(p.glob("*.index")) or any(p.glob("*.h5")):
            hint = ("; it looks like an upstream checkpoint: convert it with mhzoo convert "
                    "--from tf-model-garden|keras|timm SRC --model NAME -o DIR")
        raise ValueError(f"{p} has no {WEIGHTS_NAME}{hint}")
    config = _read_config(p)
    if config.get("format") not in (None, FORMAT) or (
            config and "spec" not in config and "pretrained_cfg" in config
            and "architecture" in config):
        raise ValueError(
            f"{p} is not an mhzoo checkpoint (its config.json is from another library, e.g. "
            "timm); convert it: mhzoo convert --from timm "
            f"{p} --model NAME -o DIR")
    src = WeightSource(path=p, config=config, requested_model=model, origin=origin)
    _check_width(src, width)
    return src


def _check_width(src: WeightSource, width: float | None) -> None:
    """A checkpoint fixes the width: accept no explicit width or the same value."""
    have = src.width
    if have is None or width is None:
        return
    if not math.isclose(float(width), have, rel_tol=0, abs_tol=1e-9):
        raise ValueError(
            f"checkpoint {src._where()} holds {src.architecture} at width {have:g}, but width "
            f"{width:g} was asked; pass width={have:g} (or leave width out)")


# ----------------------------------------------------------------------------- writing
def write_checkpoint(directory: str | os.PathLike, tensors: dict[str, np.ndarray],
                     config: dict[str, Any], *, card: str | None = None) -> Path:
    """Write ``model.safetensors`` + ``config.json`` (+ ``README.md``) atomically."""
    from safetensors.numpy import save_file

    from mhzoo._version import __version__

    cfg = {"format": FORMAT, "format_version": FORMAT_VERSION, "mhzoo_version": __version__,
           **config}
    arrays = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    from mhzoo.hashing import sha256_file

    with atomic_dir(directory) as tmp:
        save_file(arrays, str(tmp / WEIGHTS_NAME), metadata={"format": "np", "library": "mhzoo"})
        cfg[HASH_KEY] = sha256_file(tmp / WEIGHTS_NAME)  # loading verifies it
        (tmp / CONFIG_NAME).write_text(json.dumps(cfg, indent=1) + "\n")
        if card is not None:
            (tmp / CARD_NAME).write_text(card)
        umask = os.umask(0)
        os.umask(umask)
        for f in tmp.iterdir():
            f.chmod(0o666 & ~umask)
        tmp.chmod(0o777 & ~umask)  # mkdtemp makes 0700 folders; checkpoints are shareable
    return Path(directory)


def model_config(model: Any, *, label_names: list[str] | None = None,
                 pretrained_cfg: dict[str, Any] | None = None,
                 architecture: str | None = None, width: float | None = None,
                 base_spec: ArchSpec | None = None,
                 source: dict[str, Any] | None = None) -> dict[str, Any]:
    """``config.json`` content for a model built by :func:`mhzoo.build`."""
    from mhzoo.build_record import build_config
    from mhzoo.widths import scale_spec

    build = build_config(model)
    spec: ArchSpec = build.spec
    width = float(build.width if width is None else width)
    base = build.base_spec if base_spec is None else base_spec
    if base is not None and scale_spec(base, width) != spec:
        base = None  # e.g. divisible_by=32 or a converted variant: the concrete spec rules
    num_classes = build.num_classes if build.include_top else None
    if label_names is not None and num_classes is not None and len(label_names) != num_classes:
        raise ValueError(f"label_names has {len(label_names)} entries but the classifier "
                         f"{num_classes} classes")
    h, w, c = build.input_shape
    pcfg: dict[str, Any] = {"input_size": [int(h or 224), int(w or 224), int(c)]}
    pcfg.update(build.preprocessing.to_dict())
    pcfg.update(pretrained_cfg or {})
    return {
        "architecture": architecture or getattr(model, "registry_name", None) or
        (base.name if base is not None else spec.name),
        "width": width,
        "num_classes": num_classes,
        "label_names": label_names,
        "spec": spec.to_dict(),
        "base_spec": base.to_dict() if base is not None else None,
        "pretrained_cfg": pcfg,
        "source": source or {"format": "mhzoo"},
        "build": build.replace(weights=None).to_dict(),
    }


def check_checkpoint_dir(directory: str | os.PathLike, *, force: bool = False) -> Path:
    """Validate a checkpoint output folder before anything is written; ``ValueError`` if not.

    Refused: a regular file; an existing folder without ``force``; even with ``force``, the
    current working directory or a folder containing it, and a non-empty folder holding
    anything but an mhzoo checkpoint's files (``model.safetensors``, ``config.json``,
    ``README.md``), so that replacing it never deletes unrelated files.
    """
    p = Path(directory)
    if p.is_dir():
        real, cwd = p.resolve(), Path.cwd().resolve()
        if real == cwd or real in cwd.parents:
            raise ValueError(f"refusing to write a checkpoint over {p} ({real}): it is the "
                             "current working directory or contains it; give a new sub-folder, "
                             "e.g. ./checkpoint")
    check_output_path(p, force=force, directory=True)
    if p.is_dir():
        entries = sorted(e.name for e in p.iterdir())
        other = [e for e in entries if e not in (WEIGHTS_NAME, CONFIG_NAME, CARD_NAME)]
        if entries and (other or not {WEIGHTS_NAME, CONFIG_NAME} & set(entries)):
            shown = ", ".join(other[:3]) + (" ..." if len(other) > 3 else "")
            raise ValueError(f"refusing to replace {p}: it is not an mhzoo checkpoint folder "
                             f"(it holds {shown or ', '.join(entries)}), and replacing it would "
                             "delete those files; choose a new or empty folder")
    return p


def save_pretrained(model: Any, directory: str | os.PathLike, *,
                    label_names: list[str] | None = None,
                    pretrained_cfg: dict[str, Any] | None = None,
                    model_card: bool = True, benchmarks: Any = None,
                    force: bool = False) -> Path:
    """Write ``model`` (built by :func:`mhzoo.build`) as an mhzoo checkpoint folder.

    Args:
        model: a Keras 3 or tf_keras model from :func:`mhzoo.build`.
        directory: output folder, written atomically (a new folder, or with ``force`` an
            existing mhzoo checkpoint folder, replaced as a whole; see
            :func:`check_checkpoint_dir` for what is refused).
        label_names: class names, one per classifier output.
        pretrained_cfg: extra preprocessing facts (``interpolation``, ``crop_pct``,
            ``license``, ``source`` ...); mean/std come from ``model.preprocessing``.
        model_card: also write ``README.md`` (architecture, params / MAdds).
        benchmarks: optional benchmark table for the card (see :func:`mhzoo.weights.card`).
        force: replace ``directory`` if it is an existing mhzoo checkpoint folder.

    Returns:
        The folder path. ``mhzoo.build(name, weights=directory)`` rebuilds the same model.

    Raises:
        ValueError: not an mhzoo model, or ``directory`` refused (exists without ``force``,
            is a file, the working directory, or a folder with other files in it).
    """
    from mhzoo.build_record import build_config

    build_config(model)  # a ValueError for models not built by mhzoo.build
    check_checkpoint_dir(directory, force=force)
    prior = getattr(model, "pretrained_cfg", None) or {}
    cfg = model_config(model, label_names=label_names, pretrained_cfg=pretrained_cfg,
                       architecture=prior.get("architecture"),
                       source=prior.get("source"))
    if prior.get("pretrained_cfg"):
        cfg["pretrained_cfg"] = {**prior["pretrained_cfg"], **cfg["pretrained_cfg"]}
    card = None
    if model_card:
        from mhzoo.weights.card import model_card as make_card

        card = make_card(model, cfg, benchmarks=benchmarks)
    return write_checkpoint(directory, named_weights(model), cfg, card=card)


def layer_arrays_to_named(model: Any, layers: dict[str, list[np.ndarray]]
                          ) -> dict[str, np.ndarray]:
    """``{layer: [arrays in Keras weight order]}`` -> ``{"layer/var": array}`` for ``model``."""
    variables = named_variables(model)
    by_layer: dict[str, list[str]] = {}
    for key in variables:
        by_layer.setdefault(key.split("/")[0], []).append(key)
    out: dict[str, np.ndarray] = {}
    for layer, arrays in layers.items():
        keys = by_layer.get(layer)
        if keys is None:
            raise ValueError(f"converted weights name layer {layer!r}, which the model lacks")
        if len(keys) != len(arrays):
            raise ValueError(f"layer {layer!r}: {len(arrays)} converted arrays for "
                             f"{len(keys)} variables")
        out.update(zip(keys, arrays, strict=True))
    return out
