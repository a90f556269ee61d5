"""Pretrained weights registry: tagged entries ``<model>_<width x 100>.<tag>`` (as in timm).

Every entry points to a real upstream source and states the preprocessing it expects:

* ``keras_in1k``: the keras-applications ImageNet weights (file names and md5 pins come from the
  installed ``keras.src.applications`` modules), converted on first use;
* timm tags (``ra_in1k``, ``lamb_in1k``, ``tf_in1k`` ...): ``timm/<architecture>.<tag>`` repos on
  the Hugging Face Hub, downloaded through :mod:`mhzoo.weights.hub` and converted on first use;
* ``tfm_in1k``: Model Garden checkpoints on Google Cloud Storage (fetched by the user, then
  converted with ``mhzoo convert --from tf-model-garden``).

``weights="imagenet"`` picks the model's default tag at the requested width: the one entry
flagged ``default=True`` for that (model, width); :func:`register_pretrained` refuses a second
one, so the choice never depends on registration order. The rule the built-in flags follow:
``keras_in1k`` wherever keras.applications publishes the (model, width) (what
``keras.applications.X(weights="imagenet")`` users get), else the timm tag (today only
``mobilenet_v3_small_050.lamb_in1k``); other tags are picked by name. Where no public
classification weights exist (Multi-AVG, Multi-MAX), it raises and says so: mhzoo never falls
back to random weights in silence.

Integrity. A tag's ``sha256`` pin, when set, is enforced on every load of a Hub source (the
cached ``model.safetensors`` is hashed and compared) and on the download of a keras source;
a mismatch raises. The built-in tags pin no sha256 and no revision (the values cannot be
computed without downloading the upstream files), so what is verified is weaker:

* Hub sources (timm tags): each file must match the content hash the Hub itself serves and
  caches it under (sha256 for LFS files such as ``model.safetensors``, the git blob sha1 for
  ``config.json``). That catches transfer errors and a corrupted cache, not a repo whose ``main``
  branch was changed upstream: without ``revision`` the latest commit is used;
* keras sources: the MobileNetV3 files are checked against the md5 keras' own
  ``WEIGHTS_HASHES`` pin; keras publishes no hash for the MobileNet / MobileNetV2 files, so
  those are checked only by the converter (readable HDF5, every tensor present with the
  expected shape);
* Model Garden sources are fetched by the user and converted with the same strict checks.
"""

from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mhzoo.names import model_slug
from mhzoo.preprocessing import IMAGENET, MINUS_ONE_TO_ONE, Preprocessing
from mhzoo.weights.checkpoint import WEIGHTS_NAME, WeightSource, open_local

__all__ = ["NO_PUBLIC_WEIGHTS", "PretrainedTag", "get_pretrained", "list_pretrained",
           "open_pretrained", "register_pretrained"]

_KERAS = "https://storage.googleapis.com/tensorflow/keras-applications/"  # keras BASE_WEIGHT_PATH


@dataclass(frozen=True)
class PretrainedTag:
    """One pretrained weight set.

    Attributes:
        model: mhzoo registry name the weights load into.
        width: width multiplier.
        tag: weight tag (``keras_in1k``, ``ra_in1k`` ...).
        source: ``"keras"``, ``"timm-hub"``, ``"hub"`` (an mhzoo-format Hub repo) or
            ``"tf-model-garden"`` (manual download).
        url: download url (keras) or where to fetch it (Model Garden).
        hf_hub_id: ``org/repo`` for Hub sources.
        revision: pinned Hub revision (commit hash or tag); ``None`` follows ``main`` (the
            latest commit at download time).
        sha256: pinned sha256 of the weight file (``model.safetensors`` on the Hub, the
            ``.h5`` for keras), enforced when set: a mismatch raises ``ValueError``. ``None``
            (every built-in tag): Hub files are checked only against the content hash the Hub
            serves them with (integrity of transfer and cache, not a fixed upstream version);
            keras files against ``md5`` if any.
        md5: keras-applications file hash (from keras' own ``WEIGHTS_HASHES``; only
            MobileNetV3 has one).
        preprocessing: normalization the weights expect (0-255 units).
        num_classes, interpolation, crop_pct, license, description: as in timm's PretrainedCfg.
        keras_model: converter model name when it differs from ``model`` (minimalistic small).
        default: the tag ``weights="imagenet"`` picks for this model and width (at most one
            per model and width; see the module docstring for the rule).
    """

    model: str
    width: float
    tag: str
    source: str
    url: str | None = None
    hf_hub_id: str | None = None
    revision: str | None = None
    sha256: str | None = None
    md5: str | None = None
    preprocessing: Preprocessing = field(default=MINUS_ONE_TO_ONE)
    num_classes: int = 1000
    interpolation: str = "bilinear"
    crop_pct: float = 0.875
    license: str = "apache-2.0"
    description: str = ""
    keras_model: str | None = None
    default: bool = False

    @property
    def slug(self) -> str:
        """``<model>_<width x 100>``, e.g. ``mobilenet_v3_large_075``."""
        base = self.keras_model or self.model
        return model_slug(base, self.width)

    @property
    def name(self) -> str:
        """Full tag name, e.g. ``mobilenet_v3_large_075.keras_in1k``."""
        return f"{self.slug}.{self.tag}"

    def pretrained_cfg(self) -> dict[str, Any]:
        """The ``pretrained_cfg`` block written into converted checkpoints."""
        return {**self.preprocessing.to_dict(), "num_classes": self.num_classes,
                "interpolation": self.interpolation, "crop_pct": self.crop_pct,
                "license": self.license, "tag": self.name,
                "source": self.hf_hub_id or self.url}


_REGISTRY: dict[str, PretrainedTag] = {}

#: Models without public classification weights, and why.
NO_PUBLIC_WEIGHTS = {
    "multi_max": "no public ImageNet checkpoint of Multi-MAX exists (the paper released none, and "
                 "the TF Model Garden publishes none)",
    "multi_avg": "no public float ImageNet classification checkpoint of Multi-AVG exists (the TF "
                 "Model Garden only publishes a QAT int8 TFLite model, "
                 "mobilenet_v3.5multiavg_1.00_224_int8.tflite, which holds quantized weights)",
    "multi_max_seg": "no public checkpoint of the Multi-MAX-Seg backbone exists",
    "proxylessnas_mobile": "the official ProxylessNAS-Mobile weights are a PyTorch .pth "
                           "(han-cai/files proxyless_mobile.pth) with no mhzoo converter",
}


def _default_of(model: str, width: float, *, skip: str | None = None) -> PretrainedTag | None:
    for e in _REGISTRY.values():
        if e.default and e.model == model and abs(e.width - width) < 1e-9 and e.name != skip:
            return e
    return None


def register_pretrained(entry: PretrainedTag, *, overwrite: bool = False) -> PretrainedTag:
    """Add a tag to the registry (``overwrite=True`` to replace one of the same name).

    Raises:
        ValueError: the name is taken (without ``overwrite``), or ``entry.default`` while
            another tag is already the default of the same model and width.
    """
    if entry.name in _REGISTRY and not overwrite:
        raise ValueError(f"pretrained tag {entry.name!r} already registered")
    other = _default_of(entry.model, entry.width, skip=entry.name) if entry.default else None
    if other is not None:
        raise ValueError(f"{entry.model} at width {entry.width:g} already has a default tag, "
                         f"{other.name} (weights='imagenet' picks it); register {entry.name} "
                         f"with default=False, or re-register {other.name} with default=False "
                         "(overwrite=True) first")
    _REGISTRY[entry.name] = entry
    return entry


def _keras_entries() -> None:
    v1 = {0.25: "2_5", 0.5: "5_0", 0.75: "7_5", 1.0: "1_0"}  # keras mobilenet.py alpha_text
    for w, text in v1.items():
        register_pretrained(PretrainedTag(
            "mobilenet_v1", w, "keras_in1k", "keras",
            url=f"{_KERAS}mobilenet/mobilenet_{text}_224_tf.h5", default=True,
            description="keras.applications.MobileNet ImageNet weights"))
    for w in (0.35, 0.5, 0.75, 1.0, 1.3, 1.4):  # keras mobilenet_v2.py file names
        register_pretrained(PretrainedTag(
            "mobilenet_v2", w, "keras_in1k", "keras",
            url=f"{_KERAS}mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_"
                f"{float(w)}_224.h5", default=True,
            description="keras.applications.MobileNetV2 ImageNet weights"))
    v3 = [("mobilenet_v3_large", "large", 0.75, None), ("mobilenet_v3_large", "large", 1.0, None),
          ("mobilenet_v3_large_minimalistic", "large_minimalistic", 1.0, None),
          ("mobilenet_v3_small", "small", 0.75, None), ("mobilenet_v3_small", "small", 1.0, None),
          ("mobilenet_v3_small", "small_minimalistic", 1.0, "mobilenet_v3_small_minimalistic")]
    for model, kind, w, km in v3:  # keras mobilenet_v3.py: weights_mobilenet_v3_<kind>_224_<a>
        register_pretrained(PretrainedTag(
            model, w, "keras_in1k", "keras",
            url=f"{_KERAS}mobilenet_v3/weights_mobilenet_v3_{kind}_224_{w}_float.h5",
            md5=f"keras:{kind}_224_{w}_float", keras_model=km, default=km is None,
            description="keras.applications MobileNetV3 ImageNet weights"))


def _timm_entries() -> None:
    inception = MINUS_ONE_TO_ONE  # timm IMAGENET_INCEPTION_MEAN/STD (0.5, 0.5)
    rows = [
        ("mobilenet_v2", 0.5, "lamb_in1k", "mobilenetv2_050.lamb_in1k", IMAGENET, "bicubic", None),
        ("mobilenet_v2", 1.0, "ra_in1k", "mobilenetv2_100.ra_in1k", IMAGENET, "bicubic", None),
        ("mobilenet_v2", 1.4, "ra_in1k", "mobilenetv2_140.ra_in1k", IMAGENET, "bicubic", None),
        ("mobilenet_v3_large", 1.0, "ra_in1k", "mobilenetv3_large_100.ra_in1k", IMAGENET,
         "bicubic", None),
        ("mobilenet_v3_large", 1.0, "miil_in21k_ft_in1k",
         "mobilenetv3_large_100.miil_in21k_ft_in1k",
         Preprocessing((0.0, 0.0, 0.0), (255.0, 255.0, 255.0)), "bilinear", None),
        ("mobilenet_v3_small", 0.5, "lamb_in1k", "mobilenetv3_small_050.lamb_in1k", IMAGENET,
         "bicubic", None),
        ("mobilenet_v3_small", 0.75, "lamb_in1k", "mobilenetv3_small_075.lamb_in1k", IMAGENET,
         "bicubic", None),
        ("mobilenet_v3_small", 1.0, "lamb_in1k", "mobilenetv3_small_100.lamb_in1k", IMAGENET,
         "bicubic", None),
        ("mobilenet_v3_large", 0.75, "tf_in1k", "tf_mobilenetv3_large_075.in1k", inception,
         "bilinear", None),
        ("mobilenet_v3_large", 1.0, "tf_in1k", "tf_mobilenetv3_large_100.in1k", inception,
         "bilinear", None),
        ("mobilenet_v3_large_minimalistic", 1.0, "tf_in1k", "tf_mobilenetv3_large_minimal_100.in1k",
         inception, "bilinear", None),
        ("mobilenet_v3_small", 0.75, "tf_in1k", "tf_mobilenetv3_small_075.in1k", inception,
         "bilinear", None),
        ("mobilenet_v3_small", 1.0, "tf_in1k", "tf_mobilenetv3_small_100.in1k", inception,
         "bilinear", None),
        ("mobilenet_v3_small", 1.0, "tf_in1k", "tf_mobilenetv3_small_minimal_100.in1k", inception,
         "bilinear", "mobilenet_v3_small_minimalistic"),
    ]
    for model, w, tag, repo, prep, interp, km in rows:
        register_pretrained(PretrainedTag(
            model, w, tag, "timm-hub", hf_hub_id=f"timm/{repo}", preprocessing=prep,
            interpolation=interp, keras_model=km,
            default=(model, w) == ("mobilenet_v3_small", 0.5),  # keras has no 0.5 V3 small
            description=f"timm {repo} (Hugging Face Hub)"))


def _tfm_entries() -> None:
    register_pretrained(PretrainedTag(
        "multi_avg_seg", 1.0, "tfm_in1k", "tf-model-garden",
        url="gs://tf_model_garden/vision/mobilenet/v3.5multiavg_seg_float/",
        preprocessing=IMAGENET, num_classes=1001, default=True,
        description="TF Model Garden ImageNet-pretrained MultiAVG-Seg backbone (MOSAIC "
                    "init_checkpoint)"))


_keras_entries()
_timm_entries()
_tfm_entries()


def list_pretrained(pattern: str = "*") -> list[str]:
    """Registered tags matching an fnmatch ``pattern`` (e.g. ``"mobilenet_v3*"``), sorted."""
    return sorted(n for n in _REGISTRY if fnmatch.fnmatchcase(n, pattern))


def get_pretrained(name: str, *, model: str | None = None) -> PretrainedTag:
    """The registry entry of a full tag name.

    Args:
        name: ``<model>_<width x 100>.<tag>``.
        model: the model being built (only for the message when ``name`` is unknown).

    Raises:
        ValueError: unknown tag; it suggests close tags of the same model only, or says that
            the model has no pretrained tags at all.
    """
    if name in _REGISTRY:
        return _REGISTRY[name]
    import difflib

    base = model or re.sub(r"_\d{3}$", "", name.partition(".")[0])
    own = sorted(n for n, e in _REGISTRY.items() if base in (e.model, e.keras_model))
    if own:
        close = difflib.get_close_matches(name, own, n=3, cutoff=0.5)
        hint = (f"; did you mean {', '.join(close)}?" if close else
                f"; the tags of {base} are {', '.join(own[:6])}{' ...' if len(own) > 6 else ''}")
        raise ValueError(f"unknown pretrained tag {name!r}{hint} (see "
                         "mhzoo.weights.list_pretrained())")
    from mhzoo.registry import list_models

    if base in list_models() or base in NO_PUBLIC_WEIGHTS:
        why = f"; {NO_PUBLIC_WEIGHTS[base]}" if base in NO_PUBLIC_WEIGHTS else ""
        raise ValueError(
            f"unknown pretrained tag {name!r}: {base} has no pretrained tags (see "
            f"mhzoo.weights.list_pretrained()){why}; convert a checkpoint with mhzoo convert "
            f"--from tf-model-garden|keras|timm SRC --model {base} -o DIR and pass weights=DIR")
    close = difflib.get_close_matches(name, list(_REGISTRY), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise ValueError(f"unknown pretrained tag {name!r}{hint} (see "
                     "mhzoo.weights.list_pretrained())")


def _resolve(weights: str, model: str | None, width: float | None) -> PretrainedTag:
    w = 1.0 if width is None else float(width)
    if weights == "imagenet":
        if model is None:
            raise ValueError("weights='imagenet' needs a model name")
        if model in NO_PUBLIC_WEIGHTS:
            raise ValueError(
                f"weights='imagenet': {NO_PUBLIC_WEIGHTS[model]}. mhzoo will not load random "
                f"weights instead. Convert a checkpoint you trained: mhzoo convert --from "
                f"tf-model-garden CKPT --model {model} -o DIR, then weights=DIR; or train one "
                "(TF Model Garden imagenet_mobilenetv3.5_*.yaml experiments) and convert it")
        hit = _default_of(model, w)
        if hit is None:
            have = sorted({f"{e.width:g}" for e in _REGISTRY.values() if e.model == model})
            detail = (f"published widths: {', '.join(have)}" if have else
                      "no pretrained weights are registered for it")
            raise ValueError(f"weights='imagenet': no ImageNet weights for {model} at width "
                             f"{w:g} ({detail}); pass one of those widths, a tag from "
                             "mhzoo.weights.list_pretrained(), or convert your own checkpoint")
        return hit
    if "." not in weights:
        raise ValueError(f"weights={weights!r} is neither a path, 'hf-hub:org/repo', "
                         "'imagenet' nor a tag such as 'mobilenet_v3_large_100.keras_in1k'")
    arch, _, tag = weights.partition(".")
    if weights in _REGISTRY:
        entry = _REGISTRY[weights]
    elif model is not None and arch in (model, model + "_minimalistic"):
        entry = get_pretrained(f"{model_slug(arch, w)}.{tag}", model=model)
    else:
        entry = get_pretrained(weights)
    if model is not None and model != entry.model:
        raise ValueError(f"pretrained tag {entry.name} is for {entry.model}, not {model}")
    if width is not None and abs(entry.width - width) > 1e-9:
        raise ValueError(f"pretrained tag {entry.name} is width {entry.width:g}, not {width:g}")
    return entry


def open_pretrained(weights: str, *, model: str | None = None, width: float | None = None,
                    cache_dir: str | os.PathLike | None = None) -> WeightSource:
    """Resolve ``"imagenet"`` or a tag to a local checkpoint (downloading and converting it)."""
    entry = _resolve(weights, model, width)
    if entry.source in ("hub", "timm-hub"):
        from mhzoo.weights.hub import open_hub

        ref = f"hf-hub:{entry.hf_hub_id}" + (f"@{entry.revision}" if entry.revision else "")
        src = open_hub(ref, model=model, width=width, cache_dir=cache_dir, sha256=entry.sha256)
        return _with_tag(src, entry)
    if entry.source == "keras":
        return _with_tag(_open_keras(entry, model, width), entry)
    if entry.source == "tf-model-garden":
        raise ValueError(
            f"{entry.name} ({entry.description}) is published at {entry.url}; fetch it (gsutil "
            "-m cp -r URL .), then: mhzoo convert --from tf-model-garden <folder>/ckpt-N "
            f"--model {entry.model} -o DIR, and pass weights=DIR")
    raise ValueError(f"pretrained tag {entry.name}: unknown source {entry.source!r}")


def _with_tag(src: WeightSource, entry: PretrainedTag) -> WeightSource:
    src.config.setdefault("pretrained_cfg", {})["tag"] = entry.name
    return src


def _keras_md5(entry: PretrainedTag) -> str | None:
    if not entry.md5 or not entry.md5.startswith("keras:"):
        return entry.md5
    from keras.src.applications import mobilenet_v3

    return mobilenet_v3.WEIGHTS_HASHES[entry.md5.split(":", 1)[1]][0]


def _open_keras(entry: PretrainedTag, model: str | None, width: float | None) -> WeightSource:
    from mhzoo.weights.convert_keras import convert_keras
    from mhzoo.weights.fit import write_converted
    from mhzoo.weights.hub import converted_cache_dir, offline_reason

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
        write_converted(conv, out)
    return open_local(Path(out), model=model, width=width, origin=entry.name)


def _check_sha256(path: Path, entry: PretrainedTag) -> None:
    """Enforce ``entry.sha256`` on a downloaded file (removed on a mismatch, so the next load
    downloads it again)."""
    from mhzoo.hashing import sha256_file

    got = sha256_file(path)
    if got != entry.sha256.lower():
        path.unlink(missing_ok=True)
        raise ValueError(f"sha256 mismatch for {entry.name} ({entry.url}): the file has {got}, "
                         f"the registry pins {entry.sha256.lower()}; the download is corrupted "
                         "or the upstream file changed (the file was removed; load again to "
                         "retry, or fix the pin)")
