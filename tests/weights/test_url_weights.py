"""URL weight sources and the TFLite -> float converter (the Model Garden's Multi-AVG files).

A loopback server stands in for storage.googleapis.com (``MHZOO_URL_MIRROR``) and serves what
the real tags point to: an int8 QAT Multi-AVG that mhzoo itself exports, with non-trivial
weights, and a Model Garden-layout Multi-AVG-Seg checkpoint folder.
"""

from __future__ import annotations

import hashlib
import urllib.parse

import numpy as np
import pytest
from click.testing import CliRunner
from weights_helpers import (
    FileServer,
    quantization_friendly_weights,
    smooth_images,
    write_tfm_layout,
)

import mhzoo
from mhzoo.cli import main
from mhzoo.export import to_tflite
from mhzoo.export.tflite import requantization_note
from mhzoo.variables import named_weights
from mhzoo.weights import get_pretrained
from mhzoo.weights.convert_tflite import convert_tflite
from mhzoo.weights.pretrained import PretrainedTag, register_pretrained
from mhzoo.weights.resolve import fetch_pretrained_files
from mhzoo.weights.url import download_url, url_cache_path

QAT_TAG = "multi_avg_100.tfm_qat_in1k"
SEG_TAG = "multi_avg_seg_100.tfm_in1k"
SIZE = 64  # the converter takes the input size from the file; small keeps the test fast


def _served_path(url: str) -> str:
    """The path a mirror serves ``url`` under: ``/<host>/<path>``."""
    parts = urllib.parse.urlsplit(url)
    return f"/{parts.netloc}{parts.path}"


def _litert(data: bytes, images: np.ndarray) -> np.ndarray:
    """Dequantized outputs of a TFLite model, one image per invoke (uint8 pixels in)."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=data)
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    rows = []
    for img in images:
        x = img[None]
        if inp["dtype"] != np.float32:
            s, z = inp["quantization"]
            x = np.clip(np.round(x / s + z), 0, 255).astype(inp["dtype"])
        it.set_tensor(inp["index"], x)
        it.invoke()
        y = it.get_tensor(out["index"]).astype(np.float32)
        s, z = out["quantization"]
        rows.append((y - z) * s if s else y)
    return np.concatenate(rows)


@pytest.fixture(scope="module")
def qat_file(tmp_path_factory) -> bytes:
    """An int8 QAT Multi-AVG (1001 classes, logits, uint8 pixels in) exported by mhzoo."""
    images = smooth_images(48, SIZE, seed=1)
    model = mhzoo.build("multi_avg", num_classes=1001, input_shape=(SIZE, SIZE, 3),
                        classifier_activation=None)
    quantization_friendly_weights(model, images, seed=2)
    path = tmp_path_factory.mktemp("qat") / "multi_avg_qat.tflite"
    to_tflite(model, path, quant="qat", representative_data=images, qat_steps=2)
    return path.read_bytes()


@pytest.fixture
def server(monkeypatch):
    srv = FileServer()
    monkeypatch.setenv("MHZOO_URL_MIRROR", srv.start())
    yield srv
    srv.stop()


def test_qat_tag_downloads_dequantizes_and_reproduces_the_tflite(server, qat_file, monkeypatch,
                                                                 tmp_path):
    entry = get_pretrained(QAT_TAG)
    assert entry.source == "url" and entry.url.startswith("https://storage.googleapis.com/")
    assert entry.source_page and "not verified offline" in entry.notes
    server.files[_served_path(entry.url)] = qat_file
    model = mhzoo.build("multi_avg", weights=QAT_TAG, input_shape=(SIZE, SIZE, 3),
                        classifier_activation=None)
    images = smooth_images(200, SIZE, seed=7)
    got = np.asarray(model.predict(images, batch_size=50, verbose=0))
    ref = _litert(qat_file, images)
    agree = float(np.mean(got.argmax(1) == ref.argmax(1)))
    cos = np.sum(got * ref, 1) / np.linalg.norm(got, axis=1) / np.linalg.norm(ref, axis=1)
    assert agree >= 0.99 and float(cos.min()) >= 0.99, (agree, float(cos.min()))
    cfg = model.pretrained_cfg
    assert cfg["source"]["format"] == "tflite" and cfg["source"]["quantized"] is True
    assert cfg["source"]["weight_types"] == ["INT8"]
    assert cfg["pretrained_cfg"]["tag"] == QAT_TAG and cfg["label_offset"] == 1
    # mhzoo's QAT graph holds its normalization (a 1x1 depthwise conv): recovered from it
    assert cfg["pretrained_cfg"]["normalization_source"] == "graph"
    assert np.allclose(cfg["pretrained_cfg"]["std"], 127.5, rtol=0.01)
    # cached: a second load works offline with the server gone, to the same weights
    server.stop()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    again = mhzoo.build("multi_avg", weights=QAT_TAG, input_shape=(SIZE, SIZE, 3))
    a, b = named_weights(model), named_weights(again)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    # the original file, unchanged, for deployment
    res = CliRunner().invoke(main, ["fetch", QAT_TAG, "-o", str(tmp_path / "m.tflite")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "m.tflite").read_bytes() == qat_file
    assert requantization_note(model, "int8_full") is not None
    assert requantization_note(model, "float32") is None


def test_export_of_dequantized_weights_says_it_requantizes(server, qat_file, tmp_path):
    server.files[_served_path(get_pretrained(QAT_TAG).url)] = qat_file
    calib = tmp_path / "calib"
    calib.mkdir()
    from PIL import Image

    for i, img in enumerate(smooth_images(4, SIZE, seed=3)):
        Image.fromarray(img.astype(np.uint8)).save(calib / f"{i}.png")
    out = tmp_path / "q.tflite"
    res = CliRunner().invoke(main, ["export", "multi_avg", "--weights", QAT_TAG, "--input-size",
                                    str(SIZE), "--quant", "int8_full", "--calib", str(calib),
                                    "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "Note: these weights were dequantized from an already quantized TFLite model" in \
        res.output and "mhzoo fetch multi_avg_100.tfm_qat_in1k" in res.output
    assert out.is_file()


def test_truncated_download_is_refused_then_resumed(server, qat_file):
    url = get_pretrained(QAT_TAG).url
    path = _served_path(url)
    server.files[path] = qat_file
    server.truncate[path] = len(qat_file) // 3
    with pytest.raises(ValueError, match=r"truncated: \d+ of \d+ bytes arrived; load again to "
                                         "resume"):
        download_url(url)
    cached = url_cache_path(url)
    assert not cached.exists() and cached.with_name(cached.name + ".part").is_file()
    got = download_url(url)
    assert got.read_bytes() == qat_file
    assert server.requests[-1] == (path, f"bytes={len(qat_file) // 3}-")  # resumed, not restarted
    assert not cached.with_name(cached.name + ".part").exists()


def test_altered_download_is_refused(server, qat_file):
    url = get_pretrained(QAT_TAG).url
    path = _served_path(url)
    server.files[path] = qat_file
    server.altered[path] = qat_file[:-1] + bytes([qat_file[-1] ^ 0xFF])  # same length
    with pytest.raises(ValueError, match="altered or corrupted: its md5 is"):
        mhzoo.build("multi_avg", weights=QAT_TAG)
    cached = url_cache_path(url)
    assert not cached.exists() and not cached.with_name(cached.name + ".part").exists()
    # a pinned sha256 catches it without any server-stated hash
    server.state_md5 = False
    pinned = register_pretrained(PretrainedTag(
        model="multi_avg", width=1.0, tag="pinned_test", source="url", file_format="tflite",
        url=url, sha256=hashlib.sha256(qat_file).hexdigest(), num_classes=1001))
    try:
        with pytest.raises(ValueError, match=r"its sha256 is .* the registry pins"):
            fetch_pretrained_files(pinned.name)
        del server.altered[path]
        assert fetch_pretrained_files(pinned.name)[0].read_bytes() == qat_file
    finally:
        from mhzoo.weights import pretrained

        pretrained._REGISTRY.pop(pinned.name)


def test_corrupted_cache_is_refused(server, qat_file):
    url = get_pretrained(QAT_TAG).url
    server.files[_served_path(url)] = qat_file
    cached = download_url(url)
    data = bytearray(cached.read_bytes())
    data[100] ^= 0xFF
    cached.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"cached download .* is corrupted or was changed"):
        download_url(url)
    assert not cached.exists()
    assert download_url(url).read_bytes() == qat_file  # downloaded anew


def test_offline_without_cache_is_one_clear_error_and_a_placed_file_is_adopted(monkeypatch,
                                                                               tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    res = CliRunner().invoke(main, ["fetch", QAT_TAG, "-o", str(tmp_path / "m.tflite")])
    assert res.exit_code == 2
    assert "is not in the mhzoo cache" in res.output and "HF_HUB_OFFLINE is set" in res.output
    assert "Traceback" not in res.output and not (tmp_path / "m.tflite").exists()
    # "download it elsewhere and put it there": the file is adopted, and checked from then on
    url = get_pretrained(QAT_TAG).url
    cached = url_cache_path(url)
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"TFL3-placed-by-hand")
    assert download_url(url).read_bytes() == b"TFL3-placed-by-hand"
    cached.write_bytes(b"changed")
    with pytest.raises(ValueError, match="corrupted or was changed"):
        download_url(url)


def test_a_tflite_of_another_architecture_is_refused_naming_the_operator(tmp_path):
    other = mhzoo.build("multi_max", num_classes=1001, input_shape=(SIZE, SIZE, 3),
                        classifier_activation=None)
    path = tmp_path / "multi_max.tflite"
    to_tflite(other, path, quant="float32")
    # Multi-MAX's block 1 ends stage 1 (no second layer): its next op is a 5x5 expansion path
    with pytest.raises(ValueError, match=r"^operator \d+ \w+ weights \(.*\) stride \d does not "
                                         r"fit block \d+ of multi_avg \(.*\): "):
        convert_tflite(path, model="multi_avg")
    (tmp_path / "junk.tflite").write_bytes(b"\0" * 64)
    with pytest.raises(ValueError, match="not a TFLite model"):
        convert_tflite(tmp_path / "junk.tflite", model="multi_avg")


@pytest.mark.parametrize("name", ["multi_avg", "mobilenet_v3_small", "mobilenet_v1"])
def test_float_tflite_converts_exactly(tmp_path, name):
    """The mapping is generic: squeeze-excite / hard-swish (V3) and depthwise-separable (V1)
    blocks too; a float32 TFLite converts back to the same function."""
    from mhzoo.weights import convert

    images = smooth_images(8, SIZE, seed=4)
    src = mhzoo.build(name, num_classes=17, input_shape=(SIZE, SIZE, 3),
                      classifier_activation=None)
    quantization_friendly_weights(src, images, seed=5)
    path = tmp_path / "m.tflite"
    to_tflite(src, path, quant="float32")
    assert convert_tflite(path, model=name).pretrained_cfg["normalization_source"] == "graph"
    out = convert("tflite", path, tmp_path / "ckpt", model=name)
    back = mhzoo.build(name, weights=str(out), input_shape=(SIZE, SIZE, 3),
                       classifier_activation=None)
    ref = np.asarray(src(images, training=False))
    got = np.asarray(back(images, training=False))
    assert np.max(np.abs(got - ref)) <= 1e-4 * max(1.0, float(np.max(np.abs(ref))))


def test_seg_tag_downloads_the_checkpoint_folder_and_converts(server, tmp_path, calibrate_weights,
                                                              monkeypatch):
    src = mhzoo.build("multi_avg_seg", framework="tf_keras", include_top=False,
                      include_preprocessing=False)
    calibrate_weights(src, seed=4)
    write_tfm_layout(src, tmp_path / "ckpt-31")
    folder = _served_path(get_pretrained(SEG_TAG).url)
    server.files[folder + "checkpoint"] = b'model_checkpoint_path: "ckpt-31"\n' \
        b'all_model_checkpoint_paths: "ckpt-31"\n'
    for f in tmp_path.glob("ckpt-31.*"):
        server.files[folder + f.name] = f.read_bytes()
    model = mhzoo.build("multi_avg_seg", weights=SEG_TAG, include_top=False,
                        include_preprocessing=False)
    got, ref = named_weights(model), named_weights(src)
    assert set(got) == set(ref) and all(np.array_equal(got[k], ref[k]) for k in ref)
    cfg = model.pretrained_cfg
    assert cfg["pretrained_cfg"]["tag"] == SEG_TAG
    assert cfg["pretrained_cfg"]["mean"] == [123.675, 116.28, 103.53]
    server.stop()  # cached: reloads offline, and fetch serves the cached files
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    again = named_weights(mhzoo.build("multi_avg_seg", weights=SEG_TAG, include_top=False,
                                      include_preprocessing=False))
    assert all(np.array_equal(again[k], ref[k]) for k in ref)
    res = CliRunner().invoke(main, ["fetch", SEG_TAG, "-o", str(tmp_path / "seg")])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (tmp_path / "seg").iterdir()) == [
        "checkpoint", "ckpt-31.data-00000-of-00001", "ckpt-31.index"]
    assert cfg["source"]["source_page"].endswith("mosaic_config.py")


def test_a_graph_without_normalization_takes_the_tags_and_needs_it_said_on_convert(
        server, tmp_path):
    """The Model Garden's layout (input_type=tflite: normalized floats in, nothing in the
    graph): the tag's ImageNet mean / std are used and recorded as given, not read."""
    from mhzoo.preprocessing import IMAGENET

    images = smooth_images(16, SIZE, seed=8)
    from mhzoo.preprocessing import Preprocessing

    # identity normalization: the converter leaves no op for it, as in a Model Garden export
    src = mhzoo.build("multi_avg", num_classes=1001, input_shape=(SIZE, SIZE, 3),
                      classifier_activation=None,
                      preprocessing=Preprocessing((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)))
    quantization_friendly_weights(src, (images - 127.5) / 60.0, seed=9)
    path = tmp_path / "tfm_layout.tflite"
    to_tflite(src, path, quant="float32")
    server.files[_served_path(get_pretrained(QAT_TAG).url)] = path.read_bytes()
    model = mhzoo.build("multi_avg", weights=QAT_TAG, input_shape=(SIZE, SIZE, 3),
                        classifier_activation=None)
    pcfg = model.pretrained_cfg["pretrained_cfg"]
    assert pcfg["normalization_source"].startswith("given")
    assert pcfg["mean"] == pytest.approx(list(IMAGENET.mean))
    normalized = (images - np.array(IMAGENET.mean)) / np.array(IMAGENET.std)
    ref = _litert(path.read_bytes(), normalized.astype(np.float32))
    got = np.asarray(model(images, training=False))
    assert np.max(np.abs(got - ref)) <= 1e-3 * max(1.0, float(np.max(np.abs(ref))))
    # mhzoo convert cannot guess it: one line asking for --preprocessing
    res = CliRunner().invoke(main, ["convert", "--from", "tflite", str(path), "--model",
                                    "multi_avg", "-o", str(tmp_path / "c")])
    assert res.exit_code == 2 and "--preprocessing imagenet" in res.output
    assert not (tmp_path / "c").exists()
    res = CliRunner().invoke(main, ["convert", "--from", "tflite", str(path), "--model",
                                    "multi_avg", "--preprocessing", "imagenet", "-o",
                                    str(tmp_path / "c")])
    assert res.exit_code == 0, res.output


def test_fetch_never_replaces_a_folder_of_other_files(server, tmp_path):
    folder = _served_path(get_pretrained(SEG_TAG).url)
    server.files[folder + "checkpoint"] = b'model_checkpoint_path: "ckpt-1"\n'
    server.files[folder + "ckpt-1.index"] = b"index"
    server.files[folder + "ckpt-1.data-00000-of-00001"] = b"data"
    work = tmp_path / "work"
    work.mkdir()
    (work / "notes.txt").write_text("mine")
    res = CliRunner().invoke(main, ["fetch", SEG_TAG, "-o", str(work), "--force"])
    assert res.exit_code == 2 and "holds other files (notes.txt)" in res.output
    assert (work / "notes.txt").read_text() == "mine"
    res = CliRunner().invoke(main, ["fetch", SEG_TAG, "-o", str(tmp_path / "seg")])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(main, ["fetch", SEG_TAG, "-o", str(tmp_path / "seg")])
    assert res.exit_code == 2 and "pass --force" in res.output
    res = CliRunner().invoke(main, ["fetch", SEG_TAG, "-o", str(tmp_path / "seg"), "--force"])
    assert res.exit_code == 0, res.output
