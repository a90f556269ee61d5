"""Pretrained registry: real upstream sources, explicit errors, never silent random weights."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from click.testing import CliRunner

import mhzoo
from mhzoo.cli import main
from mhzoo.weights import get_pretrained, list_pretrained


def test_registry_points_to_real_upstream_sources():
    names = list_pretrained()
    assert "mobilenet_v3_large_100.keras_in1k" in names
    assert "mobilenet_v3_large_minimalistic_100.tf_in1k" in names
    k = get_pretrained("mobilenet_v3_large_075.keras_in1k")
    assert k.url == ("https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v3/"
                     "weights_mobilenet_v3_large_224_0.75_float.h5")
    assert k.preprocessing.mean == (127.5,)  # keras: [-1, 1]
    t = get_pretrained("mobilenet_v2_100.ra_in1k")
    assert t.hf_hub_id == "timm/mobilenetv2_100.ra_in1k" and t.interpolation == "bicubic"
    assert t.preprocessing.mean == pytest.approx((123.675, 116.28, 103.53))
    assert all(get_pretrained(n).url or get_pretrained(n).hf_hub_id for n in names)


@pytest.mark.parametrize("model", ["multi_max"])
def test_multi_imagenet_says_no_public_weights(model):
    with pytest.raises(ValueError) as err:
        mhzoo.build(model, weights="imagenet")
    msg = str(err.value)
    assert "no public" in msg and "will not load random weights" in msg
    assert f"mhzoo convert --from tf-model-garden CKPT --model {model}" in msg


def test_unknown_tag_and_mismatches():
    with pytest.raises(ValueError, match=r"unknown pretrained tag 'mobilenet_v3_large_100.in22k'"
                                         r".*did you mean"):
        mhzoo.build("mobilenet_v3_large", weights="mobilenet_v3_large.in22k")
    with pytest.raises(ValueError, match="is for mobilenet_v2, not multi_max"):
        mhzoo.build("multi_max", weights="mobilenet_v2_100.ra_in1k")
    with pytest.raises(ValueError, match=r"no ImageNet weights for mobilenet_v3_large at width "
                                         r"0.6 \(published widths: 0.75, 1\)"):
        mhzoo.build("mobilenet_v3_large", 0.6, weights="imagenet")
    with pytest.raises(ValueError, match="neither a path"):
        mhzoo.build("mobilenet_v2", weights="imagenet21k")


def test_imagenet_offline_without_cache_is_explicit(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ValueError, match=r"mobilenet_v2_100.keras_in1k is not in the mhzoo cache"
                                         r".*mhzoo convert --from keras FILE"):
        mhzoo.build("mobilenet_v2", weights="imagenet")


def test_multi_avg_imagenet_is_the_model_garden_qat_model():
    from mhzoo.weights.pretrained import resolve_tag

    entry = resolve_tag("imagenet", "multi_avg", 1.0)
    assert entry.name == "multi_avg_100.tfm_qat_in1k" and entry.file_format == "tflite"
    assert entry.url.endswith("/v3.5multiavg_1.0_int8/mobilenet_v3.5multiavg_1.00_224_int8.tflite")
    seg = resolve_tag("imagenet", "multi_avg_seg", 1.0)
    assert seg.name == "multi_avg_seg_100.tfm_in1k" and seg.file_format == "tf-checkpoint"
    assert seg.url == "https://storage.googleapis.com/tf_model_garden/vision/mobilenet/" \
        "v3.5multiavg_seg_float/"


@pytest.mark.parametrize("args", [
    ["--from", "timm", "/nonexistent/dir", "-o", "OUT"],
    ["--from", "tf-model-garden", "X", "--model", "resnet50", "-o", "OUT"],
    ["--from", "keras", "/nonexistent.h5", "--model", "mobilenet_v2", "-o", "OUT"],
    ["--from", "tf-model-garden", "X", "-o", "OUT"],
    ["--from", "timm", "X", "--width", "-1", "-o", "OUT"],
])
def test_cli_bad_inputs_exit_2_one_line(tmp_path, args):
    args = [a.replace("OUT", str(tmp_path / "out")) for a in args]
    res = CliRunner().invoke(main, ["convert", *args])
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith("Error: ") and res.stderr.count("\n") == 1
    assert "Traceback" not in res.output


def test_cli_refuses_existing_output(tmp_path):
    (tmp_path / "out").mkdir()
    res = CliRunner().invoke(main, ["convert", "--from", "timm", "x", "-o",
                                    str(tmp_path / "out")])
    assert res.exit_code == 2 and "output exists" in res.stderr and "--force" in res.stderr
    (tmp_path / "out" / "notes.txt").write_text("keep")  # --force never deletes other files
    res = CliRunner().invoke(main, ["convert", "--from", "timm", "x", "-o",
                                    str(tmp_path / "out"), "--force"])
    assert res.exit_code == 2 and "is not an mhzoo checkpoint folder" in res.stderr
    assert res.stderr.count("\n") == 1 and (tmp_path / "out" / "notes.txt").is_file()


def test_imagenet_default_is_unique_and_follows_the_rule():
    """One default per (model, width): keras_in1k where keras publishes it, else timm's."""
    from mhzoo.weights import PretrainedTag, register_pretrained
    from mhzoo.weights.pretrained import resolve_tag as _resolve

    entries = [get_pretrained(n) for n in list_pretrained()]
    keras = {(e.model, e.width) for e in entries if e.tag == "keras_in1k" and not e.keras_model}
    defaults: dict = {}
    for e in entries:
        if e.default:
            assert (e.model, e.width) not in defaults, (e.name, defaults[(e.model, e.width)])
            defaults[(e.model, e.width)] = e.name
            assert (e.tag == "keras_in1k") == ((e.model, e.width) in keras), e.name
    assert keras <= set(defaults)
    assert _resolve("imagenet", "mobilenet_v2", 0.5).name == "mobilenet_v2_050.keras_in1k"
    assert _resolve("imagenet", "mobilenet_v3_small", 0.5).name == \
        "mobilenet_v3_small_050.lamb_in1k"
    with pytest.raises(ValueError, match=r"mobilenet_v2 at width 0.5 already has a default tag, "
                                         r"mobilenet_v2_050.keras_in1k"):
        register_pretrained(PretrainedTag("mobilenet_v2", 0.5, "test_dflt", "hub",
                                          hf_hub_id="acme/x", default=True))
    assert "mobilenet_v2_050.test_dflt" not in list_pretrained()


def test_unknown_tag_suggests_only_tags_of_the_same_model():
    with pytest.raises(ValueError) as err:
        mhzoo.build("multi_max", weights="multi_max.foo")
    msg = str(err.value)
    assert "multi_max has no pretrained tags" in msg and "list_pretrained()" in msg
    assert "mhzoo convert --from tf-model-garden|keras|timm SRC --model multi_max" in msg
    assert "did you mean" not in msg and "multi_avg_seg" not in msg
    with pytest.raises(ValueError, match=r"did you mean multi_avg_100\.tfm_qat_in1k"):
        mhzoo.weights.get_pretrained("multi_avg_100.tfm_in1k")
    with pytest.raises(ValueError, match=r"did you mean ([\w.]+(, )?)+\?") as err:
        mhzoo.build("mobilenet_v2", 0.35, weights="mobilenet_v2.lamb_in1k")
    close = str(err.value).split("did you mean ")[1].split("?")[0].split(", ")
    assert close and all(c.startswith("mobilenet_v2_") for c in close), close


def test_keras_tag_downloads_converts_once_and_loads(tmp_path, local_hub, monkeypatch):
    """A keras-source tag: keras.utils.get_file download (here from the loopback server),
    conversion into mhzoo's cache on first use, offline reuse afterwards."""
    import tf_keras

    from mhzoo.variables import named_weights
    from mhzoo.weights import PretrainedTag, convert, read_safetensors, register_pretrained
    from mhzoo.weights.pretrained import _REGISTRY

    src = tf_keras.applications.MobileNetV3Small(input_shape=(64, 64, 3), weights=None)
    src.save_weights(str(tmp_path / "w.h5"))
    data = (tmp_path / "w.h5").read_bytes()
    local_hub.files["w.h5"] = data
    pinned_bad = register_pretrained(PretrainedTag(
        "mobilenet_v3_small", 1.0, "test_bad", "keras", url=f"{local_hub.url}/files/w.h5",
        sha256="0" * 64))
    tag = register_pretrained(PretrainedTag("mobilenet_v3_small", 1.0, "test_keras", "keras",
                                            url=f"{local_hub.url}/files/w.h5",
                                            sha256=hashlib.sha256(data).hexdigest()))
    try:
        with pytest.raises(ValueError, match=r"sha256 mismatch for mobilenet_v3_small_100."
                                             r"test_bad .* the registry pins 0{64}"):
            mhzoo.build("mobilenet_v3_small", weights="mobilenet_v3_small.test_bad")
        model = mhzoo.build("mobilenet_v3_small", input_shape=(64, 64, 3),
                            weights="mobilenet_v3_small.test_keras", framework="tf_keras")
        ref = read_safetensors(convert("keras", src, tmp_path / "ref",
                                       model="mobilenet_v3_small") / "model.safetensors")
        got = named_weights(model)
        bad = [k for k in ref if not np.array_equal(got[k], ref[k])]
        assert not bad, bad[:5]
        assert model.pretrained_cfg["pretrained_cfg"]["tag"] == "mobilenet_v3_small_100.test_keras"
        local_hub.stop()
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        mhzoo.build("mobilenet_v3_small", weights="mobilenet_v3_small.test_keras",
                    framework="tf_keras")
    finally:
        _REGISTRY.pop(tag.name, None)
        _REGISTRY.pop(pinned_bad.name, None)
