"""Pretrained weights registry: tagged entries ``<model>_<width x 100>.<tag>`` (as in timm).

The built-in tags are data, :data:`PRETRAINED_TAGS` (one row per tag), read by
:func:`tag_from_row`; :func:`resolve_tag` maps a ``weights=`` string to a tag. Opening one
(download, conversion cache) is :mod:`mhzoo.weights.resolve`'s job.

Every entry points to a real upstream source and states the preprocessing it expects:

* ``keras_in1k``: the keras-applications ImageNet weights (file names and md5 pins come from the
  installed ``keras.src.applications`` modules), converted on first use;
* timm tags (``ra_in1k``, ``lamb_in1k``, ``tf_in1k`` ...): ``timm/<architecture>.<tag>`` repos on
  the Hugging Face Hub, downloaded through :mod:`mhzoo.weights.hub` and converted on first use;
* ``tfm_qat_in1k`` / ``tfm_in1k``: public TF Model Garden files on Google Cloud Storage,
  downloaded over HTTPS (:mod:`mhzoo.weights.url`) and converted on first use: the QAT int8
  Multi-AVG ``.tflite`` (dequantized by :mod:`mhzoo.weights.convert_tflite`) and the
  ImageNet-pretrained Multi-AVG-Seg backbone checkpoint (:mod:`mhzoo.weights.convert_tfm`).

``weights="imagenet"`` picks the model's default tag at the requested width: the one entry
flagged ``default=True`` for that (model, width); :func:`register_pretrained` refuses a second
one, so the choice never depends on registration order. The rule the built-in flags follow:
``keras_in1k`` wherever keras.applications publishes the (model, width) (what
``keras.applications.X(weights="imagenet")`` users get), else the timm tag (today only
``mobilenet_v3_small_050.lamb_in1k``); other tags are picked by name. Where no public
classification weights exist (Multi-MAX), it raises and says so: mhzoo never falls back to random
weights in silence. Multi-AVG's default is the Model Garden's QAT int8 model, dequantized.

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
* url sources (Model Garden files): the file must be complete (the server's length), match the
  md5 Google Cloud Storage states for it (``x-goog-hash``) and, where pinned, the sha256; the
  sha256 of the accepted file is recorded and checked on every later load. The built-in url
  tags pin no sha256 (the files could not be downloaded where mhzoo was written); their
  ``notes`` say what was not verified. The converters then check the structure strictly.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from typing import Any

from mhzoo.names import model_slug
from mhzoo.preprocessing import IMAGENET, MINUS_ONE_TO_ONE, Preprocessing

__all__ = ["NO_PUBLIC_WEIGHTS", "PREPROCESSINGS", "PRETRAINED_TAGS", "PretrainedTag",
           "get_pretrained", "list_pretrained", "register_pretrained", "resolve_tag",
           "tag_from_row"]

_KERAS = "https://storage.googleapis.com/tensorflow/keras-applications/"  # keras BASE_WEIGHT_PATH


@dataclass(frozen=True)
class PretrainedTag:
    """One pretrained weight set.

    Attributes:
        model: mhzoo registry name the weights load into.
        width: width multiplier.
        tag: weight tag (``keras_in1k``, ``ra_in1k`` ...).
        source: ``"keras"``, ``"timm-hub"``, ``"hub"`` (an mhzoo-format Hub repo), ``"url"`` (a
            public file downloaded over HTTPS) or ``"tf-model-garden"`` (manual download).
        url: download url (keras, url) or where to fetch it (Model Garden).
        file_format: what a ``url`` source holds: ``"tflite"`` (a TFLite model, converted by
            structure) or ``"tf-checkpoint"`` (a folder URL holding a TF ``checkpoint`` state
            file and its ``.index`` / ``.data`` files, in the Model Garden layout).
        source_page: the public page that documents the file (where its URL and figures come
            from).
        notes: what could not be verified about the upstream file (hash, layout), stated.
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
    file_format: str | None = None
    source_page: str | None = None
    notes: str = ""

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


_KERAS_V3 = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v3/"
_KERAS_V2 = ("https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/"
             "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_")

#: Named normalizations the table refers to (0-255 units).
PREPROCESSINGS: dict[str, Preprocessing] = {
    "minus_one_to_one": MINUS_ONE_TO_ONE,  # keras.applications; timm IMAGENET_INCEPTION_MEAN/STD
    "imagenet": IMAGENET,  # timm IMAGENET_DEFAULT_MEAN/STD
    "zero_one": Preprocessing((0.0, 0.0, 0.0), (255.0, 255.0, 255.0)),  # timm miil (x / 255)
}

_KERAS_V1 = "keras.applications.MobileNet ImageNet weights"
_TFM = "https://storage.googleapis.com/tf_model_garden/vision/mobilenet/"
_KERAS_V2_DESC = "keras.applications.MobileNetV2 ImageNet weights"
_KERAS_V3_DESC = "keras.applications MobileNetV3 ImageNet weights"

#: The built-in tags, one row each. Columns are :class:`PretrainedTag` fields; ``preprocessing``
#: names an entry of :data:`PREPROCESSINGS`; ``hf_hub_id`` of a ``timm-hub`` row is ``timm/<repo>``.
#: keras rows: file names of keras' own ``mobilenet.py`` (alpha_text), ``mobilenet_v2.py`` and
#: ``mobilenet_v3.py`` (``weights_mobilenet_v3_<kind>_224_<alpha>_float.h5``; md5 ``keras:<key>``
#: is looked up in keras' ``WEIGHTS_HASHES``). ``default`` follows the rule of the module
#: docstring: keras where keras publishes the (model, width), else timm.
PRETRAINED_TAGS: tuple[dict[str, Any], ...] = (
    *({"model": "mobilenet_v1", "width": w, "tag": "keras_in1k", "source": "keras",
       "url": f"{_KERAS}mobilenet/mobilenet_{text}_224_tf.h5", "default": True,
       "description": _KERAS_V1}
      for w, text in ((0.25, "2_5"), (0.5, "5_0"), (0.75, "7_5"), (1.0, "1_0"))),
    *({"model": "mobilenet_v2", "width": w, "tag": "keras_in1k", "source": "keras",
       "url": f"{_KERAS_V2}{w}_224.h5", "default": True, "description": _KERAS_V2_DESC}
      for w in (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)),
    *({"model": model, "width": w, "tag": "keras_in1k", "source": "keras",
       "url": f"{_KERAS_V3}weights_mobilenet_v3_{kind}_224_{w}_float.h5",
       "md5": f"keras:{kind}_224_{w}_float", "keras_model": km, "default": km is None,
       "description": _KERAS_V3_DESC}
      for model, kind, w, km in (
          ("mobilenet_v3_large", "large", 0.75, None),
          ("mobilenet_v3_large", "large", 1.0, None),
          ("mobilenet_v3_large_minimalistic", "large_minimalistic", 1.0, None),
          ("mobilenet_v3_small", "small", 0.75, None),
          ("mobilenet_v3_small", "small", 1.0, None),
          ("mobilenet_v3_small", "small_minimalistic", 1.0, "mobilenet_v3_small_minimalistic"))),
    *({"model": model, "width": w, "tag": tag, "source": "timm-hub", "hf_hub_id": f"timm/{repo}",
       "preprocessing": prep, "interpolation": interp, "keras_model": km,
       "default": (model, w) == ("mobilenet_v3_small", 0.5),  # keras has no 0.5 V3 small
       "description": f"timm {repo} (Hugging Face Hub)"}
      for model, w, tag, repo, prep, interp, km in (
          ("mobilenet_v2", 0.5, "lamb_in1k", "mobilenetv2_050.lamb_in1k", "imagenet", "bicubic",
           None),
          ("mobilenet_v2", 1.0, "ra_in1k", "mobilenetv2_100.ra_in1k", "imagenet", "bicubic", None),
          ("mobilenet_v2", 1.4, "ra_in1k", "mobilenetv2_140.ra_in1k", "imagenet", "bicubic", None),
          ("mobilenet_v3_large", 1.0, "ra_in1k", "mobilenetv3_large_100.ra_in1k", "imagenet",
           "bicubic", None),
          ("mobilenet_v3_large", 1.0, "miil_in21k_ft_in1k",
           "mobilenetv3_large_100.miil_in21k_ft_in1k", "zero_one", "bilinear", None),
          ("mobilenet_v3_small", 0.5, "lamb_in1k", "mobilenetv3_small_050.lamb_in1k", "imagenet",
           "bicubic", None),
          ("mobilenet_v3_small", 0.75, "lamb_in1k", "mobilenetv3_small_075.lamb_in1k", "imagenet",
           "bicubic", None),
          ("mobilenet_v3_small", 1.0, "lamb_in1k", "mobilenetv3_small_100.lamb_in1k", "imagenet",
           "bicubic", None),
          ("mobilenet_v3_large", 0.75, "tf_in1k", "tf_mobilenetv3_large_075.in1k",
           "minus_one_to_one", "bilinear", None),
          ("mobilenet_v3_large", 1.0, "tf_in1k", "tf_mobilenetv3_large_100.in1k",
           "minus_one_to_one", "bilinear", None),
          ("mobilenet_v3_large_minimalistic", 1.0, "tf_in1k",
           "tf_mobilenetv3_large_minimal_100.in1k", "minus_one_to_one", "bilinear", None),
          ("mobilenet_v3_small", 0.75, "tf_in1k", "tf_mobilenetv3_small_075.in1k",
           "minus_one_to_one", "bilinear", None),
          ("mobilenet_v3_small", 1.0, "tf_in1k", "tf_mobilenetv3_small_100.in1k",
           "minus_one_to_one", "bilinear", None),
          ("mobilenet_v3_small", 1.0, "tf_in1k", "tf_mobilenetv3_small_minimal_100.in1k",
           "minus_one_to_one", "bilinear", "mobilenet_v3_small_minimalistic"))),
    {"model": "multi_avg", "width": 1.0, "tag": "tfm_qat_in1k", "source": "url",
     "file_format": "tflite", "url": f"{_TFM}v3.5multiavg_1.0_int8/"
                                     "mobilenet_v3.5multiavg_1.00_224_int8.tflite",
     "source_page": "https://github.com/tensorflow/models/blob/master/official/projects/qat/"
                    "vision/README.md",
     "preprocessing": "imagenet", "num_classes": 1001, "default": True,
     "description": "TF Model Garden MobileNetV3.5 MultiAVG, ImageNet, QAT int8 TFLite "
                    "(the source page reports top-1 75.21% float, 74.12% int8 PTQ, 75.13% int8 "
                    "QAT; not measured by mhzoo), dequantized to float weights",
     "notes": "not verified offline: no sha256 is pinned (the file could not be downloaded "
              "where mhzoo was written; the md5 Google Cloud Storage states is checked), and "
              "its exact operator layout is assumed to be the TFLite converter's (checked "
              "operator by operator on conversion). The normalization is not in the graph "
              "(Model Garden input_type=tflite exports): ImageNet mean/std as in "
              "official/vision/serving/image_classification.py."},
    {"model": "multi_avg_seg", "width": 1.0, "tag": "tfm_in1k", "source": "url",
     "file_format": "tf-checkpoint", "url": f"{_TFM}v3.5multiavg_seg_float/",
     "source_page": "https://github.com/tensorflow/models/blob/master/official/projects/mosaic/"
                    "configs/mosaic_config.py",
     "preprocessing": "imagenet", "num_classes": 1001, "default": True,
     "description": "TF Model Garden ImageNet-pretrained MultiAVG-Seg backbone (the MOSAIC "
                    "configs' init_checkpoint, backbone only)",
     "notes": "not verified offline: no sha256 is pinned; the folder is assumed to hold a TF "
              "'checkpoint' state file (tf.train.latest_checkpoint reads it there) and a "
              "single-shard ckpt (.index + .data-00000-of-00001)."},
)


def tag_from_row(row: dict[str, Any]) -> PretrainedTag:
    """A :class:`PretrainedTag` from one table row (``preprocessing`` by name)."""
    kw = dict(row)
    prep = kw.pop("preprocessing", "minus_one_to_one")
    if prep not in PREPROCESSINGS:
        raise ValueError(f"pretrained tag row {row.get('model')}.{row.get('tag')}: unknown "
                         f"preprocessing {prep!r}; expected one of {', '.join(PREPROCESSINGS)}")
    return PretrainedTag(**kw, preprocessing=PREPROCESSINGS[prep])


def _load_table(rows: tuple[dict[str, Any], ...] = PRETRAINED_TAGS) -> None:
    for row in rows:
        register_pretrained(tag_from_row(row))


_load_table()


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


def resolve_tag(weights: str, model: str | None = None, width: float | None = None
                ) -> PretrainedTag:
    """The tag a ``weights=`` string names: ``"imagenet"`` (the default tag of ``model`` at
    ``width``), a full tag, or ``"<model>.<tag>"``; checked against ``model`` and ``width``.

    Raises:
        ValueError: no such tag, no public weights, or a tag of another model / width.
    """
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
