"""Plain HTTPS downloads for pretrained files that are not on the Hugging Face Hub.

:func:`download_url` fetches one public file (a Model Garden ``.tflite``, a checkpoint file) into
mhzoo's cache, ``<mhzoo cache>/downloads/url/<host>/<path>``, beside the keras-applications
downloads; conversions of it go to ``<mhzoo cache>/converted`` like every other source.

* **Resume**: bytes arrive in ``<file>.part``; a rerun after an interruption asks the server
  for the rest (HTTP ``Range``) and appends when it answers 206, starts over on 200.
* **Integrity**: when the server states a length (``Content-Length`` / ``Content-Range``
  total), a download is complete only at that size; the md5 the server states for the whole
  object (Google Cloud Storage's ``x-goog-hash: md5=...``, or ``Content-MD5`` on a full answer)
  must match; a pinned ``sha256`` must match. A truncated file stays a ``.part`` (rerun to
  resume; ``If-Range`` with the server's ETag keeps a changed upstream file from being
  spliced onto an old prefix); an altered one (hash mismatch) is deleted. A file that the
  server gave no length, md5 or pin for is kept but recorded as ``"verified": false``. The
  sha256 of each accepted file is recorded in ``<file>.mhzoo.json`` and checked again on every
  later load, so a corrupted cache is refused too.
* **Concurrency**: one process downloads a given file at a time (a file lock beside it); the
  others wait and then use the verified copy.
* **Offline**: ``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE`` switch these downloads off as well
  (one switch for every mhzoo download); cached files are still served.
* **Mirrors**: ``MHZOO_URL_MIRROR=http://host:port`` fetches ``https://<host>/<path>`` from
  ``<mirror>/<host>/<path>`` instead (a proxy cache, an air-gapped copy, the tests' loopback
  server).
* ``gs://bucket/path`` means ``https://storage.googleapis.com/bucket/path``.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from mhzoo.hashing import sha256_file

__all__ = ["MIRROR_ENV", "download_url", "https_url", "url_cache_path"]

#: environment variable: base URL of a mirror that serves ``<mirror>/<host>/<path>``
MIRROR_ENV = "MHZOO_URL_MIRROR"
_CHUNK = 1 << 20
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def https_url(url: str) -> str:
    """``gs://bucket/path`` -> ``https://storage.googleapis.com/bucket/path``; http(s) as is.

    Raises:
        ValueError: another scheme, or no host.
    """
    if url.startswith("gs://"):
        url = "https://storage.googleapis.com/" + url[len("gs://"):]
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"cannot download {url!r}: only http(s):// and gs:// URLs are supported")
    return url


def _fetch_url(url: str) -> str:
    """Where the bytes of ``url`` are actually requested (``MHZOO_URL_MIRROR`` applied)."""
    mirror = os.environ.get(MIRROR_ENV, "").rstrip("/")
    if not mirror:
        return url
    parts = urllib.parse.urlsplit(url)
    return f"{mirror}/{parts.netloc}{parts.path}" + (f"?{parts.query}" if parts.query else "")


def url_cache_path(url: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """The cache file of ``url``: ``<cache>/downloads/url/<host>/<path parts>``."""
    parts = urllib.parse.urlsplit(https_url(url))
    if cache_dir is None:
        from mhzoo.names import cache_dir as mhzoo_cache

        cache_dir = mhzoo_cache()
    segs = [_SAFE.sub("_", s) for s in parts.path.split("/") if s not in ("", ".", "..")]
    if not segs:
        raise ValueError(f"cannot download {url!r}: the URL names no file")
    return Path(cache_dir).expanduser() / "downloads" / "url" / _SAFE.sub("_", parts.netloc) / \
        Path(*segs)


def _meta_path(path: Path) -> Path:
    return path.with_name(path.name + ".mhzoo.json")


def _read_meta(path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def _server_md5(headers: Any, full: bool) -> str | None:
    """The md5 (hex) the server states for the whole object, if any (``Content-MD5`` is the
    md5 of the body, so it counts only on a full answer: ``full``)."""
    for value in headers.get_all("x-goog-hash") or []:
        for item in value.split(","):
            key, _, b64 = item.strip().partition("=")
            if key == "md5" and b64:
                try:
                    return base64.b64decode(b64 + "=" * (-len(b64) % 4)).hex()
                except ValueError:
                    return None
    cmd5 = headers.get("Content-MD5") if full else None
    if cmd5:
        try:
            return base64.b64decode(cmd5).hex()
        except ValueError:
            return None
    return None


def _md5_file(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _progress(total: int | None, initial: int, desc: str) -> Any:
    from tqdm.auto import tqdm

    disable = os.environ.get("MHZOO_PROGRESS", "auto") == "0"
    return tqdm(total=total, initial=initial, unit="B", unit_scale=True, desc=desc,
                leave=False, disable=disable or None)


def _cached(path: Path, url: str, sha256: str | None) -> Path | None:
    """The verified cache file, or ``None`` when there is none (a bad one is removed)."""
    meta = _read_meta(_meta_path(path))
    if not path.is_file():
        return None
    if meta.get("url") != url or "sha256" not in meta:
        if meta:  # a record of another download: not ours to trust
            return None
        # placed by hand (downloaded elsewhere, as the offline message suggests): adopted,
        # against the pin when there is one, and recorded so later loads are checked
        from mhzoo.atomic import atomic_write_text

        got = sha256_file(path)
        if sha256 is not None and got != sha256.lower():
            raise ValueError(f"{path} (placed in the cache for {url}) has sha256 {got}, the "
                             f"registry pins {sha256.lower()}; replace it with the right file")
        atomic_write_text(_meta_path(path), json.dumps(
            {"url": url, "sha256": got, "size": path.stat().st_size, "md5": None,
             "source": "placed in the cache by hand"}, indent=1))
        return path
    got = sha256_file(path)
    want = (sha256 or meta["sha256"]).lower()
    if got != want:
        from mhzoo.weights.hub import offline_reason

        what = "the pinned" if sha256 else "the recorded"
        if offline_reason() is not None and not sha256:
            raise ValueError(f"cached download of {url} is corrupted or was changed ({path} has "
                             f"sha256 {got}, {what} one is {want}); if you replaced it on "
                             f"purpose, delete {_meta_path(path).name} beside it to adopt it")
        path.unlink(missing_ok=True)
        _meta_path(path).unlink(missing_ok=True)
        raise ValueError(f"cached download of {url} is corrupted or was changed ({path} has "
                         f"sha256 {got}, {what} one is {want}); it was removed: load again to "
                         "download it anew")
    return path


def download_url(url: str, *, sha256: str | None = None,
                 cache_dir: str | os.PathLike | None = None, force_download: bool = False,
                 timeout: float = 60.0, label: str | None = None) -> Path:
    """Download ``url`` into mhzoo's cache (resuming a partial download) and return its path.

    Args:
        url: ``https://...``, ``http://...`` or ``gs://bucket/path``.
        sha256: pinned content hash; enforced on the download and on every cached load.
        cache_dir: mhzoo cache root (default :func:`mhzoo.names.cache_dir`).
        force_download: fetch again even when a verified copy is cached.
        timeout: seconds to wait for the server on each read.
        label: what the file is, for messages (a pretrained tag name).

    Returns:
        The cached file.

    Raises:
        ValueError: offline with nothing cached, the server refused or cannot be reached,
            the download was cut short (rerun to resume), or a hash does not match.
    """
    from filelock import FileLock

    from mhzoo.weights.hub import offline_reason

    url = https_url(url)
    what = label or url
    path = url_cache_path(url, cache_dir)
    if not force_download and (hit := _cached(path, url, sha256)) is not None:
        return hit
    if (reason := offline_reason()) is not None:
        raise ValueError(f"{what} is not in the mhzoo cache ({path}) and {reason}; go online "
                         f"once, or download {url} elsewhere and put it there")
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        if not force_download and (hit := _cached(path, url, sha256)) is not None:
            return hit  # another process finished it while we waited
        if force_download:
            path.with_name(path.name + ".part").unlink(missing_ok=True)
        return _fetch(url, path, sha256=sha256, timeout=timeout, what=what)


def _fetch(url: str, path: Path, *, sha256: str | None, timeout: float, what: str) -> Path:
    """One download attempt into ``path`` (resuming its ``.part``); see :func:`download_url`."""
    from mhzoo.atomic import atomic_write_text

    part = path.with_name(path.name + ".part")
    part_meta = _read_meta(_meta_path(part))
    have = part.stat().st_size if part.is_file() and part_meta.get("url") == url else 0
    source = _fetch_url(url)
    req = urllib.request.Request(source, headers={"User-Agent": "mhzoo"})
    if have:
        req.add_header("Range", f"bytes={have}-")
        if part_meta.get("etag"):  # the rest of the same object, or the whole new one
            req.add_header("If-Range", part_meta["etag"])
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing past our partial file: verify it, or restart
            total = re.match(r"bytes \*/(\d+)", exc.headers.get("Content-Range", "") or "")
            if total and int(total.group(1)) == have:
                return _finish(url, path, part, have, have, part_meta.get("md5"), sha256, what,
                               source)
            part.unlink(missing_ok=True)
            return _fetch(url, path, sha256=sha256, timeout=timeout, what=what)
        raise ValueError(f"cannot download {what}: {source} answered HTTP {exc.code} "
                         f"{exc.reason}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise ValueError(f"cannot download {what}: {source} cannot be reached ({reason}); "
                         "check the network, or set MHZOO_URL_MIRROR / go offline with a cached "
                         "copy") from None
    with resp:
        if resp.status == 206:
            m = re.match(r"bytes (\d+)-\d+/(\d+|\*)", resp.headers.get("Content-Range", ""))
            if not m or int(m.group(1)) != have:
                resp.close()
                part.unlink(missing_ok=True)
                raise ValueError(f"cannot resume {what}: the server answered an unexpected "
                                 "range; load again to download it from the start")
            total = int(m.group(2)) if m.group(2) != "*" else None
            mode = "ab"
        else:
            have, mode = 0, "wb"
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        md5 = _server_md5(resp.headers, full=mode == "wb") or (
            part_meta.get("md5") if mode == "ab" else None)
        etag = resp.headers.get("ETag") or (part_meta.get("etag") if mode == "ab" else None)
        atomic_write_text(_meta_path(part), json.dumps(
            {"url": url, "total": total, "md5": md5, "etag": etag}))
        got = have
        try:
            with open(part, mode) as f, _progress(total, have, f"downloading {what}") as bar:
                while block := resp.read(_CHUNK):
                    f.write(block)
                    got += len(block)
                    bar.update(len(block))
        except (OSError, urllib.error.URLError, http.client.HTTPException) as exc:
            raise ValueError(f"download of {what} was interrupted after {got} bytes "
                             f"({type(exc).__name__}); load again to resume it") from None
    return _finish(url, path, part, got, total, md5, sha256, what, source)


def _finish(url: str, path: Path, part: Path, got: int, total: int | None, md5: str | None,
            sha256: str | None, what: str, source: str) -> Path:
    """Check a complete ``.part`` (length, md5, pin) and move it into place."""
    from mhzoo.atomic import atomic_write_text

    if total is not None and got != total:
        raise ValueError(f"download of {what} is truncated: {got} of {total} bytes arrived; "
                         "load again to resume it")
    checks = []
    if md5 is not None:
        checks.append(("md5", _md5_file(part), md5.lower(), "the server states"))
    digest = sha256_file(part)
    if sha256 is not None:
        checks.append(("sha256", digest, sha256.lower(), "the registry pins"))
    for kind, have_hash, want, who in checks:
        if have_hash != want:
            part.unlink(missing_ok=True)
            _meta_path(part).unlink(missing_ok=True)
            raise ValueError(f"download of {what} was altered or corrupted: its {kind} is "
                             f"{have_hash}, {who} {want}; the file was removed (load again to "
                             "retry, or fix the pin)")
    os.replace(part, path)
    _meta_path(part).unlink(missing_ok=True)
    atomic_write_text(_meta_path(path), json.dumps(
        {"url": url, "sha256": digest, "size": got, "md5": md5, "source": source,
         "verified": bool(total is not None or md5 or sha256)}, indent=1))
    return path
