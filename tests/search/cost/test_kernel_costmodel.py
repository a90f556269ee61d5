"""Kernel-level cost model (kind ``kernel``): kernels and terms, fitting (known law, outliers,
cross-validation), additivity, exact compilation into the TuNAS linear weights (numpy and
in-graph TensorFlow), files (basis version, malformed fields) and the CLI."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from mhzoo.cli import main
from mhzoo.search import get_space
from mhzoo.search.cost import KernelCostModel, LinearCostModel, load_model, masks_of
from mhzoo.search.cost.folder import load_cost_models
from mhzoo.search.cost.kernel import compile_additive
from mhzoo.search.cost.kernels import (
    Kernel,
    Machine,
    kernel_terms,
    kernels_of,
    kernels_of_blocks,
    network_terms,
)
from mhzoo.spec import ArchSpec, Conv, DepthwiseSeparable, GlobalPool, InvertedBottleneck

# a "true" latency law using a few of the model's own terms (including non-linear ones): the fit
# must recover it
TRUE = {"pw_macs": 0.010, "dw_macs": 0.030, "conv_macs": 0.012, "pw_out": 0.20,
        "w_hinge_1llc": 0.15, "blk_skip_l2": 0.3, "fc_w": 0.05, "add_bytes": 0.1}


def _law(spec, machine: Machine, size: int, bias: float = 2.0) -> float:
    terms = network_terms(kernels_of(spec, size, 1000), machine)
    return bias + sum(TRUE.get(k, 0.0) * v for k, v in terms.items())


@pytest.fixture(scope="module")
def space():
    return get_space("multi_hardware", input_size=128)


@pytest.fixture(scope="module")
def genos(space):
    rng = random.Random(0)
    return [space.sample(rng) for _ in range(400)]


def _labels(space, gs, machine: Machine | None = None):
    return np.array([_law(space.decode(g), machine or Machine(4), 128) for g in gs])


@pytest.fixture(scope="module")
def fitted(space, genos) -> KernelCostModel:
    return KernelCostModel.fit(space, genos[:150], _labels(space, genos[:150]), "cpu_fp32",
                               lambdas=(1.0,))


def test_kernels_of_inverted_bottleneck_shapes() -> None:
    spec = ArchSpec("t", (Conv(32, 3, 2, "relu"),
                          InvertedBottleneck(32, 5, 1, 1.0, expansion_filters=96),
                          InvertedBottleneck(64, 3, 2, 1.0, expansion_filters=128, fused=True),
                          GlobalPool(), Conv(1280, 1, 1, "relu")))
    ks = kernels_of(spec, 224, 1000)
    assert [k.kind for k in ks] == ["conv", "pw", "dw", "pw", "add", "conv", "pw", "mean",
                                    "fc", "fc"]
    assert (ks[2].hin, ks[2].hout, ks[2].cin, ks[2].k) == (112, 112, 96, 5)
    assert (ks[5].hin, ks[5].hout, ks[5].cin, ks[5].cout, ks[5].stride) == (112, 56, 32, 128, 2)
    assert dict(ks[4].extra)["skip"] == 112 * 112 * 32  # the residual block's skip tensor
    assert dict(ks[6].extra)["skip"] == 0.0  # strided: no residual
    assert ks[-1].cin == 1280 and ks[-1].cout == 1000


def test_unsupported_block_is_one_line_error() -> None:
    with pytest.raises(ValueError, match="not modelled") as exc:
        kernels_of(ArchSpec("t", (Conv(32, 3, 2, "relu"), DepthwiseSeparable(64))))
    assert "\n" not in str(exc.value)
    se = ArchSpec("t", (Conv(32, 3, 2, "relu"), InvertedBottleneck(32, 3, 1, 4.0, se_ratio=0.25)))
    with pytest.raises(ValueError, match="squeeze-excite"):
        kernels_of(se)


def test_terms_follow_cache_thresholds() -> None:
    m = Machine(4, l2_bytes=1 << 20, llc_bytes=32 << 20)
    assert "pw_w_l2" not in kernel_terms(Kernel("pw", 0, 1, 1, 7, 7, 64, 64), m)
    t = kernel_terms(Kernel("pw", 0, 1, 1, 7, 7, 2048, 8192), m)  # 64 MiB of float32 weights
    w_mb = 2048 * 8192 * 4 / 1e6
    assert math.isclose(t["pw_w_l2"], w_mb)
    assert math.isclose(t["w_hinge_1llc"], w_mb - (32 << 20) / 1e6)
    assert "w_hinge_2llc" not in t  # exactly 2 x LLC: the hinge starts above it
    t8 = kernel_terms(Kernel("pw", 0, 1, 1, 7, 7, 2048, 8192), Machine(1))
    assert "w_hinge_1llc" not in t8 and math.isclose(t8["pw_w"], w_mb / 4)


def test_fit_recovers_a_known_law(space, genos, fitted) -> None:
    model = KernelCostModel.fit(space, genos[:250], _labels(space, genos[:250]), "cpu_fp32",
                                lambdas=(1e-6,), iters=1)
    y = _labels(space, genos[300:])
    assert np.max(np.abs(model.predict(genos[300:]) / y - 1)) < 0.02
    assert fitted.cpu.bytes_per_element == 4  # float32 target: 4-byte elements by default
    m8 = KernelCostModel.fit(space, genos[:40], _labels(space, genos[:40], Machine(1)),
                             "cpu_int8", lambdas=(1.0,))
    assert m8.cpu.bytes_per_element == 1


def test_fit_robust_to_outlier_labels(space, genos) -> None:
    y = _labels(space, genos)
    noisy = y.copy()
    noisy[:300:10] *= 1.8  # 30 timing outliers among the 300 training rows
    robust = KernelCostModel.fit(space, genos[:300], noisy[:300], "t", lambdas=(1.0,), iters=6)
    plain = KernelCostModel.fit(space, genos[:300], noisy[:300], "t", lambdas=(1.0,), iters=1)
    err_r = np.abs(robust.predict(genos[300:]) / y[300:] - 1)
    err_p = np.abs(plain.predict(genos[300:]) / y[300:] - 1)
    assert np.mean(err_r) < 0.5 * np.mean(err_p)


def test_cross_validation_picks_a_lambda(space, genos) -> None:
    rng = np.random.default_rng(1)
    y = _labels(space, genos[:150]) * rng.lognormal(0, 0.02, 150)
    model = KernelCostModel.fit(space, genos[:150], y, "t", lambdas=(0.1, 10.0, 1e4))
    cv = model.info["cv_mean_abs_rel_err"]
    assert set(cv) == {"0.1", "10", "10000"}
    assert model.info["lambda"] == float(min(cv, key=cv.get))
    assert cv["10000"] > min(cv.values())


def test_additive_over_blocks(space, genos, fitted) -> None:
    """predict == bias + sum of block_cost in context + classifier (what compiling needs)."""
    for g in genos[:10]:
        spec = space.decode(g)
        total, res, cin, pooled = fitted.bias, 128, 3, False
        for b in spec.blocks:
            total += fitted.block_cost(b, res, cin, pooled=pooled)
            _, res, cin, pooled = kernels_of_blocks([b], res, cin, pooled=pooled)
        total += fitted.classifier_cost(cin)
        assert math.isclose(total, fitted.predict_one(g), rel_tol=1e-12)
        parts = fitted.kernel_costs(spec)
        assert math.isclose(fitted.bias + sum(c for _, c in parts), total, rel_tol=1e-12)


def _gap(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(np.asarray(a) / np.asarray(b) - 1)))


def test_compiled_linear_equals_kernel_model(space, genos, fitted) -> None:
    lm = fitted.compile_linear()
    assert isinstance(lm, LinearCostModel) and lm.info["compiled_from"]["kind"] == "kernel"
    assert _gap(lm.predict(genos[200:260]), fitted.predict(genos[200:260])) < 1e-12
    # a broken compilation (every block priced as if its input had 3 channels) is caught
    broken = compile_additive(space, "cpu_fp32", lambda b, r, c: fitted.block_cost(b, r, 3),
                              lambda g: fitted.predict_one(g))
    assert _gap(broken.predict(genos[200:260]), fitted.predict(genos[200:260])) > 1e-3


def test_in_graph_equals_numpy(space, genos, fitted) -> None:
    import tensorflow as tf  # a dependency of mhzoo: never skipped

    from mhzoo.search.tunas.ingraph import InGraphCost

    lm = fitted.compile_linear()
    cost = InGraphCost({"cpu_fp32": lm})
    gs = genos[300:310]
    tf_ms = [float(cost([tf.constant(m, tf.float32) for m in masks_of(space, g)])[0])
             for g in gs]
    assert _gap(tf_ms, fitted.predict(gs)) < 1e-5  # float32 in-graph vs float64 numpy


def test_save_load_roundtrip_and_folder(tmp_path: Path, space, genos, fitted) -> None:
    p = fitted.save(tmp_path / "k.json")
    data = json.loads(p.read_text())
    assert (data["format"], data["kind"], data["basis_version"]) == ("mhzoo.costmodel",
                                                                     "kernel", 1)
    back = load_model(p, space=space, target="cpu_fp32")
    assert isinstance(back, KernelCostModel) and back.cpu == fitted.cpu
    assert np.array_equal(back.predict(genos[:20]), fitted.predict(genos[:20]))
    # a folder with the kernel model and its compiled linear: the search loads the linear one
    fitted.compile_linear().save(tmp_path / "lin.json")
    models = load_cost_models(tmp_path, space)
    assert list(models) == ["cpu_fp32"] and isinstance(models["cpu_fp32"], LinearCostModel)
    assert not list(tmp_path.glob(".*"))


@pytest.mark.parametrize("edit, match", [
    (lambda d: d.update(basis_version=0), "basis version 0.*refit"),
    (lambda d: d.pop("basis_version"), "basis version None"),
    (lambda d: d.update(coef=d["coef"][:-1]), "coef"),
    (lambda d: d["coef"].__setitem__(0, "x"), "coef"),
    (lambda d: d.update(bias="1.0"), "bias"),
    (lambda d: d["cpu"].update(l2_bytes=0), "positive integer"),
    (lambda d: d.update(input_size=True), "input_size"),
    (lambda d: d.update(columns=d["columns"][:1] * len(d["columns"])), "duplicate"),
    (lambda d: d.update(cpu=None), "machine must be an object"),
])
def test_load_refuses_bad_files(tmp_path: Path, fitted, edit, match) -> None:
    data = json.loads(json.dumps(fitted.to_dict()))
    edit(data)
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=match) as exc:
        load_model(p)
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("n, kw, match", [
    (30, dict(latency_ms=[1.0] * 5), "genotypes but"),
    (30, dict(latency_ms=[1.0] * 29 + [-1.0]), "finite and > 0"),
    (30, dict(folds=1), "folds"),
    (30, dict(lambdas=()), "lambdas"),
    (5, {}, "too few"),
])
def test_fit_rejects_bad_input(space, genos, n, kw, match) -> None:
    y = kw.pop("latency_ms", [1.0 + i for i in range(n)])
    with pytest.raises(ValueError, match=match):
        KernelCostModel.fit(space, genos[:n], y, "t", **kw)


def test_cli_fit_kernel_writes_compiled_and_record(tmp_path: Path, space, genos) -> None:
    y = _labels(space, genos[:120])
    csv = tmp_path / "d.csv"
    csv.write_text("genotype,cpu_fp32_ms\n" + "".join(f'"{g.to_string()}",{v:.6f}\n'
                                                    for g, v in zip(genos, y, strict=False)))
    out = tmp_path / "m" / "cpu_fp32.json"
    out.parent.mkdir()
    r = CliRunner().invoke(main, ["search", "costmodel", "fit", "--data", str(csv), "--target",
                                  "cpu_fp32", "--kind", "kernel", "--rows", ":100", "-o",
                                  str(out)])
    assert r.exit_code == 0, r.output
    rec = out.parent / "cpu_fp32.kernel.json"
    km, lm = load_model(rec), load_model(out)
    assert km.kind == "kernel" and lm.kind == "linear"
    assert lm.info["kernel_model"] == rec.name
    assert _gap(lm.predict(genos[100:120]), km.predict(genos[100:120])) < 1e-12
    assert list(load_cost_models(out.parent, space)) == ["cpu_fp32"]
    r = CliRunner().invoke(main, ["search", "costmodel", "fit", "--target", "cpu_fp32",
                                  "--kind", "kernel", "-o", str(tmp_path / "x.json")])
    assert r.exit_code == 2 and "needs --data" in r.output


def test_committed_cpu_models_reproduce_the_report() -> None:
    """benchmarks/data/costmodels: the search's models, each fitted on the first 1,000 rows of
    the dataset it names (the multi-pass re-collection, costmodel_multipass.md); on
    the other 200 they score what the reports say, and the cpu_fp32 one is its kernel record
    compiled."""
    from mhzoo.search.cost import load_dataset, quality

    repo = Path(__file__).resolve().parents[3]
    root = repo / "benchmarks" / "data"
    models = load_cost_models(root / "costmodels", "multi_hardware")
    assert set(models) == {"cpu_fp32", "cpu_int8"}
    km = load_model(root / "costmodels" / "multi_hardware_cpu_fp32_kernel.json")
    assert models["cpu_fp32"].info["compiled_from"]["kind"] == "kernel"
    for t, w10, tau in (("cpu_fp32", 99.0, 0.95), ("cpu_int8", 99.5, 0.97)):
        data = models[t].info["data"]
        assert data["rows"] == ":1000"
        held = load_dataset(repo / data["source"]).rows("1000:")
        if t == "cpu_fp32":
            assert data["source"].endswith("multi_hardware_cpu_latency_multipass.csv")
            assert _gap(models[t].predict(held.genotypes), km.predict(held.genotypes)) < 1e-12
        q = quality(held.y(t), models[t].predict(held.genotypes))
        assert q["within_10_pct"] >= w10 and q["kendall_tau"] >= tau, (t, q)
