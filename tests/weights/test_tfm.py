"""TF Model Garden converter: the real upstream fixture, and every Model Garden MobileNet id."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from weights_helpers import write_tfm_layout

import mhzoo
from mhzoo.cli import main
from mhzoo.variables import named_weights
from mhzoo.weights import convert, read_safetensors
from mhzoo.weights.convert_tfm import TFM_MODEL_IDS


@pytest.mark.parametrize("framework", ["keras", "tf_keras"])
def test_model_garden_fixture_reproduces_reference_logits(tfm_converted, tfm_fixture,
                                                          framework):
    ref = np.load(tfm_fixture / "reference_io.npz")
    model = mhzoo.build("multi_max", num_classes=1001, include_preprocessing=False,
                        classifier_activation=None, weights=tfm_converted, framework=framework)
    got = np.asarray(model(ref["x"], training=False))
    assert got.shape == (2, 1001)
    assert np.max(np.abs(got - ref["logits"])) <= 1e-4
    cfg = json.loads((tfm_converted / "config.json").read_text())
    assert cfg["source"]["model_id"] == "MobileNetMultiMAX" and cfg["label_offset"] == 1
    assert cfg["pretrained_cfg"]["mean"] == [123.675, 116.28, 103.53]  # ImageNet, 0-255 units


CASES = [("MobileNetV1", 0.75), ("MobileNetV2", 1.4), ("MobileNetV3Large", 1.25),
         ("MobileNetV3Small", 0.75), ("MobileNetV3EdgeTPU", 1.0), ("MobileNetMultiAVG", 0.5),
         ("MobileNetMultiMAX", 1.25), ("MobileNetMultiAVGSeg", 1.0),
         ("MobileNetMultiMAXSeg", 0.75)]


def test_cases_cover_every_model_id():
    assert {c[0] for c in CASES} == set(TFM_MODEL_IDS)


@pytest.mark.parametrize(("model_id", "width"), CASES)
def test_every_model_id_and_width_converts_exactly(tmp_path, model_id, width, randomize_bn):
    name = TFM_MODEL_IDS[model_id]
    backbone_only = name.endswith("_seg")  # Seg checkpoints are backbone initializers
    src = mhzoo.build(name, width, framework="tf_keras", num_classes=1001,
                      include_top=not backbone_only, include_preprocessing=False)
    randomize_bn(src, seed=3)
    write_tfm_layout(src, tmp_path / "ckpt-7")
    out = convert("tf-model-garden", tmp_path, tmp_path / "out", model=model_id)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["width"] == width and cfg["architecture"] == name
    assert cfg["base_spec"] is not None  # the Model Garden width rule is mhzoo's
    assert mhzoo.ArchSpec.from_dict(cfg["spec"]) == src.arch_spec
    got, ref = read_safetensors(out / "model.safetensors"), named_weights(src)
    assert set(got) == set(ref)
    assert all(np.array_equal(got[k], ref[k]) for k in ref)
    assert cfg["num_classes"] == (None if backbone_only else 1001)


def test_wrong_model_width_and_classes_are_clear_errors(tmp_path, tfm_fixture):
    ck = str(tfm_fixture / "ckpt")
    with pytest.raises(ValueError, match=r"block 2 of multi_avg .*dw kernel has shape "
                                         r"\(5, 5, 192, 1\)"):
        convert("tf-model-garden", ck, tmp_path / "a", model="multi_avg")
    with pytest.raises(ValueError, match=r"looks like multi_max at width 1, not 0.75"):
        convert("tf-model-garden", ck, tmp_path / "b", model="multi_max", width=0.75)
    with pytest.raises(ValueError, match=r"has 1001 classes, not 1000; pass --num-classes 1001"):
        convert("tf-model-garden", ck, tmp_path / "c", model="multi_max", num_classes=1000)
    with pytest.raises(ValueError, match="not a TF Model Garden MobileNet"):
        convert("tf-model-garden", ck, tmp_path / "d", model="resnet50")
    assert not any(tmp_path.iterdir())  # nothing partial left behind


def test_truncated_checkpoint_cli_exit_2(tmp_path, tfm_fixture):
    for f in tfm_fixture.glob("ckpt.*"):
        shutil.copy(f, tmp_path / f.name)
    data = tmp_path / "ckpt.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:1000])
    res = CliRunner().invoke(main, ["convert", "--from", "tf-model-garden",
                                    str(tmp_path / "ckpt"), "--model", "multi_max", "-o",
                                    str(tmp_path / "out")])
    assert res.exit_code == 2
    assert res.stderr.startswith("Error: ") and res.stderr.count("\n") == 1
    assert "truncated" in res.stderr or "cannot read" in res.stderr
    assert not (tmp_path / "out").exists()
