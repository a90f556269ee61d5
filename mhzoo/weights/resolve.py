"""Resolution of every ``weights=`` value to a local ``WeightSource``.

One place decides what a ``weights=`` value means and where its tensors come from:

* a local checkpoint folder or its ``model.safetensors``
  (:func:`~mhzoo.weights.checkpoint.open_local`);
* ``"hf-hub:org/repo[@rev]"``: an mhzoo-format repo is opened from the Hub cache, a timm repo is
  converted once into the conversion cache (:func:`~mhzoo.weights.hub.converted_cache_dir`);
* ``"imagenet"`` or a tag (:data:`mhzoo.weights.pretrained.PRETRAINED_TAGS`): the tag's Hub
  repo, or its keras-applications file downloaded and converted once into the same cache.

This module sits above checkpoint, hub, pretrained and the converters, and below
:mod:`mhzoo.builder`. Converting needs a model builder; it is passed in as ``build`` (what
:func:`mhzoo.build` accepts, called with ``weights=None``), so nothing here imports the builder
and imports point one way: builder -> resolve -> checkpoint / hub / pretrained / converters.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from mhzoo.hashing import sha256_file
from mhzoo.weights.checkpoint import CONFIG_NAME, WEIGHTS_NAME, WeightSource, open_local
from mhzoo.weights.fit import write_converted
from mhzoo.weights.hub import converted_cache_dir, download, offline_reason, parse_hub_id
from mhzoo.weights.pretrained import PretrainedTag, resolve_tag

__all__ = ["Builder", "fetch_pretrained_files", "open_hub", "open_pretrained", "open_weights"]

#: ``mhzoo.build``-compatible callable (name or spec, width, keywords) -> Keras model.
Builder = Callable[..., Any]

def open_weights(weights: str | os.PathLike, *, model: str | None = None,
                 width: float | None = None, build: Builder | None = None) -> WeightSource:
    """Resolve a ``weights=`` value to a :class:`~mhzoo.weights.checkpoint.WeightSource`.

    Args:
        weights: a checkpoint folder or its ``model.safetensors``; ``"hf-hub:org/repo[@rev]"``;
            ``"imagenet"`` (the default pretrained tag of ``model`` at ``width``); or a tag
            ``"<model>_<width x 100>.<tag>"`` / ``"<model>.<tag>"`` (see
            :func:`mhzoo.weights.list_pretrained`).
        model: the model being built (registry name), to pick tags and check the checkpoint.
        width: the requested width.
        build: the model builder a one-time conversion uses (:func:`mhzoo.build` passes
            itself; :func:`mhzoo.weights.open_weights` passes :func:`mhzoo.build`). Only
            needed when the source is not yet in the conversion cache.

    Raises:
        ValueError: with what is wrong and how to fix it.
    """
    if isinstance(weights, os.PathLike):
        return open_local(weights, model=model, width=width)
    if not isinstance(weights, str) or not weights:
        raise ValueError(f"weights must be a path, 'hf-hub:org/repo', 'imagenet' or a tag, got "
                         f"{weights!r}")
    if weights.startswith("hf-hub:"):
        return open_hub(weights, model=model, width=width, build=build)
    if Path(weights).exists() or os.sep in weights or weights.endswith(".safetensors"):
        return open_local(weights, model=model, width=width)
    return open_pretrained(weights, model=model, width=width, build=build)


def _need_builder(build: Builder | None, what: str) -> Builder:
    if build is None:
        raise ValueError(f"{what} must be converted once into the mhzoo cache, which needs a "
                         "model builder: call mhzoo.weights.open_weights (or mhzoo.build), or "
                         "pass build=mhzoo.build")
    return build


# ----------------------------------------------------------------------------- Hub
def open_hub(weights: str, *, model: str | None = None, width: float | None = None,
             cache_dir: str | os.PathLike | None = None, sha256: str | None = None,
             force_download: bool = False, build: Builder | None = None) -> WeightSource:
    """Resolve ``"hf-hub:org/repo[@revision]"`` to a local :class:`WeightSource`.

    Args:
        weights: the Hub reference.
        model: the model being built (checked against the checkpoint).
        width: requested width.
        cache_dir: huggingface_hub cache folder (default: HF_HUB_CACHE / HF_HOME / ~/.cache).
        sha256: pinned sha256 of ``model.safetensors`` (registry entries pin it).
        force_download: download again even if cached.
        build: model builder for the one-time conversion of a timm repo (see
            :func:`open_weights`).
    """
    repo, rev = parse_hub_id(weights)
    cfg_path = download(repo, CONFIG_NAME, revision=rev, cache_dir=cache_dir,
                        force_download=force_download)
    try:
        cfg = json.loads(cfg_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"malformed config.json in {weights}: {exc}") from None
    wpath = download(repo, WEIGHTS_NAME, revision=rev, cache_dir=cache_dir, sha256=sha256,
                     force_download=force_download)
    if isinstance(cfg, dict) and cfg.get("format") == "mhzoo":
        if wpath.parent != cfg_path.parent:
            raise ValueError(f"{weights}: config.json and {WEIGHTS_NAME} resolved to different "
                             "snapshots; pin a revision (hf-hub:org/repo@<commit>)")
        return open_local(wpath.parent, model=model, width=width, origin=weights)
    if isinstance(cfg, dict) and "architecture" in cfg and "pretrained_cfg" in cfg:
        return _open_timm(wpath, weights, model=model, width=width, build=build)
    raise ValueError(f"{weights} is neither an mhzoo checkpoint nor a timm one (config.json "
                     "has no 'format': 'mhzoo' / timm 'architecture')")


def _open_timm(wpath: Path, weights: str, *, model: str | None, width: float | None,
               build: Builder | None) -> WeightSource:
    """Convert a timm Hub snapshot once into mhzoo's cache and open it."""
    from mhzoo.weights.convert_timm import convert_timm

    blob = Path(os.path.realpath(wpath)).name
    key = re.sub(r"[^\w.-]+", "--", weights.removeprefix("hf-hub:"))
    out = converted_cache_dir() / f"timm--{key}--{blob[:16]}"
    if not (out / WEIGHTS_NAME).is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        conv = convert_timm(wpath.parent, origin=weights)
        write_converted(conv, out, build=_need_builder(build, weights))
    return open_local(out, model=model, width=width, origin=weights)


# ----------------------------------------------------------------------------- tags
def open_pretrained(weights: str, *, model: str | None = None, width: float | None = None,
                    cache_dir: str | os.PathLike | None = None, build: Builder | None = None
                    ) -> WeightSource:
    """Resolve ``"imagenet"`` or a tag to a local checkpoint (downloading and converting it)."""
    entry = resolve_tag(weights, model, width)
    if entry.source in ("hub", "timm-hub"):
        ref = f"hf-hub:{entry.hf_hub_id}" + (f"@{entry.revision}" if entry.revision else "")
        src = open_hub(ref, model=model, width=width, cache_dir=cache_dir, sha256=entry.sha256,
                       build=build)
        return _with_tag(src, entry)
    if entry.source == "keras":
        return _with_tag(_open_keras(entry, model, width, build), entry)
    if entry.source == "url":
        return _with_tag(_open_url(entry, model, width, build, cache_dir), entry)
    if entry.source == "tf-model-garden":
        raise ValueError(
            f"{entry.name} ({entry.description}) is published at {entry.url}; fetch it (gsutil "
            "-m cp -r URL .), then: mhzoo convert --from tf-model-garden <folder>/ckpt-N "
            f"--model {entry.model} -o DIR, and pass weights=DIR")
    raise ValueError(f"pretrained tag {entry.name}: unknown source {entry.source!r}")


# ----------------------------------------------------------------------------- url sources
def fetch_pretrained_files(weights: str, *, model: str | None = None,
                           width: float | None = None,
                           cache_dir: str | os.PathLike | None = None) -> list[Path]:
    """The upstream files of a ``url`` tag, downloaded and verified, unchanged.

    For a ``tflite`` tag that is the original ``.tflite`` (deploy it as published, instead of
    re-quantizing the dequantized weights); for a ``tf-checkpoint`` tag the ``checkpoint``,
    ``.index`` and ``.data`` files, in one folder.

    Raises:
        ValueError: not a url tag, offline with nothing cached, or a failed download.
    """
    from mhzoo.weights.url import download_url

    entry = resolve_tag(weights, model, width)
    if entry.source != "url":
        raise ValueError(f"{entry.name} is a {entry.source} source, not a downloadable file; "
                         "load it with mhzoo.build(..., weights=TAG)")
    if entry.file_format == "tflite":
        return [download_url(entry.url, sha256=entry.sha256, cache_dir=cache_dir,
                             label=entry.name)]
    if entry.file_format == "tf-checkpoint":
        return _fetch_checkpoint(entry, cache_dir)
    raise ValueError(f"pretrained tag {entry.name}: unknown file format {entry.file_format!r}")


def _fetch_checkpoint(entry: PretrainedTag, cache_dir: str | os.PathLike | None) -> list[Path]:
    """``checkpoint`` state file, then the ``.index`` / ``.data`` files it names."""
    from mhzoo.weights.url import download_url

    if entry.sha256 is not None:
        raise ValueError(f"{entry.name}: a checkpoint tag spans several files, so one sha256 "
                         "cannot pin it; leave sha256 unset (each file is checked against the "
                         "md5 the server states, and its recorded sha256 on later loads)")
    folder = entry.url if entry.url.endswith("/") else entry.url + "/"
    state = download_url(folder + "checkpoint", cache_dir=cache_dir,
                         label=f"{entry.name} (checkpoint state)")
    m = re.search(r'^model_checkpoint_path:\s*"([^"]+)"', state.read_text(errors="replace"),
                  re.MULTILINE)
    if m is None or "/" in m.group(1) or m.group(1) in ("", ".", ".."):
        raise ValueError(f"{entry.name}: {folder}checkpoint names no checkpoint in its folder "
                         "(expected a line model_checkpoint_path: \"ckpt-N\")")
    name = m.group(1)
    files = [state]
    for suffix in (".index", ".data-00000-of-00001"):
        try:
            files.append(download_url(folder + name + suffix, cache_dir=cache_dir,
                                      label=f"{entry.name} ({name}{suffix})"))
        except ValueError as exc:
            if "HTTP 404" not in str(exc):
                raise
            raise ValueError(f"{exc}; mhzoo expects a single-shard checkpoint ({name}.index + "
                             f"{name}.data-00000-of-00001) in {folder}: fetch the folder "
                             "yourself (gsutil -m cp -r) and run mhzoo convert --from "
                             f"tf-model-garden <folder>/{name} --model {entry.model}") from None
    return files


def _recorded_sha256(path: Path) -> str | None:
    try:
        meta = json.loads(path.with_name(path.name + ".mhzoo.json").read_text())
    except (OSError, ValueError):
        return None
    return meta.get("sha256") if isinstance(meta, dict) else None


def _open_url(entry: PretrainedTag, model: str | None, width: float | None,
              build: Builder | None, cache_dir: str | os.PathLike | None) -> WeightSource:
    """Download a url tag's file(s), convert once into the conversion cache, open it.

    The conversion is kept under the tag's name with the sha256 of the file it came from; it is
    used as is while the downloaded file still has that hash (or was cleaned away), and
    converted again when the download changed.
    """
    from mhzoo.weights.url import url_cache_path

    out = converted_cache_dir() / f"url--{entry.name}"
    last = entry.url if entry.file_format == "tflite" else None
    if (out / WEIGHTS_NAME).is_file():
        made_from = (json.loads((out / CONFIG_NAME).read_text()).get("source") or {}).get(
            "sha256")
        now = _recorded_sha256(url_cache_path(last, cache_dir)) if last else None
        if made_from and (now is None or now == made_from) and (
                entry.sha256 is None or entry.sha256.lower() == made_from):
            return open_local(out, model=model, width=width, origin=entry.name)
    files = fetch_pretrained_files(entry.name, cache_dir=cache_dir)
    digest = _recorded_sha256(files[-1]) or sha256_file(files[-1])
    if entry.file_format == "tflite":
        from mhzoo.weights.convert_tflite import convert_tflite

        conv = convert_tflite(files[0], model=entry.model, width=entry.width,
                              num_classes=entry.num_classes,
                              preprocessing=entry.preprocessing, origin=entry.url)
        prep = {k: conv.pretrained_cfg[k] for k in ("mean", "std")}
    else:
        from mhzoo.weights.convert_tfm import convert_tfm

        prefix = str(files[1])[: -len(".index")]
        conv = convert_tfm(prefix, model=entry.model, width=entry.width)
        prep = {}
    conv = replace(conv, pretrained_cfg={**conv.pretrained_cfg, **entry.pretrained_cfg(), **prep},
                   source={**conv.source, "url": entry.url, "path": entry.url,
                           "source_page": entry.source_page, "sha256": digest})
    out.parent.mkdir(parents=True, exist_ok=True)
    write_converted(conv, out, build=_need_builder(build, entry.name))
    return open_local(out, model=model, width=width, origin=entry.name)


def _with_tag(src: WeightSource, entry: PretrainedTag) -> WeightSource:
    src.config.setdefault("pretrained_cfg", {})["tag"] = entry.name
    return src


def _keras_md5(entry: PretrainedTag) -> str | None:
    if not entry.md5 or not entry.md5.startswith("keras:"):
        return entry.md5
    from keras.src.applications import mobilenet_v3

    return mobilenet_v3.WEIGHTS_HASHES[entry.md5.split(":", 1)[1]][0]


def _open_keras(entry: PretrainedTag, model: str | None, width: float | None,
                build: Builder | None) -> WeightSource:
    from mhzoo.weights.convert_keras import convert_keras

    out = converted_cache_dir() / f"keras--{entry.name}"
    if not (out / WEIGHTS_NAME).is_file():
        if (reason := offline_reason()) is not None:
            raise ValueError(f"{entry.name} is not in the mhzoo cache ({out}) and {reason}; go "
                             f"online once, or download {entry.url} elsewhere and "
                             "run mhzoo convert --from keras FILE --model "
                             f"{entry.keras_model or entry.model} -o DIR")
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        import keras

        fname = entry.url.rsplit("/", 1)[-1]
        # Our own, existing download folder: keras falls back to a shared /tmp/.keras (and may
        # reuse a stale file of the same name there) when the folder it is given is missing.
        downloads = converted_cache_dir().parent / "downloads"
        downloads.mkdir(parents=True, exist_ok=True)
        try:
            path = keras.utils.get_file(fname, entry.url, cache_subdir="keras",
                                        file_hash=_keras_md5(entry), cache_dir=str(downloads))
        except Exception as exc:  # keras raises plain Exception on network errors
            raise ValueError(f"cannot download {entry.url}: {' '.join(str(exc).split())[:200]}"
                             f"; download it elsewhere and run mhzoo convert --from keras FILE "
                             f"--model {entry.keras_model or entry.model} -o DIR") from None
        if entry.sha256 is not None:
            _check_sha256(Path(path), entry)
        conv = convert_keras(path, model=entry.keras_model or entry.model, width=entry.width)
        conv = replace(conv, pretrained_cfg={**conv.pretrained_cfg, **entry.pretrained_cfg()})
        out.parent.mkdir(parents=True, exist_ok=True)
        write_converted(conv, out, build=_need_builder(build, entry.name))
    return open_local(Path(out), model=model, width=width, origin=entry.name)


def _check_sha256(path: Path, entry: PretrainedTag) -> None:
    """Enforce ``entry.sha256`` on a downloaded file (removed on a mismatch, so the next load
    downloads it again)."""
    got = sha256_file(path)
    if got != entry.sha256.lower():
        path.unlink(missing_ok=True)
        raise ValueError(f"sha256 mismatch for {entry.name} ({entry.url}): the file has {got}, "
                         f"the registry pins {entry.sha256.lower()}; the download is corrupted "
                         "or the upstream file changed (the file was removed; load again to "
                         "retry, or fix the pin)")
