"""Rewards: eq. 6-8, TuNAS mnas / mnas_hard, MN-Norm in-graph equal to the benchmark package."""

from __future__ import annotations

import pytest

tf = pytest.importorskip("tensorflow")

from mhzoo.benchmarks import mn_norm_avg, mn_norm_max  # noqa: E402
from mhzoo.search.tunas.rewards import CostObjective, make_reward, reward_from_cost  # noqa: E402

REF = {"cpu_float": 40.0, "cpu_int8": 20.0, "gpu": 8.0}
LAT = {"cpu_float": 30.0, "cpu_int8": 26.0, "gpu": 6.0}


def test_reward_forms():
    a = 0.7
    assert float(reward_from_cost(a, 60.0, 50.0)) == pytest.approx(0.7 - 0.07 * 0.2)
    assert float(reward_from_cost(a, 40.0, 50.0)) == pytest.approx(0.7 - 0.07 * 0.2)
    assert float(reward_from_cost(a, 50.0, 50.0, beta=-0.3)) == pytest.approx(0.7)
    assert float(reward_from_cost(a, 60.0, 50.0, kind="mnas")) == pytest.approx(
        0.7 * 1.2 ** -0.07, rel=1e-6)
    assert float(reward_from_cost(a, 40.0, 50.0, kind="mnas")) == pytest.approx(
        0.7 * 0.8 ** -0.07, rel=1e-6)
    assert float(reward_from_cost(a, 40.0, 50.0, kind="mnas_hard")) == pytest.approx(0.7)
    assert float(reward_from_cost(a, 60.0, 50.0, kind="mnas_hard")) == pytest.approx(
        0.7 * 1.2 ** -0.07, rel=1e-6)
    with pytest.raises(ValueError, match="reward kind"):
        reward_from_cost(a, 1.0, 1.0, kind="linear")
    with pytest.raises(ValueError, match="target"):
        reward_from_cost(a, 1.0, 0.0)


@pytest.mark.parametrize("weights", [None, {"gpu": 2.0}, {"cpu_int8": 0.0, "gpu": 0.5}])
def test_in_graph_mn_norm_equals_the_benchmark_definition(weights):
    for mode, ref_fn in (("avg", mn_norm_avg), ("max", mn_norm_max)):
        obj = CostObjective(mode, list(REF), factors=REF, weights=weights)
        got = float(obj(LAT))
        assert got == pytest.approx(ref_fn(LAT, REF, weights), rel=1e-6)
        # batched tensor form, target order
        t = tf.constant([[LAT[k] for k in REF], [REF[k] for k in REF]])
        both = obj(t).numpy()
        assert both[0] == pytest.approx(got, rel=1e-6)
        assert both[1] == pytest.approx(ref_fn(REF, REF, weights), rel=1e-6)
    with pytest.raises(ValueError, match="weight"):
        CostObjective("avg", list(REF), factors=REF, weights={"tpu": 1.0})


def test_make_reward_avg_max_single():
    calls = []

    def cost_fn(masks):
        calls.append(masks)
        return {k: tf.constant(v) * masks for k, v in LAT.items()}

    masks = tf.constant(1.0)
    avg = make_reward("avg", cost_fn, list(REF), reference_ms=REF)
    out = avg(0.6, masks)
    f = mn_norm_avg(LAT, REF)
    assert float(out.cost) == pytest.approx(f, rel=1e-6)
    assert float(out.reward) == pytest.approx(0.6 - 0.07 * abs(f - 1), rel=1e-6)
    assert set(out.latencies) == set(REF)
    mx = make_reward("max", cost_fn, list(REF), reference_ms=REF, beta=-0.1)
    f = mn_norm_max(LAT, REF)
    assert float(mx(0.6, masks).reward) == pytest.approx(0.6 - 0.1 * abs(f - 1), rel=1e-6)
    single = make_reward("single:gpu", cost_fn, list(REF), latency_target=5.0)
    out = single(0.5, masks)
    assert float(out.cost) == pytest.approx(6.0)
    assert float(out.reward) == pytest.approx(0.5 - 0.07 * 0.2, rel=1e-6)
    # L0 defaults to the reference latency on that target
    single = make_reward("single:cpu_float", cost_fn, list(REF), reference_ms=REF)
    assert float(single(0.5, masks).cost) == pytest.approx(30.0)
    assert single.objective.target == 40.0
    # the cost is never differentiated (REINFORCE)
    v = tf.Variable(1.0)
    with tf.GradientTape() as tape:
        r = avg(0.6, v * masks).reward
    assert tape.gradient(r, v) is None


def test_make_reward_rejects_bad_input():
    def cost_fn(m):
        return LAT

    with pytest.raises(ValueError, match="no cost model"):
        make_reward("single:dsp", cost_fn, list(REF), reference_ms=REF)
    with pytest.raises(ValueError, match="unknown reward"):
        make_reward("mean", cost_fn, list(REF), reference_ms=REF)
    with pytest.raises(ValueError, match="reference latency"):
        make_reward("avg", cost_fn, list(REF))
    with pytest.raises(ValueError, match="no reference latency"):
        make_reward("max", cost_fn, list(REF), reference_ms={"gpu": 1.0})
    with pytest.raises(ValueError, match="latency target"):
        make_reward("single:gpu", cost_fn, list(REF))
    bad = make_reward("avg", lambda m: {"gpu": 1.0}, list(REF), reference_ms=REF)
    with pytest.raises(ValueError, match="no latency for target"):
        bad(0.5, None)
