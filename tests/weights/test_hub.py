"""Hub path against a loopback endpoint speaking the hf_hub_download protocol: cache fill,
offline reuse with the endpoint stopped, hash verification, clear offline errors, publishing."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from weights_helpers import max_rel_err

import mhzoo
from mhzoo.variables import named_weights
from mhzoo.weights import PretrainedTag, register_pretrained
from mhzoo.weights.pretrained import _REGISTRY

SHAPE = (64, 64, 3)


@pytest.fixture(scope="module")
def mhzoo_checkpoint(tmp_path_factory) -> tuple[Path, dict]:
    """A small random mhzoo checkpoint folder and its weights."""
    m = mhzoo.build("multi_max", 0.5, input_shape=SHAPE, num_classes=7, framework="tf_keras")
    rng = np.random.default_rng(0)
    for v in m.weights:
        if "moving_variance" in v.name:
            v.assign(rng.uniform(0.5, 1.5, v.shape).astype("float32"))
        elif "moving_mean" in v.name or "beta" in v.name:
            v.assign(rng.normal(0, 0.2, v.shape).astype("float32"))
    out = mhzoo.save_pretrained(m, tmp_path_factory.mktemp("hub") / "ck")
    return out, named_weights(m)


def _same(model, ref) -> bool:
    got = named_weights(model)
    return set(got) == set(ref) and all(np.array_equal(got[k], ref[k]) for k in ref)


def test_first_load_fills_cache_then_offline_without_endpoint(local_hub, mhzoo_checkpoint,
                                                              monkeypatch):
    folder, ref = mhzoo_checkpoint
    local_hub.add_folder("acme/multi-max-050", folder)
    model = mhzoo.build("multi_max", input_shape=SHAPE, weights="hf-hub:acme/multi-max-050",
                        framework="tf_keras")
    assert model.width == 0.5 and _same(model, ref)
    gets = [p for m, p, _ in local_hub.requests if m == "GET"]
    assert sorted(gets) == ["/acme/multi-max-050/resolve/main/config.json",
                            "/acme/multi-max-050/resolve/main/model.safetensors"]
    assert all("mhzoo/" in ua for _, _, ua in local_hub.requests)  # library_name / version
    cache = Path(os.environ["HF_HUB_CACHE"]) / "models--acme--multi-max-050"
    assert (cache / "refs" / "main").is_file() and len(list((cache / "blobs").iterdir())) == 2

    local_hub.stop()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    again = mhzoo.build("multi_max", input_shape=SHAPE, weights="hf-hub:acme/multi-max-050",
                        framework="tf_keras")
    assert _same(again, ref)


def test_revision_pinning(local_hub, mhzoo_checkpoint):
    folder, ref = mhzoo_checkpoint
    commit = local_hub.add_folder("acme/mm", folder)
    model = mhzoo.build("multi_max", input_shape=SHAPE, weights=f"hf-hub:acme/mm@{commit}",
                        framework="tf_keras")
    assert _same(model, ref)
    with pytest.raises(ValueError, match="revision 'v9' not found in Hub repo 'acme/mm'"):
        mhzoo.build("multi_max", weights="hf-hub:acme/mm@v9")
    with pytest.raises(ValueError, match="Hub repo 'acme/nope' not found"):
        mhzoo.build("multi_max", weights="hf-hub:acme/nope")


def test_corrupted_blob_is_refused(local_hub, mhzoo_checkpoint, monkeypatch):
    folder, _ = mhzoo_checkpoint
    local_hub.add_folder("acme/mm", folder)
    mhzoo.build("multi_max", input_shape=SHAPE, weights="hf-hub:acme/mm", framework="tf_keras")
    cache = Path(os.environ["HF_HUB_CACHE"]) / "models--acme--mm"
    snap = next((cache / "snapshots").iterdir())
    blob = Path(os.path.realpath(snap / "model.safetensors"))
    data = bytearray(blob.read_bytes())
    data[-10] ^= 0xFF  # flip one byte of a weight
    blob.write_bytes(bytes(data))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ValueError, match=r"corrupted cached file for model.safetensors of "
                                         r"hf-hub:acme/mm.*delete"):
        mhzoo.build("multi_max", input_shape=SHAPE, weights="hf-hub:acme/mm",
                    framework="tf_keras")


def test_wrong_sha256_pin_is_refused(local_hub, mhzoo_checkpoint):
    folder, ref = mhzoo_checkpoint
    local_hub.add_folder("acme/mm", folder)
    good = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    tags = []
    try:
        for tag, sha in (("good", good), ("bad", "0" * 64)):
            tags.append(register_pretrained(PretrainedTag(
                "multi_max", 0.5, f"test_{tag}", "hub", hf_hub_id="acme/mm", sha256=sha)))
        model = mhzoo.build("multi_max", 0.5, input_shape=SHAPE, weights="multi_max.test_good",
                            framework="tf_keras")
        assert _same(model, ref)
        with pytest.raises(ValueError, match=f"sha256 mismatch .* the file has {good}, the "
                                             f"registry pins {'0' * 64}"):
            mhzoo.build("multi_max", 0.5, weights="multi_max_050.test_bad", framework="tf_keras")
    finally:
        for t in tags:
            _REGISTRY.pop(t.name, None)


def test_offline_with_empty_cache_names_the_fixes(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ValueError) as err:
        mhzoo.build("multi_max", weights="hf-hub:acme/mm")
    msg = str(err.value)
    assert "not in the cache" in msg and "HF_HUB_OFFLINE is set" in msg
    for fix in ("unset HF_HUB_OFFLINE", "HF_HUB_CACHE", "weights=<local folder>"):
        assert fix in msg


def test_offline_mode_is_read_per_call_not_frozen_at_import(local_hub, monkeypatch):
    """huggingface_hub copies HF_HUB_OFFLINE into a constant at import; mhzoo follows the
    environment at each call and leaves that constant as it found it."""
    from huggingface_hub import constants

    from mhzoo.weights.hub import download

    local_hub.add_repo("acme/tiny", {"config.json": b'{"format": "other"}'})
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # as if imported while offline
    path = download("acme/tiny", "config.json")  # the environment says online: downloads
    assert path.read_bytes() == b'{"format": "other"}'
    assert constants.HF_HUB_OFFLINE is True  # restored
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # imported while online
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # set afterwards: no request goes out
    local_hub.requests.clear()
    with pytest.raises(ValueError, match="HF_HUB_OFFLINE is set"):
        download("acme/tiny", "other.json")
    assert local_hub.requests == [] and constants.HF_HUB_OFFLINE is False
    assert download("acme/tiny", "config.json") == path  # cached copies still load offline


def test_push_while_offline_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    api = RecordingApi(tmp_path / "uploaded")
    with pytest.raises(ValueError, match=r"cannot push me/m to the Hub: HF_HUB_OFFLINE is set"):
        mhzoo.push_to_hub(mhzoo.build("multi_max", 0.25, input_shape=SHAPE), "me/m", api=api)
    assert api.calls == []


def test_pretrained_timm_tag_downloads_converts_and_matches(local_hub, monkeypatch,
                                                            timm_fixtures):
    """The registry's ``mobilenet_v3_large_100.ra_in1k`` resolves to timm's Hub repo; served
    here from the timm fixture, it converts on first use and reproduces timm's logits."""
    arch = "mobilenetv3_large_100"
    local_hub.add_folder(f"timm/{arch}.ra_in1k", timm_fixtures / arch)
    ref = np.load(timm_fixtures / arch / "reference_io.npz")
    model = mhzoo.build("mobilenet_v3_large", weights="mobilenet_v3_large_100.ra_in1k",
                        include_preprocessing=False, classifier_activation=None)
    got = np.asarray(model(np.transpose(ref["x_nchw"], (0, 2, 3, 1)), training=False))
    assert max_rel_err(got, ref["logits"]) <= 1e-4
    assert model.preprocessing.mean == pytest.approx((123.675, 116.28, 103.53))
    assert model.pretrained_cfg["pretrained_cfg"]["tag"] == "mobilenet_v3_large_100.ra_in1k"
    local_hub.stop()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # converted copy + cache serve it offline
    again = mhzoo.build("mobilenet_v3_large", weights="mobilenet_v3_large.ra_in1k")
    assert again.arch_spec.padding == "symmetric"


def test_failing_hub_is_one_error_line_in_the_cli(tmp_path, local_hub):
    """An HTTP-500 Hub: one ``Error:`` line on stderr, exit 2, one request (no retry loop with
    a warning per attempt), no offline advice, no output folder."""
    local_hub.fail_status = 500
    out = tmp_path / "out"
    cmd = [sys.executable, "-c", "from mhzoo.cli import main; main()", "convert", "--from",
           "timm", "hf-hub:acme/repo", "-o", str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.stderr
    assert f"the Hub ({local_hub.url}) answered HTTP 500" in lines[0]
    assert "HF_HUB_OFFLINE" not in lines[0] and "hf download acme/repo" in lines[0]
    assert [m for m, _, _ in local_hub.requests] == ["HEAD"]
    assert not out.exists()


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_unreachable_hub_fails_fast_and_quietly(monkeypatch, local_hub, mhzoo_checkpoint):
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rec = _Records()
    logging.getLogger("huggingface_hub").addHandler(rec)
    try:
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
        with pytest.raises(ValueError) as err:
            mhzoo.build("multi_max", weights="hf-hub:acme/mm")
        msg = str(err.value)
        assert f"the Hub (http://127.0.0.1:{port}) cannot be reached (ConnectError" in msg
        assert "not in the cache" in msg and "HF_HUB_OFFLINE" not in msg
        # a cached repo still loads while the Hub fails (no probe, no retries)
        monkeypatch.setenv("HF_ENDPOINT", local_hub.url)
        folder, ref = mhzoo_checkpoint
        local_hub.add_folder("acme/mm", folder)
        mhzoo.build("multi_max", input_shape=SHAPE, weights="hf-hub:acme/mm",
                    framework="tf_keras")
        local_hub.requests.clear()
        local_hub.fail_status = 500
        again = mhzoo.build("multi_max", input_shape=SHAPE, weights="hf-hub:acme/mm",
                            framework="tf_keras")
        assert _same(again, ref)
        assert [m for m, _, _ in local_hub.requests] == ["HEAD", "HEAD"]  # one per file
    finally:
        logging.getLogger("huggingface_hub").removeHandler(rec)
    assert [r.getMessage() for r in rec.records if r.levelno >= logging.WARNING] == []


def test_offline_advice_names_the_variable_that_is_set(monkeypatch):
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    with pytest.raises(ValueError) as err:
        mhzoo.build("multi_max", weights="hf-hub:acme/mm")
    msg = str(err.value)
    assert "TRANSFORMERS_OFFLINE is set" in msg and "unset TRANSFORMERS_OFFLINE" in msg
    assert "HF_HUB_OFFLINE" not in msg


class RecordingApi:
    """Stands in for ``huggingface_hub.HfApi``: records the calls and keeps the uploaded
    folder (the Hub's commit endpoints are not part of the loopback protocol)."""

    def __init__(self, keep: Path) -> None:
        self.keep, self.calls = keep, []

    def create_repo(self, repo_id, **kw):
        self.calls.append(("create_repo", repo_id, kw))

    def upload_folder(self, *, folder_path, repo_id, **kw):
        self.calls.append(("upload_folder", repo_id, kw))
        shutil.copytree(folder_path, self.keep)
        return f"commit:{repo_id}"


def test_push_to_hub_then_load_back(tmp_path, local_hub):
    model = mhzoo.build("multi_avg", 0.75, input_shape=SHAPE, num_classes=3,
                        framework="tf_keras")
    api = RecordingApi(tmp_path / "uploaded")
    bench = [{"target": "Pixel 4 CPU", "latency_ms": 12.5}]
    assert mhzoo.push_to_hub(model, "me/multi-avg-075", api=api, benchmarks=bench,
                             label_names=["a", "b", "c"]) == "commit:me/multi-avg-075"
    assert [c[0] for c in api.calls] == ["create_repo", "upload_folder"]
    files = sorted(p.name for p in (tmp_path / "uploaded").iterdir())
    assert files == ["README.md", "config.json", "model.safetensors"]
    card = (tmp_path / "uploaded" / "README.md").read_text()
    assert "library_name: mhzoo" in card and "Params:" in card and "MAdds:" in card
    assert "| Pixel 4 CPU | 12.5 |" in card and 'weights="hf-hub:me/multi-avg-075"' in card
    assert json.loads((tmp_path / "uploaded" / "config.json").read_text())["label_names"][2] == "c"
    local_hub.add_folder("me/multi-avg-075", tmp_path / "uploaded")
    back = mhzoo.build("multi_avg", input_shape=SHAPE, weights="hf-hub:me/multi-avg-075",
                       framework="tf_keras")
    assert back.width == 0.75 and _same(back, named_weights(model))
    with pytest.raises(ValueError, match="repo_id must look like 'org/name'"):
        mhzoo.push_to_hub(model, "no-slash", api=api)
