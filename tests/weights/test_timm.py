"""timm converter: every fixture (written by timm) within 1e-4 x max(1, max |logits|)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from weights_helpers import TIMM_NAMES, max_rel_err

import mhzoo
from mhzoo.cli import main
from mhzoo.weights import convert, read_safetensors
from mhzoo.weights.convert_timm import parse_timm_architecture

EXPECT = {  # timm architecture -> (mhzoo name, padding, BN epsilon)
    "mobilenetv2_100": ("mobilenet_v2", "symmetric", 1e-5),
    "mobilenetv3_large_100": ("mobilenet_v3_large", "symmetric", 1e-5),
    "tf_mobilenetv3_large_minimal_100": ("mobilenet_v3_large_minimalistic", "same", 1e-3),
}


def _check_logits(name: str, out, fixture) -> None:
    ref = np.load(fixture / "reference_io.npz")
    model = mhzoo.build(name, include_preprocessing=False, classifier_activation=None,
                        weights=out)
    got = np.asarray(model(np.transpose(ref["x_nchw"], (0, 2, 3, 1)), training=False))
    assert max_rel_err(got, ref["logits"]) <= 1e-4


@pytest.mark.parametrize("arch", TIMM_NAMES)
def test_timm_fixture_converts_exactly(tmp_path, timm_fixtures, arch):
    name, padding, eps = EXPECT[arch]
    fixture = timm_fixtures / arch
    out = tmp_path / arch
    res = CliRunner().invoke(main, ["convert", "--from", "timm", str(fixture), "--model", name,
                                    "-o", str(out)])
    assert res.exit_code == 0, res.output
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["spec"]["padding"] == padding and cfg["spec"]["bn_epsilon"] == eps
    tcfg = json.loads((fixture / "config.json").read_text())["pretrained_cfg"]
    assert cfg["pretrained_cfg"]["mean"] == pytest.approx([v * 255 for v in tcfg["mean"]])
    assert cfg["pretrained_cfg"]["interpolation"] == tcfg["interpolation"]
    _check_logits(name, out, fixture)


def test_timm_from_hub_reference(tmp_path, local_hub, timm_fixtures):
    """``--from timm hf-hub:timm/<repo>`` downloads through the Hub path, then converts."""
    arch = "mobilenetv3_large_100"
    local_hub.add_folder(f"timm/{arch}.ra_in1k", timm_fixtures / arch)
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["convert", "--from", "timm", f"hf-hub:timm/{arch}.ra_in1k",
                                    "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert json.loads((out / "config.json").read_text())["source"]["path"].startswith("hf-hub:")
    _check_logits("mobilenet_v3_large", out, timm_fixtures / arch)


def test_timm_architecture_names():
    assert parse_timm_architecture("tf_mobilenetv3_small_minimal_100") == (
        "mobilenet_v3_small", 1.0, True, False)
    assert parse_timm_architecture("mobilenetv2_140")[:2] == ("mobilenet_v2", 1.4)
    with pytest.raises(ValueError, match=r"mobilenetv2_110d.*not supported"):
        parse_timm_architecture("mobilenetv2_110d")


def test_timm_bad_inputs(tmp_path, timm_fixtures):
    fx = timm_fixtures / "mobilenetv2_100"
    with pytest.raises(ValueError, match=r"is mobilenetv2_100, i\.e\. mhzoo mobilenet_v2, not "
                                         r"multi_max; pass --model mobilenet_v2"):
        convert("timm", fx, tmp_path / "a", model="multi_max")
    with pytest.raises(ValueError, match=r"width 1\), not width 0\.75"):
        convert("timm", fx, tmp_path / "b", width=0.75)
    bad = tmp_path / "trunc"
    bad.mkdir()
    shutil.copy(fx / "config.json", bad / "config.json")
    (bad / "model.safetensors").write_bytes((fx / "model.safetensors").read_bytes()[:4096])
    res = CliRunner().invoke(main, ["convert", "--from", "timm", str(bad), "-o",
                                    str(tmp_path / "c")])
    assert res.exit_code == 2 and "truncated or corrupted" in res.stderr
    nocfg = tmp_path / "nocfg"
    nocfg.mkdir()
    shutil.copy(fx / "model.safetensors", nocfg / "model.safetensors")
    with pytest.raises(ValueError, match=r"lacks timm's config\.json"):
        convert("timm", nocfg, tmp_path / "d")
    with pytest.raises(ValueError, match=r"not an mhzoo checkpoint .* mhzoo convert --from timm"):
        mhzoo.build("mobilenet_v2", weights=fx)


def test_num_classes_against_a_feature_extractor(tmp_path, timm_fixtures):
    """A timm checkpoint without classifier tensors: the message names the case and the fix."""
    from safetensors.numpy import save_file

    fx = timm_fixtures / "mobilenetv2_100"
    sd = read_safetensors(fx / "model.safetensors")
    nohead = tmp_path / "nohead"
    nohead.mkdir()
    save_file({k: v for k, v in sd.items() if not k.startswith("classifier.")},
              str(nohead / "model.safetensors"))
    shutil.copy(fx / "config.json", nohead / "config.json")
    with pytest.raises(ValueError) as err:
        convert("timm", nohead, tmp_path / "a", num_classes=10)
    msg = str(err.value)
    assert "has no classifier (a feature extractor), so it cannot give 10 classes" in msg
    assert "drop --num-classes" in msg and "include_top=False" in msg and "None" not in msg
    with pytest.raises(ValueError, match=r"has 1000 classes, not 10; pass --num-classes 1000"):
        convert("timm", fx, tmp_path / "b", num_classes=10)
