"""Helpers for the weights tests: upstream fixture names, a tolerance measure, a loopback Hub,
a loopback file server, a Model Garden checkpoint writer and smooth random images (live test
weights come from ``tests/live_models.py``: ``calibrate``).

(A uniquely named module: test files import it, never ``conftest``.)
"""

from __future__ import annotations

import hashlib
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

from mhzoo.spec import Conv, DepthwiseSeparable, GlobalPool, InvertedBottleneck
from mhzoo.variables import named_weights

# Inside the shared data folder (the ``tfm_fixture`` / ``timm_fixtures`` fixtures resolve them).
TFM_FIXTURE_PARTS = ("tf-model-garden-fixtures", "multi_max_100")
#: Every Model Garden fixture: folder -> (Model Garden model_id, mhzoo name). Each holds
#: ``ckpt.*``, ``config.json`` and ``reference_io.npz`` (two inputs, their logits).
TFM_FIXTURES = {"multi_max_100": ("MobileNetMultiMAX", "multi_max"),
                "mobilenet_v3_small_100": ("MobileNetV3Small", "mobilenet_v3_small")}
TIMM_FIXTURES_PARTS = ("timm-fixtures",)
TIMM_NAMES = ("mobilenetv2_100", "mobilenetv3_large_100", "tf_mobilenetv3_large_minimal_100")


def max_rel_err(got: np.ndarray, ref: np.ndarray) -> float:
    """max |got - ref| / max(1, max |ref|): the tolerance measure of the issue."""
    return float(np.max(np.abs(got - ref)) / max(1.0, float(np.max(np.abs(ref)))))


class LocalHub:
    """A loopback server speaking the part of the Hub protocol ``hf_hub_download`` uses:
    ``HEAD`` / ``GET /{repo}/resolve/{revision}/{filename}`` with ``X-Repo-Commit``, ``ETag``
    (git blob sha1 for small files), ``X-Linked-Etag`` / ``X-Linked-Size`` (sha256 and size for
    LFS files), ``Content-Length``, and ``X-Error-Code`` on 404s."""

    LFS_SUFFIXES = (".safetensors", ".h5", ".bin")

    def __init__(self) -> None:
        self.repos: dict[str, dict] = {}
        self.files: dict[str, bytes] = {}  # served as plain files under /files/<name>
        self.requests: list[tuple[str, str, str]] = []  # (method, path, user-agent)
        self.fail_status: int | None = None  # answer every request with this HTTP status
        self.server: ThreadingHTTPServer | None = None

    def add_repo(self, repo_id: str, files: dict[str, bytes]) -> str:
        commit = hashlib.sha1(repo_id.encode() + b"".join(sorted(files.values())),
                              usedforsecurity=False).hexdigest()
        self.repos[repo_id] = {"commit": commit, "files": dict(files)}
        return commit

    def add_folder(self, repo_id: str, folder: Path) -> str:
        return self.add_repo(repo_id, {p.name: p.read_bytes() for p in folder.iterdir()
                                       if p.is_file()})

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep pytest output clean
                pass

            def _error(self, code: str, commit: str | None = None) -> None:
                self.send_response(404)
                self.send_header("X-Error-Code", code)
                if commit:
                    self.send_header("X-Repo-Commit", commit)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _serve(self, body: bool) -> None:
                hub.requests.append((self.command, self.path,
                                     self.headers.get("user-agent", "")))
                if hub.fail_status is not None:  # a failing Hub (e.g. 500 Internal Error)
                    self.send_response(hub.fail_status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                if self.path.startswith("/files/") and self.path[7:] in hub.files:
                    data = hub.files[self.path[7:]]  # plain downloads (keras get_file)
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    if body:
                        self.wfile.write(data)
                    return None
                m = re.match(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$", self.path)
                if not m:
                    return self._error("RepoNotFound")
                repo_id, rev, filename = m.groups()
                repo = hub.repos.get(repo_id)
                if repo is None:
                    return self._error("RepoNotFound")
                if rev not in ("main", repo["commit"]):
                    return self._error("RevisionNotFound")
                data = repo["files"].get(filename)
                if data is None:
                    return self._error("EntryNotFound", repo["commit"])
                self.send_response(200)
                self.send_header("X-Repo-Commit", repo["commit"])
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                if filename.endswith(self.server.lfs_suffixes):  # type: ignore[attr-defined]
                    sha = hashlib.sha256(data).hexdigest()
                    self.send_header("X-Linked-Etag", f'"{sha}"')
                    self.send_header("X-Linked-Size", str(len(data)))
                    self.send_header("ETag", f'"{sha}"')
                else:
                    blob = hashlib.sha1(b"blob %d\0" % len(data) + data,
                                        usedforsecurity=False).hexdigest()
                    self.send_header("ETag", f'"{blob}"')
                self.end_headers()
                if body:
                    self.wfile.write(data)

            def do_HEAD(self) -> None:
                self._serve(body=False)

            def do_GET(self) -> None:
                self._serve(body=True)

        return Handler

    def start(self) -> str:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.lfs_suffixes = self.LFS_SUFFIXES  # type: ignore[attr-defined]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self.url

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


def write_tfm_layout(model, prefix) -> None:
    """Write ``model``'s weights as a Model Garden ClassificationModel checkpoint would hold
    them (object graph model/layer_with_weights-0/layer_with_weights-k/_conv0/kernel ...)."""
    import tensorflow as tf

    w = named_weights(model)

    def node(parent, *path):
        for name in path:
            if not hasattr(parent, name):
                setattr(parent, name, tf.Module())
            parent = getattr(parent, name)
        return parent

    def var(parent, path, value):
        *mods, leaf = path.split("/")
        setattr(node(parent, *mods), leaf, tf.Variable(value))

    def bn(parent, path, layer):
        for v in ("gamma", "beta", "moving_mean", "moving_variance"):
            var(parent, f"{path}/{v}", w[f"{layer}/{v}"])

    root = tf.Module()
    backbone = node(root, "layer_with_weights-0")
    k = 0
    for i, b in enumerate(model.arch_spec.blocks):
        if isinstance(b, GlobalPool):
            continue
        blk = node(backbone, f"layer_with_weights-{k}")
        p = f"block{i}"
        if isinstance(b, Conv):
            var(blk, "_conv0/kernel", w[f"{p}_conv/kernel"])
            if b.bias:
                var(blk, "_conv0/bias", w[f"{p}_conv/bias"])
            if b.batch_norm:
                bn(blk, "_norm0", f"{p}_conv_bn")
        elif isinstance(b, DepthwiseSeparable):
            var(blk, "_dwconv0/depthwise_kernel", w[f"{p}_dw/kernel"])
            bn(blk, "_norm0", f"{p}_dw_bn")
            var(blk, "_conv1/kernel", w[f"{p}_pw/kernel"])
            bn(blk, "_norm1", f"{p}_pw_bn")
        elif isinstance(b, InvertedBottleneck):
            if b.expansion_filters is not None:
                var(blk, "_conv0/kernel", w[f"{p}_expand/kernel"])
                bn(blk, "_norm0", f"{p}_expand_bn")
            if not b.fused:
                var(blk, "_conv1/depthwise_kernel", w[f"{p}_dw/kernel"])
                bn(blk, "_norm1", f"{p}_dw_bn")
            if b.se_ratio:
                for part in ("reduce", "expand"):
                    for v in ("kernel", "bias"):
                        var(blk, f"_squeeze_excitation/_se_{part}/{v}", w[f"{p}_se_{part}/{v}"])
            var(blk, "_conv2/kernel", w[f"{p}_project/kernel"])
            bn(blk, "_norm2", f"{p}_project_bn")
        k += 1
    if "classifier/kernel" in w:
        var(root, "layer_with_weights-1/kernel", w["classifier/kernel"])
        var(root, "layer_with_weights-1/bias", w["classifier/bias"])
    tf.train.Checkpoint(model=root).write(str(prefix))


class FileServer:
    """A loopback HTTP file server with the behaviours downloads must survive.

    ``files`` maps URL paths to bytes. GET honours ``Range: bytes=N-`` (206); the md5 of each
    file is stated as Google Cloud Storage does (``x-goog-hash: md5=<base64>``) unless
    ``state_md5`` is False; ``truncate[path] = n`` serves only the first ``n`` bytes of the next
    answer for ``path`` (with the full ``Content-Length``) and closes the connection;
    ``altered[path]`` is served instead of the file while the header still states the file's
    md5. ``requests`` logs ``(path, range header)``.
    """

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.altered: dict[str, bytes] = {}
        self.truncate: dict[str, int] = {}
        self.state_md5 = True
        self.requests: list[tuple[str, str | None]] = []
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> str:
        """Serve in a thread; returns the base URL (``http://127.0.0.1:PORT``)."""
        import base64

        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                owner.requests.append((path, self.headers.get("Range")))
                if path not in owner.files:
                    self.send_error(404)
                    return
                real = owner.files[path]
                body = owner.altered.get(path, real)
                start = 0
                m = re.match(r"bytes=(\d+)-$", self.headers.get("Range") or "")
                if m and int(m.group(1)) < len(body):
                    start = int(m.group(1))
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                if owner.state_md5:
                    md5 = base64.b64encode(hashlib.md5(real).digest()).decode()
                    self.send_header("x-goog-hash", f"crc32c=AAAAAA==,md5={md5}")
                self.end_headers()
                cut = owner.truncate.pop(path, None)
                self.wfile.write(body[start:] if cut is None else body[start:start + cut])
                if cut is not None:
                    self.close_connection = True

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def smooth_images(n: int, size: int, seed: int = 0) -> np.ndarray:
    """``n`` smooth random RGB images in [0, 255] (bicubic-upsampled 8 x 8 noise)."""
    import tensorflow as tf

    small = np.random.default_rng(seed).uniform(0, 255, (n, 8, 8, 3)).astype("float32")
    return tf.image.resize(small, (size, size), method="bicubic").numpy().clip(0, 255)
