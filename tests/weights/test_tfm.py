"""TF Model Garden converter: both upstream fixtures (logits that depend on the input), broken
variants that must fail the same comparison, and every Model Garden MobileNet id."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from live_models import (
    assert_close,
    compare,
    perturbed_early_layer,
    smooth_images,
    swap_channels,
)
from weights_helpers import TFM_FIXTURES, write_tfm_layout

import mhzoo
from mhzoo.cli import main
from mhzoo.variables import assign_named_weights, named_weights
from mhzoo.weights import convert, read_safetensors
from mhzoo.weights.convert_tfm import TFM_MODEL_IDS

#: Converted logits must match the Model Garden's within this fraction of the logit scale.
TFM_RTOL = 1e-4


def _reference(src):
    ref = np.load(src / "reference_io.npz")
    return ref["x"], ref["logits"]


def _converted_model(out, name, framework="keras", spec=None):
    """The converted checkpoint as a logit model; with ``spec`` that spec (same weights)."""
    model = mhzoo.build(name, num_classes=1001, include_preprocessing=False,
                        classifier_activation=None, weights=out, framework=framework)
    if spec is None:
        return model
    other = mhzoo.build(spec, 1.0, num_classes=1001, include_preprocessing=False,
                        classifier_activation=None, framework=framework)
    assign_named_weights(other, named_weights(model))
    return other


@pytest.mark.parametrize("framework", ["keras", "tf_keras"])
@pytest.mark.parametrize("folder", list(TFM_FIXTURES))
def test_model_garden_fixture_reproduces_reference_logits(tfm_fixture_converted, folder,
                                                          framework):
    """Both regenerated fixtures (logits that depend on the input) convert within 1e-4 of
    their logit scale; ``assert_close`` also checks that the two reference inputs' logits
    differ by far more than that (the guard)."""
    model_id, name = TFM_FIXTURES[folder]
    src, out = tfm_fixture_converted(folder)
    x, logits = _reference(src)
    model = _converted_model(out, name, framework)
    got = np.asarray(model(x, training=False))
    assert got.shape == (2, 1001)
    assert_close(got, logits, TFM_RTOL, what=f"{folder} ({framework})")
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["source"]["model_id"] == model_id and cfg["label_offset"] == 1
    assert cfg["pretrained_cfg"]["mean"] == [123.675, 116.28, 103.53]  # ImageNet, 0-255 units
    # the Model Garden's squeeze-excite gate, relu6(x + 3) * 0.16667, where there is one
    has_se = any(getattr(b, "se_ratio", None) for b in model.arch_spec.blocks)
    assert has_se == (name == "mobilenet_v3_small")
    assert cfg["spec"]["se_gate"] == ("hard_sigmoid_tfm" if has_se else "hard_sigmoid")


def test_converted_mobilenet_v3_saves_and_reloads(tfm_fixture_converted, tmp_path):
    """The Model Garden gate is a registered activation: a converted MobileNetV3 saved as
    .keras reloads (mhzoo.load_model) and still reproduces the reference logits."""
    src, out = tfm_fixture_converted("mobilenet_v3_small_100")
    x, logits = _reference(src)
    path = tmp_path / "v3.keras"
    _converted_model(out, "mobilenet_v3_small").save(path)
    again = mhzoo.load_model(path)
    assert_close(np.asarray(again(x, training=False)), logits, TFM_RTOL, what="reloaded")


def _broken(variant, model, x):
    """Logits of a deliberately broken variant of the converted ``model`` on ``x``."""
    if variant == "channels_swapped":
        return np.asarray(model(swap_channels(x), training=False))
    if variant == "early_layer_perturbed":  # 1% noise on the stem kernel
        with perturbed_early_layer(model, scale=0.01):
            return np.asarray(model(x, training=False))
    spec = model.arch_spec.replace(**{"paper_hard_sigmoid": {"se_gate": "hard_sigmoid"},
                                      "symmetric_padding": {"padding": "symmetric"}}[variant])
    other = mhzoo.build(spec, 1.0, num_classes=1001, include_preprocessing=False,
                        classifier_activation=None)
    assign_named_weights(other, named_weights(model))
    return np.asarray(other(x, training=False))


BROKEN = [("mobilenet_v3_small_100", v) for v in ("channels_swapped", "early_layer_perturbed",
                                                  "paper_hard_sigmoid", "symmetric_padding")]
BROKEN += [("multi_max_100", v) for v in ("channels_swapped", "early_layer_perturbed",
                                          "symmetric_padding")]


@pytest.mark.parametrize(("folder", "variant"), BROKEN)
def test_broken_conversion_fails_the_fixture_comparison(tfm_fixture_converted, folder, variant):
    """A test for the test: wrong channel order, an early layer off by 1%, the other padding,
    or (MobileNetV3) the paper's hard sigmoid relu6(x + 3) / 6 as the squeeze-excite gate, the
    difference this comparison found, each fail the comparison of the test above."""
    _, name = TFM_FIXTURES[folder]
    src, out = tfm_fixture_converted(folder)
    x, logits = _reference(src)
    res = compare(_broken(variant, _converted_model(out, name), x), logits, TFM_RTOL)
    assert not res.ok, f"{folder} {variant}: {res}"


CASES = [("MobileNetV1", 0.75), ("MobileNetV2", 1.4), ("MobileNetV3Large", 1.25),
         ("MobileNetV3Small", 0.75), ("MobileNetV3EdgeTPU", 1.0), ("MobileNetMultiAVG", 0.5),
         ("MobileNetMultiMAX", 1.25), ("MobileNetMultiAVGSeg", 1.0),
         ("MobileNetMultiMAXSeg", 0.75)]


def test_cases_cover_every_model_id():
    assert {c[0] for c in CASES} == set(TFM_MODEL_IDS)


@pytest.mark.parametrize(("model_id", "width"), CASES)
def test_every_model_id_and_width_converts_exactly(tmp_path, model_id, width,
                                                   calibrate_weights):
    """Round trip through a Model Garden layout written from an mhzoo model with live weights
    (MobileNetV3: built with the Model Garden's gate, as a Model Garden V3 computes): same
    spec, bit-identical tensors, and the converted model's outputs equal the source's."""
    name = TFM_MODEL_IDS[model_id]
    backbone_only = name.endswith("_seg")  # Seg checkpoints are backbone initializers
    spec = mhzoo.registry.get_spec(name)
    if any(getattr(b, "se_ratio", None) for b in spec.blocks):
        spec = spec.replace(se_gate="hard_sigmoid_tfm")
    kw = dict(num_classes=1001, include_top=not backbone_only, include_preprocessing=False,
              classifier_activation=None, input_shape=(None, None, 3))
    src = mhzoo.build(spec, width, framework="tf_keras", **kw)
    calibrate_weights(src, seed=3)
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
    model = mhzoo.build(name, weights=out, **{k: v for k, v in kw.items()
                                              if k != "num_classes" or not backbone_only})
    x = smooth_images(2, 64, seed=4) / 127.5 - 1.0
    assert_close(np.asarray(model(x, training=False)), np.asarray(src(x, training=False)),
                 TFM_RTOL, what=f"{model_id} at {width}")


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
