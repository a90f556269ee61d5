"""Exact cost models of simulated targets: the linear model compiled from the shipped layer
tables equals ``simulate_spec`` on sampled genotypes (numpy and in-graph), a block's layers are
the spec's, a model of other target files or another ZigZag version is refused, the committed
models are current, and the CLI (fit --kind simulated, reference). Shipped tables only (no
ZigZag run)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from mhzoo.benchmarks.simulated import shipped_sim_targets, simulate_spec, spec_layers
from mhzoo.cli import main
from mhzoo.registry import get_spec
from mhzoo.search import get_space
from mhzoo.search.cost import LinearCostModel, load_model, masks_of
from mhzoo.search.cost.folder import load_cost_models, read_reference
from mhzoo.search.cost.simulated import (
    block_layers,
    check_simulated_model,
    simulated_cost_model,
)
from mhzoo.widths import scale_spec

ROOT = Path(__file__).resolve().parents[3]
COMMITTED = ROOT / "benchmarks" / "data" / "costmodels" / "simulated"


@pytest.fixture(scope="module")
def space():
    return get_space("multi_hardware")  # 224 px: the shipped tables' decoding


@pytest.fixture(scope="module")
def genos(space):
    rng = random.Random(7)
    return [space.sample(rng) for _ in range(12)]


@pytest.fixture(scope="module")
def models(space):
    return {t: simulated_cost_model(space, t, compute=False) for t in shipped_sim_targets()}


def _sim_ms(space, gs, target):
    return np.array([simulate_spec(space.decode(g), target, compute=False).ms for g in gs])


def test_shipped_targets_are_the_expected_ones() -> None:
    assert {"sim_edgetpu", "sim_npu"} <= set(shipped_sim_targets())


def test_compiled_model_equals_simulator(space, genos, models) -> None:
    for t, m in models.items():
        assert isinstance(m, LinearCostModel) and m.info["simulated"] is True
        sim = _sim_ms(space, genos, t)
        assert np.max(np.abs(m.predict(genos) / sim - 1)) < 1e-12, t
    # the targets disagree: the same genotypes do not get proportional latencies
    a, b = (models[t].predict(genos) for t in ("sim_edgetpu", "sim_npu"))
    assert np.ptp(a / b) > 0.01


def test_in_graph_equals_simulator(space, genos, models) -> None:
    import tensorflow as tf  # a dependency of mhzoo: never skipped

    from mhzoo.search.tunas.ingraph import InGraphCost

    cost = InGraphCost(models)
    sims = {t: _sim_ms(space, genos[:4], t) for t in models}
    for i, g in enumerate(genos[:4]):
        v = cost([tf.constant(m, tf.float32) for m in masks_of(space, g)]).numpy()
        for j, t in enumerate(cost.targets):
            assert abs(v[j] / sims[t][i] - 1) < 1e-5


def test_block_layers_are_the_specs_layers(space, genos) -> None:
    spec = space.decode(genos[0])
    whole = [lay.key for lay in spec_layers(spec, 224, None)]
    res, cin, keys = 224, 3, []
    from mhzoo.search.cost.lut import block_prior

    for b in spec.blocks:
        keys += [lay.key for lay in block_layers(b, res, cin, spec.padding)]
        _, _, res, cin = block_prior(b, res, cin)
    assert keys == whole
    # broken twin: a block's layers taken with the stem's input width are not the spec's
    bad = [lay.key for lay in block_layers(spec.blocks[1], 112, 3, spec.padding)]
    assert bad != [lay.key for lay in block_layers(spec.blocks[1], 112, spec.blocks[0].filters,
                                                   spec.padding)]


def test_stale_models_are_refused(tmp_path: Path, space, models) -> None:
    m = models["sim_edgetpu"]
    check_simulated_model(m)  # current: nothing
    for edit, match in ((lambda d: d["compiled_from"].update(zigzag_version="0.0"),
                         "ZigZag 0.0"),
                        (lambda d: d["compiled_from"]["sim_target"].update(target_sha256="x"),
                         "other target files")):
        data = json.loads(json.dumps(m.to_dict()))
        edit(data["info"])
        p = tmp_path / "sim.json"
        p.write_text(json.dumps(data))
        with pytest.raises(ValueError, match=match) as exc:
            load_cost_models(tmp_path, space)
        assert "\n" not in str(exc.value) and "refit" in str(exc.value)


def test_committed_models_are_current(space, models) -> None:
    loaded = load_cost_models(COMMITTED, space)  # also checks ZigZag version / target files
    assert set(loaded) == set(models)
    for t, m in loaded.items():
        assert np.allclose(m.weights, models[t].weights, rtol=1e-12, atol=0)
        assert abs(m.bias - models[t].bias) < 1e-9
    ref = read_reference(COMMITTED)
    v1 = scale_spec(get_spec("mobilenet_v1"), 1.0)
    for t in models:
        assert ref["factors_ms"][t] == pytest.approx(simulate_spec(v1, t, compute=False).ms,
                                                     rel=1e-12)


def test_cli_fit_simulated_and_reference(tmp_path: Path, space, genos) -> None:
    run = CliRunner().invoke
    out = tmp_path / "sim_npu.json"
    r = run(main, ["search", "costmodel", "fit", "--kind", "simulated", "--space",
                   "multi_hardware", "--target", "sim_npu", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "simulated" in r.output
    m = load_model(out)
    assert np.max(np.abs(m.predict(genos[:3]) / _sim_ms(space, genos[:3], "sim_npu") - 1)) \
        < 1e-12
    r = run(main, ["search", "costmodel", "reference", "--target", "sim_npu", "-o",
                   str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert "sim_npu (simulated)" in r.output
    v1 = scale_spec(get_spec("mobilenet_v1"), 1.0)
    assert read_reference(tmp_path)["factors_ms"]["sim_npu"] == pytest.approx(
        simulate_spec(v1, "sim_npu", compute=False).ms, rel=1e-12)
    r = run(main, ["search", "costmodel", "predict", "-m", str(out), genos[0].to_string()])
    assert r.exit_code == 0 and "sim_npu (simulated)" in r.output


@pytest.mark.parametrize("args, match", [
    (["--target", "cpu_fp32", "--space", "multi_hardware"], "not simulated"),
    (["--target", "sim_npu", "--space", "multi_hardware", "--data", "x.csv"], "no --data"),
    (["--target", "sim_npu"], "needs --space"),
    (["--target", "sim_nope", "--space", "multi_hardware"], "unknown simulated target"),
])
def test_cli_fit_simulated_errors(tmp_path: Path, args, match) -> None:
    r = CliRunner().invoke(main, ["search", "costmodel", "fit", "--kind", "simulated", "-o",
                                  str(tmp_path / "o.json"), *args])
    assert r.exit_code == 2, r.output
    assert match in r.output and "Traceback" not in r.output


def test_cli_reference_needs_db_for_measured_targets(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["search", "costmodel", "reference", "--target",
                                  "cpu_fp32,sim_npu", "-o", str(tmp_path)])
    assert r.exit_code == 2 and "need --db" in r.output
