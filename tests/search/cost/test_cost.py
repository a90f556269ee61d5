"""Latency cost models: ridge fit, numpy == TF, lookup table, quality metrics, JSON files,
multi-hardware MN-Norm, FBNet real-device data and few-shot transfer, CLI errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from mhzoo.cli import main
from mhzoo.search import get_space
from mhzoo.search.cost import (
    BlockLUTModel,
    LinearCostModel,
    MultiHardwareCost,
    feature_matrix,
    feature_size,
    features_from_masks,
    few_shot_curve,
    kendall_tau,
    load_dataset,
    load_model,
    masks_of,
    quality,
    scatter_plot,
    spearman_rho,
    write_dataset_csv,
)
from mhzoo.search.cost.fewshot import METHODS
from mhzoo.search.cost.lut import block_table
from mhzoo.search.cost.ridge import fit_ridge
from mhzoo.search.latency import sample_genotypes


@pytest.fixture(scope="module")
def mh():
    return get_space("multi_hardware", input_size=96)


def _synthetic(space, genotypes, seed=0, jitter=0.05):
    """An additive latency: a constant plus per block a smooth function of its MAdds and
    outputs, times a fixed random factor per distinct block in context (+/- ``jitter``)."""
    rng = np.random.default_rng(seed)
    scale: dict[str, float] = {}
    out = []
    for g in genotypes:
        total = 2.0
        for key, f in block_table(space.decode(g), space.options["input_size"], 1000):
            if key not in scale:
                scale[key] = rng.uniform(1 - jitter, 1 + jitter)
            total += scale[key] * (0.05 + 0.01 * f[0] + 0.03 * f[1] + 0.02 * f[4])
        out.append(total)
    return np.asarray(out)


def test_ridge_matches_closed_form():
    rng = np.random.default_rng(0)
    for n, d in ((60, 10), (20, 50)):
        x = rng.random((n, d))
        y = x @ rng.random(d) + 3.0
        fit = fit_ridge(x, y, lambdas=(0.3,))
        xc, yc = x - x.mean(0), y - y.mean()
        b = np.linalg.solve(xc.T @ xc + 0.3 * np.eye(d), xc.T @ yc)
        np.testing.assert_allclose(fit.b, b, atol=1e-9)
        np.testing.assert_allclose(fit.a[0], y.mean() - x.mean(0) @ b, atol=1e-9)
    with pytest.raises(ValueError, match="too few"):
        fit_ridge(np.ones((4, 3)), np.ones(4))
    with pytest.raises(ValueError, match="> 0"):
        fit_ridge(np.ones((20, 3)), -np.ones(20))


@pytest.mark.parametrize(("name", "kind", "n_fit"), [
    ("fbnet", "linear", 200), ("proxylessnas", "linear", 200), ("multi_hardware", "lut", 200)])
def test_fit_additive_latency(name, kind, n_fit, mh, tmp_path):
    """Linear model where every (width, op) pair of a slot is seen; the lookup table where the
    space is too large for that (its per-block prior prices unseen blocks)."""
    space = mh if name == "multi_hardware" else get_space(name, input_size=96) \
        if name != "fbnet" else get_space("fbnet")
    gs = sample_genotypes(space, n_fit + 60, seed=0)
    y = _synthetic(space, gs)
    tr, te = slice(0, n_fit), slice(n_fit, None)
    cls = LinearCostModel if kind == "linear" else BlockLUTModel
    model = cls.fit(space, gs[tr], y[tr], "cpu_fp32", machine="m")
    q = quality(y[te], model.predict(gs[te]))
    assert q["within_10_pct"] >= 95 and q["kendall_tau"] >= 0.85, (name, kind, q)
    path = model.save(tmp_path / f"{kind}.json")
    back = load_model(path, space=space, target="cpu_fp32")
    np.testing.assert_allclose(back.predict(gs[te]), model.predict(gs[te]), rtol=1e-12)
    data = json.loads(path.read_text())
    assert (data["space"], data["target"], data["machine"]) == (name, "cpu_fp32", "m")
    assert data["feature_size"] == model.feature_size
    with pytest.raises(ValueError, match="target 'cpu_fp32', not 'cpu_int8'"):
        load_model(path, target="cpu_int8")
    other = get_space("mobilenet_v3_like")
    with pytest.raises(ValueError, match=f"space '{name}', not 'mobilenet_v3_like'"):
        load_model(path, space=other)
    with pytest.raises(ValueError, match="space 'mobilenet_v3_like'"):
        model.predict([other.sample(0)])
    if kind == "linear":
        assert model.feature_size == feature_size(space)
    else:  # an unseen block is priced by the prior, not dropped
        new = next(g for g in sample_genotypes(space, 50, seed=99) if model.unseen_blocks(g))
        assert model.predict_one(new) > model.bias


def test_numpy_and_tf_agree_on_fractional_masks(mh):
    import tensorflow as tf

    gs = sample_genotypes(mh, 120, seed=5)
    model = LinearCostModel.fit(mh, gs, _synthetic(mh, gs), "cpu_int8")
    rng = np.random.default_rng(1)
    masks = [rng.dirichlet(np.ones(d.size)) for d in mh.decisions]  # op warm-up style
    f_np = features_from_masks(mh, masks)
    cost = model.tf_cost_fn()
    fn = tf.function(lambda ms: cost(ms))
    tf_masks = [tf.constant(m, tf.float32) for m in masks]
    got = float(fn(tf_masks))
    want = model.predict_masks(masks)
    assert abs(got - want) <= 1e-4 * abs(want)
    np.testing.assert_allclose(
        features_from_masks(mh, tf_masks, backend="tf").numpy(), f_np, rtol=1e-5, atol=1e-7)
    one_hot = [tf.constant(m, tf.float32) for m in masks_of(mh, gs[0])]
    assert abs(float(fn(one_hot)) - model.predict_one(gs[0])) <= 1e-4 * model.predict_one(gs[0])
    batch = tf.constant(feature_matrix(mh, gs[:4]), tf.float32)
    np.testing.assert_allclose(model.predict_tf(batch).numpy(), model.predict(gs[:4]), rtol=1e-4)


def test_quality_metrics_against_known_values():
    y = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    p = np.array([1.04, 2.3, 2.9, 4.0, 4.4])
    q = quality(y, p)
    assert q["within_5_pct"] == pytest.approx(60.0)
    assert q["within_10_pct"] == pytest.approx(60.0)
    assert q["mape_pct"] == pytest.approx(100 * np.mean([0.04, 0.15, 1 / 30, 0, 0.12]))
    assert q["kendall_tau"] == pytest.approx(1.0) and q["spearman_rho"] == pytest.approx(1.0)
    assert kendall_tau([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    # ties: compare with scipy where it is installed
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 5, 60).astype(float), rng.integers(0, 5, 60).astype(float)
    stats = pytest.importorskip("scipy.stats")
    assert kendall_tau(a, b) == pytest.approx(stats.kendalltau(a, b)[0], abs=1e-12)
    assert spearman_rho(a, b) == pytest.approx(stats.spearmanr(a, b)[0], abs=1e-12)


def test_scatter_plot(tmp_path):
    out = scatter_plot(tmp_path / "fig4.png", [1, 2, 3], [1.1, 1.9, 3.2], title="t")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_multi_hardware_cost_uses_mn_norm(mh):
    from mhzoo.benchmarks import mn_norm

    gs = sample_genotypes(mh, 60, seed=8)
    y = _synthetic(mh, gs)
    a = LinearCostModel.fit(mh, gs, y, "cpu_fp32")
    b = LinearCostModel.fit(mh, gs, 2 * y, "cpu_int8")
    factors = {"cpu_fp32": 10.0, "cpu_int8": 5.0}
    res = MultiHardwareCost([a, b], factors).predict(gs[:3])
    for g, r in zip(gs[:3], res, strict=True):
        lat = {"cpu_fp32": a.predict_one(g), "cpu_int8": b.predict_one(g)}
        ref = mn_norm(lat, factors)
        assert r["mn_norm_avg"] == pytest.approx(ref.avg)
        assert r["mn_norm_max"] == pytest.approx(ref.max)
        assert r["mn_norm_max"] == pytest.approx(max(lat["cpu_fp32"] / 10, lat["cpu_int8"] / 5))
    with pytest.raises(ValueError, match="missing cpu_int8"):
        MultiHardwareCost([a, b], {"cpu_fp32": 10.0})
    with pytest.raises(ValueError, match="two cost models"):
        MultiHardwareCost([a, a], {"cpu_fp32": 10.0})


@pytest.fixture(scope="module")
def fbnet(shared_path):
    return load_dataset(shared_path("fbnet-latency", "fbnet_cifar100_latency.csv"))


def test_fbnet_devices(fbnet):
    assert len(fbnet) == 5000 and len(fbnet.targets) == 7
    tr, te = fbnet.rows(":600"), fbnet.rows("4000:")
    for dev, floor in (("pixel3", 0.999), ("gold_6226", 0.8)):
        m = LinearCostModel.fit(fbnet.space, tr.genotypes, tr.y(dev), dev)
        q = quality(te.y(dev), m.predict(te.genotypes))
        assert q["kendall_tau"] >= floor, (dev, q)


def test_few_shot_transfer_beats_scratch(fbnet):
    small = fbnet.subset(np.arange(800))
    res = few_shot_curve(small, devices=["raspi4", "1080ti_1"], ks=(10, 20), repeats=2)
    assert set(res["mean"]) == set(METHODS)
    for m in METHODS:
        assert all(-1 <= v <= 1 for v in res["mean"][m].values())
    assert res["mean"]["transfer"][10] > res["mean"]["scratch"][10]
    assert res["mean"]["prior"][10] > res["mean"]["scratch"][10]


# ---------------------------------------------------------------------------- CLI
def _one_line_error(res, needle: str) -> None:
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and needle in lines[0], res.output


def test_costmodel_cli(mh, tmp_path):
    gs = sample_genotypes(mh, 80, seed=4)
    y = _synthetic(mh, gs)
    rows = [{"genotype": g.to_string(), "cpu_fp32_ms": v, "cpu_int8_ms": v / 2}
            for g, v in zip(gs, y, strict=True)]
    data = write_dataset_csv(tmp_path / "lat.csv", rows, ["cpu_fp32", "cpu_int8"])
    run = CliRunner().invoke
    out = tmp_path / "fp32.json"
    res = run(main, ["search", "costmodel", "fit", "--data", str(data), "--target", "cpu_fp32",
                     "--rows", ":60", "-o", str(out)])
    assert res.exit_code == 0, res.output
    res = run(main, ["search", "costmodel", "eval", str(out), "--data", str(data), "--rows",
                     "60:", "--json", "--plot", str(tmp_path / "s.png")])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["n"] == 20 and (tmp_path / "s.png").exists()
    int8 = tmp_path / "int8.json"
    assert run(main, ["search", "costmodel", "fit", "--data", str(data), "--target", "cpu_int8",
                      "--kind", "lut", "-o", str(int8)]).exit_code == 0
    res = run(main, ["search", "costmodel", "predict", "-m", str(out), "-m", str(int8),
                     gs[0].to_string(), "--norm-factors", "cpu_fp32=10,cpu_int8=5", "--json"])
    assert res.exit_code == 0, res.output
    r = json.loads(res.output)[0]
    assert r["mn_norm_max"] == pytest.approx(max(r["latency_ms"]["cpu_fp32"] / 10,
                                                 r["latency_ms"]["cpu_int8"] / 5))

    # bad inputs: one line, exit 2, no output written
    few = tmp_path / "few.json"
    _one_line_error(run(main, ["search", "costmodel", "fit", "--data", str(data), "--target",
                               "cpu_fp32", "--rows", ":5", "-o", str(few)]), "too few")
    assert not few.exists() and not list(tmp_path.glob(".few.json*"))
    _one_line_error(run(main, ["search", "costmodel", "fit", "--data", str(data), "--target",
                               "gpu", "-o", str(few)]), "no latency column for gpu")
    fb = get_space("fbnet")
    other = write_dataset_csv(tmp_path / "fb.csv", [{"genotype": fb.sample(0).to_string(),
                                                     "cpu_fp32_ms": 1.0}] * 3, ["cpu_fp32"])
    _one_line_error(run(main, ["search", "costmodel", "eval", str(out), "--data", str(other)]),
                    "space 'fbnet'")
    fb_rows = [{"genotype": g.to_string(), "cpu_fp32_ms": 1.0 + i}
               for i, g in enumerate(sample_genotypes(fb, 30, 0))]
    fb_data = write_dataset_csv(tmp_path / "fb30.csv", fb_rows, ["cpu_fp32"])
    fb_model = tmp_path / "fb.json"
    assert run(main, ["search", "costmodel", "fit", "--data", str(fb_data), "--target",
                      "cpu_fp32", "-o", str(fb_model)]).exit_code == 0
    _one_line_error(run(main, ["search", "costmodel", "predict", "-m", str(out), "-m",
                               str(fb_model), gs[0].to_string()]), "space")
    _one_line_error(run(main, ["search", "costmodel", "predict", "-m", str(out),
                               gs[0].to_string() + ":0"]), "indices")
    broken = tmp_path / "broken.json"
    broken.write_text(out.read_text()[:100])
    _one_line_error(run(main, ["search", "costmodel", "eval", str(broken), "--data",
                               str(data)]), "malformed cost model")
    data_bad = tmp_path / "bad.csv"
    write_dataset_csv(data_bad, [{"genotype": gs[0].to_string().replace(":0:", ":9:", 1),
                                  "cpu_fp32_ms": 1.0}], ["cpu_fp32"])
    _one_line_error(run(main, ["search", "costmodel", "fit", "--data", str(data_bad),
                               "--target", "cpu_fp32", "-o", str(few)]), "row 1")


@pytest.mark.parametrize("name", ["multi_hardware", "fbnet", "proxylessnas"])
def test_column_priors_sum_to_block_priors(name):
    """features @ column_priors == the per-block prior features summed over the decoded
    network, up to the blocks no decision touches (a constant)."""
    from mhzoo.search.cost.linear import column_priors

    space = get_space(name, input_size=96) if name != "fbnet" else get_space("fbnet")
    p = column_priors(space)
    gs = sample_genotypes(space, 12, seed=1)
    size, classes = space.options["input_size"], getattr(space, "num_classes", 1000)
    a = np.array([np.sum([f for _, f in block_table(space.decode(g), size, classes)], 0)
                  for g in gs])
    diff = a - feature_matrix(space, gs) @ p
    np.testing.assert_allclose(diff, np.broadcast_to(diff[0], diff.shape), atol=1e-9)
    assert np.ptp(a[:, 0]) > 0  # the networks do differ
