"""Helpers for the weights tests: upstream fixture names, a tolerance measure, a loopback Hub.

(A uniquely named module: test files import it, never ``conftest``.)
"""

from __future__ import annotations

import hashlib
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

# Inside the shared data folder (the ``tfm_fixture`` / ``timm_fixtures`` fixtures resolve them).
TFM_FIXTURE_PARTS = ("tf-model-garden-fixtures", "multi_max_100")
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
