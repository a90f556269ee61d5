"""Hugging Face Hub: ``weights="hf-hub:org/repo[@revision]"`` downloads and ``push_to_hub``.

Downloads go through ``huggingface_hub.hf_hub_download`` (library name "mhzoo" and its version
in the user agent, ``cache_dir``, revision pinning). ``HF_ENDPOINT``, ``HF_HUB_OFFLINE``,
``HF_HUB_CACHE`` / ``HF_HOME`` are read when a download is made (not only when huggingface_hub
was imported): huggingface_hub freezes ``HF_HUB_OFFLINE`` into ``huggingface_hub.constants`` at
import, so each mhzoo Hub call sets that constant to what the environment says now and restores
it afterwards (see :func:`hub_offline_mode`). Every file handed out is verified: against the
sha256 a registry entry pins (enforced on every load, cached or not), or else against the
content hash the Hub serves and caches it under (LFS files: sha256; small files: the git blob
sha1). The latter proves the file is intact (no transfer error, no corrupted cache), not that
it is a particular upstream version: without a pinned ``@revision`` or ``sha256``, whatever
``main`` holds is accepted.

huggingface_hub's logging is kept to errors during mhzoo downloads, and a Hub that is
unreachable or answers 5xx fails at once with one error (instead of five retries over ~25 s)
when the file is not cached.

A repo may hold an mhzoo checkpoint (``config.json`` with ``"format": "mhzoo"``) or a timm one
(``timm/<architecture>.<tag>``), which :mod:`mhzoo.weights.resolve` converts once into mhzoo's
cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import tempfile
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mhzoo.hashing import sha256_file
from mhzoo.weights.checkpoint import CONFIG_NAME

__all__ = ["converted_cache_dir", "download", "hub_cache_dir", "hub_offline_mode",
           "is_offline", "offline_reason", "parse_hub_id", "push_to_hub", "quiet_hub",
           "verify_file"]

_REPO_RE = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_HEX40 = re.compile(r"^[0-9a-f]{40}$")


def parse_hub_id(weights: str) -> tuple[str, str | None]:
    """``"hf-hub:org/repo@rev"`` -> ``("org/repo", "rev")``."""
    ref = weights.removeprefix("hf-hub:")
    repo, _, rev = ref.partition("@")
    if not _REPO_RE.match(repo) or (rev == "" and "@" in ref):
        raise ValueError(f"malformed Hub reference {weights!r}; expected "
                         "'hf-hub:org/repo' or 'hf-hub:org/repo@revision'")
    return repo, rev or None


_TRUE = {"1", "ON", "YES", "TRUE"}


def offline_reason() -> str | None:
    """Why downloads are off (``"HF_HUB_OFFLINE is set"`` ...), or ``None`` when online.

    Read from the environment at each call (the same variables, in the same order, as
    huggingface_hub reads once at import).
    """
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(var, "").upper() in _TRUE:
            return f"{var} is set"
    return None


def is_offline() -> bool:
    """Whether Hub downloads are switched off (``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE``)."""
    return offline_reason() is not None


# Guards huggingface_hub.constants.HF_HUB_OFFLINE while an mhzoo Hub call runs (re-entrant, so
# a call may nest another); mhzoo's Hub calls are serialized by it.
_OFFLINE_LOCK = threading.RLock()


@contextlib.contextmanager
def hub_offline_mode(offline: bool | None = None) -> Iterator[bool]:
    """huggingface_hub's offline switch set to ``offline`` for the duration of the block.

    huggingface_hub copies ``HF_HUB_OFFLINE`` into ``huggingface_hub.constants`` when it is first
    imported and its HTTP layer refuses every request while that copy is true, so a variable
    set (or unset) later would be ignored. This sets the copy to ``offline`` (default: what
    :func:`is_offline` says now) under a lock and restores the previous value on exit.

    Yields:
        The offline mode in effect inside the block.
    """
    if offline is None:
        offline = is_offline()
    from huggingface_hub import constants

    with _OFFLINE_LOCK:
        previous = constants.HF_HUB_OFFLINE
        constants.HF_HUB_OFFLINE = offline
        try:
            yield offline
        finally:
            constants.HF_HUB_OFFLINE = previous


@contextlib.contextmanager
def quiet_hub() -> Iterator[None]:
    """huggingface_hub logging at ERROR level and its Python warnings muted, for one download.

    Its retry loop logs a warning per attempt; mhzoo reports one error line instead. An explicit
    ``HF_HUB_VERBOSITY`` is respected.
    """
    logger = logging.getLogger("huggingface_hub")
    old = logger.level
    if not os.environ.get("HF_HUB_VERBOSITY"):
        logger.setLevel(max(logging.ERROR, old))
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module=r"huggingface_hub(\.|$)")
            yield
    finally:
        logger.setLevel(old)


def _endpoint() -> str | None:
    return os.environ.get("HF_ENDPOINT") or None


def _probe(repo_id: str, filename: str, revision: str | None, version: str) -> str | None:
    """One HEAD request without retries: why the Hub cannot serve the file now, or ``None``.

    ``hf_hub_download`` retries a network error or an HTTP 5xx / 408 / 429 answer five times
    with back-off (about 25 s; not configurable) when the file is not cached. Probing first
    (public ``get_hf_file_metadata``, which does not retry) fails fast instead. A 4xx answer
    returns ``None``: ``hf_hub_download`` then reports it precisely (repo / revision / file).
    """
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.errors import HfHubHTTPError

    url = hf_hub_url(repo_id, filename, revision=revision, endpoint=_endpoint())
    try:
        get_hf_file_metadata(url, library_name="mhzoo", library_version=version,
                             endpoint=_endpoint())
    except HfHubHTTPError as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status is not None and status < 500 and status not in (408, 429):
            return None
        return f"answered HTTP {status}" if status is not None else "failed"
    except Exception as exc:  # network errors (connection refused, DNS, timeout): httpx types
        text = " ".join(str(exc).split())[:120]
        return f"cannot be reached ({type(exc).__name__}{': ' + text if text else ''})"
    return None


def hub_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """The huggingface_hub cache folder in effect now."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def converted_cache_dir() -> Path:
    """Where converted upstream checkpoints are kept (``<mhzoo cache>/converted``)."""
    from mhzoo.names import cache_dir

    return cache_dir() / "converted"


def _git_blob_sha1(path: str | os.PathLike) -> str:
    data = Path(path).read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def verify_file(path: str | os.PathLike, *, sha256: str | None = None,
                label: str | None = None) -> None:
    """Check a downloaded file against a pinned sha256, or against the hash it is cached as.

    Raises:
        ValueError: on a mismatch, naming the file and the fix.
    """
    real = Path(os.path.realpath(path))
    label = label or str(path)
    fix = (f"delete {real} (or the whole cache entry) and load again, or pass "
           "force_download=True")
    if sha256 is not None:
        got = sha256_file(real)
        if got != sha256.lower():
            raise ValueError(f"sha256 mismatch for {label}: the file has {got}, the registry "
                             f"pins {sha256.lower()}; the download is corrupted or the repo "
                             f"changed. {fix}")
        return
    if _HEX64.match(real.name):
        got = sha256_file(real)
        if got != real.name:
            raise ValueError(f"corrupted cached file for {label}: its sha256 is {got} but the "
                             f"Hub stored it as {real.name}. {fix}")
    elif _HEX40.match(real.name) and _git_blob_sha1(real) != real.name:
        raise ValueError(f"corrupted cached file for {label}: its content does not match the "
                         f"Hub's hash {real.name}. {fix}")


def download(repo_id: str, filename: str, *, revision: str | None = None,
             cache_dir: str | os.PathLike | None = None, sha256: str | None = None,
             force_download: bool = False) -> Path:
    """Download (or find in the cache) one file of a Hub repo and verify it.

    huggingface_hub's own logging is kept to errors (see :func:`quiet_hub`), and a Hub that is
    unreachable or answers 5xx fails at once when the file is not cached (see :func:`_probe`).

    Raises:
        ValueError: repo / revision / file not found, Hub unreachable or failing, offline
            without a cached copy (naming the fixes), or a hash mismatch.
    """
    try:
        from huggingface_hub import hf_hub_download, try_to_load_from_cache
        from huggingface_hub.errors import (
            LocalEntryNotFoundError,
            RemoteEntryNotFoundError,
            RepositoryNotFoundError,
            RevisionNotFoundError,
        )
    except ImportError:  # pragma: no cover - a declared dependency
        raise ValueError("huggingface_hub is required for hf-hub: weights (pip install "
                         "huggingface-hub)") from None
    from mhzoo._version import __version__

    offline = offline_reason()
    cache = hub_cache_dir(cache_dir)
    ref = f"hf-hub:{repo_id}" + (f"@{revision}" if revision else "")
    hub = _endpoint() or "https://huggingface.co"
    elsewhere = (f"or download the repo elsewhere (`hf download {repo_id}`) and pass "
                 "weights=<local folder>")
    try:
        with hub_offline_mode(offline is not None), quiet_hub():
            cached = try_to_load_from_cache(repo_id, filename, cache_dir=str(cache),
                                            revision=revision)
            why = None
            if not offline and not force_download and not isinstance(cached, str):
                why = _probe(repo_id, filename, revision, __version__)
            if why is not None:
                raise ValueError(
                    f"cannot download {filename} of {ref}: the Hub ({hub}) {why}, and the file "
                    f"is not in the cache {cache}. Try again later, check your network / "
                    f"HF_ENDPOINT, {elsewhere}")
            path = hf_hub_download(
                repo_id, filename, revision=revision, cache_dir=str(cache),
                library_name="mhzoo", library_version=__version__, endpoint=_endpoint(),
                local_files_only=offline is not None, force_download=force_download)
    except RepositoryNotFoundError:
        raise ValueError(f"Hub repo {repo_id!r} not found (or private: log in with "
                         "`hf auth login` / set HF_TOKEN)") from None
    except RevisionNotFoundError:
        raise ValueError(f"revision {revision!r} not found in Hub repo {repo_id!r}") from None
    except LocalEntryNotFoundError:
        if offline:
            var = offline.split()[0]
            why, first = offline, f"go online once (unset {var}) to fill the cache"
        else:
            why, first = f"the Hub ({hub}) cannot be reached", "check your network / HF_ENDPOINT"
        raise ValueError(
            f"{filename} of {ref} is not in the cache {cache} and {why}. Fixes: {first}; point "
            f"HF_HUB_CACHE / cache_dir at a cache that has it; {elsewhere}") from None
    except RemoteEntryNotFoundError:
        raise ValueError(f"{filename} not found in Hub repo {repo_id!r}"
                         + (f" at revision {revision!r}" if revision else "")) from None
    except OSError as exc:  # other HTTP and I/O problems
        raise ValueError(f"cannot download {filename} of {ref}: "
                         f"{' '.join(str(exc).split())[:200]}") from None
    verify_file(path, sha256=sha256, label=f"{filename} of {ref}")
    return Path(path)


# ----------------------------------------------------------------------------- publishing
def push_to_hub(model: Any, repo_id: str, *, revision: str | None = None,
                private: bool | None = None, token: str | None = None,
                commit_message: str = "Upload mhzoo checkpoint",
                label_names: list[str] | None = None,
                pretrained_cfg: dict[str, Any] | None = None, benchmarks: Any = None,
                create_repo: bool = True, api: Any = None) -> Any:
    """Publish ``model`` to the Hub: ``model.safetensors`` + ``config.json`` + ``README.md``.

    Args:
        model: a model built by :func:`mhzoo.build` (either framework).
        repo_id: ``"org/name"``.
        revision: branch to commit to (default: main).
        private: create the repo private.
        token: Hub token (default: the logged-in one / HF_TOKEN).
        commit_message: commit message.
        label_names: class names for ``config.json``.
        pretrained_cfg: extra preprocessing facts (interpolation, crop_pct, license ...).
        benchmarks: benchmark rows for the model card (markdown, list of dicts, or dict).
        create_repo: create the repo if missing.
        api: a ``huggingface_hub.HfApi`` (default: one on ``HF_ENDPOINT``).

    Returns:
        What ``HfApi.upload_folder`` returns (the commit info).
    """
    from mhzoo.weights.checkpoint import save_pretrained

    if not isinstance(repo_id, str) or not _REPO_RE.match(repo_id):
        raise ValueError(f"repo_id must look like 'org/name', got {repo_id!r}")
    if (offline := offline_reason()) is not None:
        raise ValueError(f"cannot push {repo_id} to the Hub: {offline} (unset "
                         f"{offline.split()[0]} to publish)")
    if api is None:
        from huggingface_hub import HfApi

        from mhzoo._version import __version__

        api = HfApi(endpoint=os.environ.get("HF_ENDPOINT") or None, token=token,
                    library_name="mhzoo", library_version=__version__)
    with tempfile.TemporaryDirectory(prefix="mhzoo-push-") as tmp:
        folder = Path(tmp) / "checkpoint"
        save_pretrained(model, folder, label_names=label_names, pretrained_cfg=pretrained_cfg,
                        model_card=False)
        cfg = json.loads((folder / CONFIG_NAME).read_text())
        from mhzoo.weights.card import model_card

        (folder / "README.md").write_text(model_card(model, cfg, benchmarks=benchmarks,
                                                     repo_id=repo_id))
        with hub_offline_mode(False):
            if create_repo:
                api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
            return api.upload_folder(folder_path=str(folder), repo_id=repo_id,
                                     repo_type="model", revision=revision,
                                     commit_message=commit_message)
