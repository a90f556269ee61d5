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
from live_models import (
    assert_close,
    calibrate,
    check_input_dependence,
    compare,
    perturbed_early_layer,
    swap_channels,
)
from weights_helpers import FileServer, smooth_images, write_tfm_layout

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


# Float model from the tag against LiteRT on the int8 file, 200 images, measured on this fixture
# (live weights from ``calibrate``, two runs; the QAT fine-tune is not bit-reproducible):
# centred cosine min 0.951-0.953 / median 0.975, plain cosine min 0.985-0.986, LiteRT's top-1
# among the float model's top 5 on 85.5%, top-1 agreement 25-28.5% (1001 random classes whose
# top logits nearly tie: int8 activation noise reorders them; a trained network's margins are
# far wider), LiteRT's top-1 takes 38-43 distinct classes. Broken twins: BGR-swapped images on
# the float side give centred min -0.24 / median 0.23, top-5 35.5%; the first convolution's
# dequantized kernel with 30% noise gives centred min 0.49 / median 0.69, top-5 51%.
MIN_CENTRED_COSINE = 0.9
MIN_MEDIAN_CENTRED_COSINE = 0.95
MIN_PLAIN_COSINE = 0.97
MIN_TOP5 = 0.7
MIN_DISTINCT_TOP1 = 20


def _fidelity(got: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    """Per-image cosines (plain, and centred on the reference's mean over the images: the
    image-independent part such as the head's bias taken out), top-1 / top-5 agreement."""
    g, r = np.asarray(got, np.float64), np.asarray(ref, np.float64)

    def cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.sum(a * b, 1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)

    centre = r.mean(0, keepdims=True)
    centred = cos(g - centre, r - centre)
    top5 = np.argsort(g, axis=1)[:, -5:]
    return {"centred_min": float(centred.min()), "centred_median": float(np.median(centred)),
            "plain_min": float(cos(g, r).min()),
            "top1": float(np.mean(g.argmax(1) == r.argmax(1))),
            "top5": float(np.mean([r_i.argmax() in t for r_i, t in zip(r, top5, strict=True)]))}


def _agrees(f: dict[str, float]) -> bool:
    return (f["centred_min"] >= MIN_CENTRED_COSINE and
            f["centred_median"] >= MIN_MEDIAN_CENTRED_COSINE and
            f["plain_min"] >= MIN_PLAIN_COSINE and f["top5"] >= MIN_TOP5)


@pytest.fixture(scope="module")
def qat_file(tmp_path_factory) -> bytes:
    """An int8 QAT Multi-AVG (1001 classes, logits, uint8 pixels in) exported by mhzoo."""
    images = smooth_images(48, SIZE, seed=1)
    model = mhzoo.build("multi_avg", num_classes=1001, input_shape=(SIZE, SIZE, 3),
                        classifier_activation=None)
    calibrate(model, images, seed=2)  # live weights: the logits depend on the image
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
    # the reference sees the image: many classes win, two images' logits differ at their scale
    assert len(set(ref.argmax(1).tolist())) >= MIN_DISTINCT_TOP1, sorted(set(ref.argmax(1)))
    check_input_dependence(ref[0], ref[1], 1e-2, what="LiteRT on the QAT file")
    fid = _fidelity(got, ref)
    assert _agrees(fid), fid
    # broken twins fail the same comparison: channels swapped on one side; an early layer off
    bgr = _fidelity(np.asarray(model.predict(swap_channels(images), batch_size=50, verbose=0)),
                    ref)
    assert not _agrees(bgr) and bgr["centred_min"] < MIN_CENTRED_COSINE, bgr
    with perturbed_early_layer(model, scale=0.3):
        off = _fidelity(np.asarray(model.predict(images, batch_size=50, verbose=0)), ref)
    assert not _agrees(off) and off["centred_min"] < MIN_CENTRED_COSINE, off
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
    calibrate(src, images, seed=5)
    path = tmp_path / "m.tflite"
    to_tflite(src, path, quant="float32")
    assert convert_tflite(path, model=name).pretrained_cfg["normalization_source"] == "graph"
    out = convert("tflite", path, tmp_path / "ckpt", model=name)
    back = mhzoo.build(name, weights=str(out), input_shape=(SIZE, SIZE, 3),
                       classifier_activation=None)
    ref = np.asarray(src(images, training=False))
    got = np.asarray(back(images, training=False))
    assert_close(got, ref, 1e-4, what=f"{name} float TFLite -> mhzoo")  # with the guard
    # a test for the test: the converted model fed BGR images is far outside the tolerance
    assert not compare(np.asarray(back(swap_channels(images), training=False)), ref, 1e-4).ok


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
    calibrate(src, (images - 127.5) / 60.0, seed=9)
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
    assert_close(got, ref, 1e-3, what="ImageNet-normalized LiteRT vs mhzoo")  # with the guard
    # the normalization matters: images fed unnormalized to LiteRT (mean / std off) disagree
    raw = _litert(path.read_bytes(), images.astype(np.float32) / 127.5 - 1.0)
    assert not compare(got, raw, 1e-3).ok
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
