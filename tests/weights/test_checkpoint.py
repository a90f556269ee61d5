"""mhzoo checkpoint format: exact save/load round trips and clear errors on bad checkpoints."""

from __future__ import annotations

import json

import numpy as np
import pytest

import mhzoo
from mhzoo.variables import named_weights
from mhzoo.weights import open_weights, read_safetensors

SHAPE = (64, 64, 3)


def _random_model(name, framework, calibrate_weights, width=1.0, **kw):
    m = mhzoo.build(name, width, input_shape=SHAPE, framework=framework, **kw)
    calibrate_weights(m, seed=1)
    return m


@pytest.mark.parametrize("framework", ["keras", "tf_keras"])
def test_round_trip_is_exact_in_both_frameworks(tmp_path, framework, calibrate_weights):
    src = _random_model("mobilenet_v3_small", framework, calibrate_weights, num_classes=10,
                        classifier_activation=None)
    out = mhzoo.save_pretrained(src, tmp_path / "ck", label_names=[f"c{i}" for i in range(10)])
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["architecture"] == "mobilenet_v3_small" and cfg["num_classes"] == 10
    assert cfg["label_names"][3] == "c3" and cfg["pretrained_cfg"]["mean"] == [127.5]
    assert "MAdds" in (out / "README.md").read_text()
    x = np.random.default_rng(0).uniform(0, 255, (2, *SHAPE)).astype("float32")
    for fw in ("keras", "tf_keras"):  # also across frameworks
        back = mhzoo.build("mobilenet_v3_small", input_shape=SHAPE, weights=out, framework=fw,
                           classifier_activation=None)
        assert back.get_layer("classifier").units == 10  # num_classes from the checkpoint
        a, b = named_weights(src), named_weights(back)
        assert list(a) == list(b)
        assert all(np.array_equal(a[k], b[k]) for k in a)  # every variable bit-exact
        y_src, y_back = np.asarray(src(x, training=False)), np.asarray(back(x, training=False))
        if fw == framework:
            np.testing.assert_array_equal(y_src, y_back)
        else:  # same weights, other framework's kernels: float32 round-off only
            np.testing.assert_allclose(y_back, y_src, rtol=0, atol=1e-5)


def test_width_and_tunas_rule_round_trip(tmp_path, calibrate_weights):
    src = _random_model("multi_avg", "tf_keras", calibrate_weights, width=0.75, divisible_by=32)
    out = mhzoo.save_pretrained(src, tmp_path / "ck", model_card=False)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["width"] == 0.75 and cfg["base_spec"] is None  # TuNAS rule: concrete spec rules
    back = mhzoo.build("multi_avg", input_shape=SHAPE, weights=out, framework="tf_keras")
    assert back.arch_spec == src.arch_spec and back.width == 0.75
    back2 = mhzoo.build("multi_avg", 0.75, input_shape=SHAPE, weights=out, framework="tf_keras")
    assert back2.arch_spec == src.arch_spec
    with pytest.raises(ValueError, match=r"width 0.75, but width 1.25 was asked"):
        mhzoo.build("multi_avg", 1.25, input_shape=SHAPE, weights=out, framework="tf_keras")


def test_backbone_and_features_load(tmp_path, calibrate_weights):
    src = _random_model("multi_max", "tf_keras", calibrate_weights)
    out = mhzoo.save_pretrained(src, tmp_path / "ck", model_card=False)
    feat = mhzoo.build("multi_max", input_shape=SHAPE, weights=out, features_only=True,
                       framework="tf_keras")
    ref = named_weights(src)
    assert all(np.array_equal(v, ref[k]) for k, v in named_weights(feat).items())
    body = mhzoo.build("multi_max", input_shape=SHAPE, weights=out, include_top=False,
                       framework="tf_keras")
    assert "classifier" not in {la.name for la in body.layers}


def test_num_classes_mismatch_suggests_include_top_false(tmp_path, calibrate_weights):
    out = mhzoo.save_pretrained(_random_model("multi_max", "tf_keras", calibrate_weights),
                                tmp_path / "ck", model_card=False)
    with pytest.raises(ValueError, match=r"1000 classes but the model 10.*include_top=False"):
        mhzoo.build("multi_max", input_shape=SHAPE, num_classes=10, weights=out,
                    framework="tf_keras")


def test_other_architecture_names_first_mismatching_variable(tmp_path, calibrate_weights):
    out = mhzoo.save_pretrained(_random_model("multi_max", "tf_keras", calibrate_weights),
                                tmp_path / "ck", model_card=False)
    with pytest.raises(ValueError) as err:
        mhzoo.build("multi_avg", input_shape=SHAPE, weights=out, framework="tf_keras")
    msg = str(err.value)
    # multi_max block 2 expands 32 -> 192 with a 5x5 depthwise; multi_avg block 2 32 -> 64, 3x3
    assert "'block2_expand/kernel'" in msg and "(1, 1, 32, 192)" in msg
    assert "(1, 1, 32, 64)" in msg and "multi_max" in msg


def test_truncated_safetensors_is_refused(tmp_path, calibrate_weights):
    out = mhzoo.save_pretrained(_random_model("multi_max", "tf_keras", calibrate_weights),
                                tmp_path / "ck", model_card=False)
    f = out / "model.safetensors"
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    with pytest.raises(ValueError, match=r"not a readable safetensors file \(truncated"):
        mhzoo.build("multi_max", input_shape=SHAPE, weights=out, framework="tf_keras")
    with pytest.raises(ValueError, match="truncated"):
        read_safetensors(f)


def test_bad_weight_values(tmp_path):
    with pytest.raises(ValueError, match="weights not found"):
        open_weights(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"has no model\.safetensors"):
        open_weights(tmp_path / "empty")
    (tmp_path / "up").mkdir()
    (tmp_path / "up" / "ckpt-1.index").write_bytes(b"")
    with pytest.raises(ValueError, match="mhzoo convert --from tf-model-garden"):
        open_weights(tmp_path / "up")
    with pytest.raises(ValueError, match="malformed Hub reference"):
        open_weights("hf-hub:not a repo")


def test_save_pretrained_never_clobbers_unrelated_files(tmp_path, monkeypatch):
    m = mhzoo.build("multi_max", 0.25, input_shape=SHAPE, num_classes=3, framework="tf_keras")
    d = tmp_path / "d"
    d.mkdir()
    (d / "notes.txt").write_text("keep")
    with pytest.raises(ValueError, match=r"output exists: .*force=True"):
        mhzoo.save_pretrained(m, d)
    with pytest.raises(ValueError, match=r"refusing to replace .*d: it is not an mhzoo "
                                         r"checkpoint folder \(it holds notes\.txt\)"):
        mhzoo.save_pretrained(m, d, force=True)
    assert sorted(p.name for p in d.iterdir()) == ["notes.txt"]
    f = tmp_path / "f"
    f.write_text("a file")
    with pytest.raises(ValueError, match="output path is a file, expected a folder"):
        mhzoo.save_pretrained(m, f, force=True)
    assert f.read_text() == "a file"
    ck = mhzoo.save_pretrained(m, tmp_path / "ck", model_card=False)
    with pytest.raises(ValueError, match="output exists"):
        mhzoo.save_pretrained(m, ck)
    (tmp_path / "empty").mkdir()
    for target in (ck, tmp_path / "empty"):  # a checkpoint folder or an empty one: replaced
        out = mhzoo.save_pretrained(m, target, force=True)
        assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json",
                                                         "model.safetensors"]
    monkeypatch.chdir(ck)
    for target in (".", "..", ck):
        with pytest.raises(ValueError, match="current working directory or contains it"):
            mhzoo.save_pretrained(m, target, force=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck", "d", "empty", "f"]  # no debris
    assert (ck / "model.safetensors").is_file()


def test_features_only_checkpoint_names_the_fix(tmp_path, calibrate_weights):
    feat = _random_model("multi_max", "tf_keras", calibrate_weights, features_only=True)
    out = mhzoo.save_pretrained(feat, tmp_path / "ck", model_card=False)
    for kw in ({"include_top": False}, {}):
        with pytest.raises(ValueError, match=r"saved from a feature extractor "
                                             r"\(features_only=True\): it stops at block 14 .*"
                                             r"block15_conv.*build with features_only=True"):
            mhzoo.build("multi_max", input_shape=SHAPE, weights=out, framework="tf_keras", **kw)
    back = mhzoo.build("multi_max", input_shape=SHAPE, weights=out, features_only=True,
                       framework="tf_keras")
    ref = named_weights(feat)
    assert all(np.array_equal(v, ref[k]) for k, v in named_weights(back).items())
    # into another architecture it is still a shape error, not a features_only hint
    with pytest.raises(ValueError, match=r"does not fit model .*'block2_expand/kernel'") as err:
        mhzoo.build("multi_avg", input_shape=SHAPE, weights=out, include_top=False,
                    framework="tf_keras")
    assert "feature extractor" not in str(err.value)


def test_explicit_width_must_match_the_checkpoint(tmp_path):
    """No width takes the checkpoint's; an explicit other width (1.0 too) is refused."""
    small = mhzoo.build("multi_max", 0.75, input_shape=(64, 64, 3), num_classes=4)
    mhzoo.save_pretrained(small, tmp_path / "ckpt")
    assert mhzoo.build("multi_max", weights=tmp_path / "ckpt").width == 0.75
    with pytest.raises(ValueError, match=r"at width 0\.75, but width 1 was asked"):
        mhzoo.build("multi_max", 1.0, weights=tmp_path / "ckpt")
