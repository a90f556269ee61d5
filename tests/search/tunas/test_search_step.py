"""The compiled search step: the RL delay is train-only (no validation batch read, no
controller state changed) and the first RL step starts Adam; K architectures per step are
trained on the first and rewarded on their own validation chunk."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf  # a dependency of mhzoo: never skipped

from mhzoo.search import get_space

SPACE = {"input_size": 32, "width": 0.25, "max_layers": 1}


def test_delay_steps_train_only_and_the_first_rl_step_starts_the_controller(tmp_path,
                                                                          write_cost_models):
    import keras

    from mhzoo.search.cost.folder import load_cost_models, read_reference
    from mhzoo.search.tunas.config import get_search_preset
    from mhzoo.search.tunas.ingraph import InGraphCost
    from mhzoo.search.tunas.rewards import make_reward
    from mhzoo.search.tunas.step import SearchStep

    space = get_space("multi_hardware", **SPACE)
    write_cost_models(tmp_path, space, n=40)
    models = load_cost_models(tmp_path, space)
    factors = read_reference(tmp_path)["factors_ms"]
    cost = InGraphCost(models)
    reward = make_reward("max", cost, list(models), reference_ms=factors)
    k = 3
    cfg = get_search_preset("cpu-proxy").replace(
        steps=4, global_batch=4, rl_batch_multiplier=2, samples_per_step=k,
        delay_fraction=0.5, op_warmup_fraction=0.25, filters_warmup_fraction=0.5,
        rl_lr_per_256=20.0)
    keras.utils.set_random_seed(0)
    s = SearchStep(space.variant(stem_stride=1), cost, reward, cfg,
                   tf.distribute.get_strategy(), num_classes=10, global_batch=4,
                   total_steps=4, steps_per_epoch=2, seed=1)
    assert s.delay_steps == 2 and s.valid_batch() == k * 2 * 4
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (4, 32, 32, 3)).astype(np.float32)
    y = rng.integers(0, 10, 4).astype(np.int32)
    ctrl = s.controller
    w0 = [v.numpy().copy() for v in s.variables]
    for step in range(2):  # the delay: no validation batch needed, nothing of the controller
        m = s.run_step(x, y)
        assert np.isnan(m["reward"]) and np.isnan(m["accuracy"]) and m["rl_lr"] == 0.0
        assert np.isfinite(m["loss"]) and np.isfinite(m["cost"])
        assert m["indices"].shape == (1, len(space.decisions))  # the one training path
        assert all(np.all(v.numpy() == 0) for v in ctrl.logits)
        assert all(np.all(v.numpy() == 0) for v in ctrl.adam_v)
        assert int(ctrl.adam_t.numpy()) == 0 and float(ctrl.baseline_den.numpy()) == 0.0
        assert int(s.step.numpy()) == step + 1
    assert any(np.any(v.numpy() != w) for v, w in zip(s.variables, w0))  # weights trained
    with pytest.raises(ValueError, match="needs the validation batch"):
        s.run_step(x, y)
    xv = rng.uniform(0, 255, (s.valid_batch(), 32, 32, 3)).astype(np.float32)
    yv = rng.integers(0, 10, s.valid_batch()).astype(np.int32)
    yv[-3:] = -1  # padding labels do not count
    m = s.run_step(x, y, xv, yv)
    assert m["rewards"].shape == (k,) and m["accuracies"].shape == (k,)
    assert m["indices"].shape == (k, len(space.decisions))
    assert len({tuple(r) for r in m["indices"]}) == k  # K distinct architectures
    assert int(ctrl.adam_t.numpy()) == 1  # Adam's first step: the first RL step
    assert float(m["baseline"]) == pytest.approx(float(np.mean(m["rewards"])), abs=1e-6)
    assert max(float(np.max(np.abs(v.numpy()))) for v in ctrl.logits) > 1e-3
    # sample k's accuracy is its path's on chunk k of the validation batch (after the update)
    chunk = s.valid_batch() // k
    for i in range(k):
        masks = [tf.one_hot(int(a), len(d.choices)) for a, d in
                 zip(m["indices"][i], space.decisions)]
        logits = s.supernet(xv[i * chunk:(i + 1) * chunk], masks, training=False).numpy()
        keep = yv[i * chunk:(i + 1) * chunk] >= 0
        want = float(np.mean(logits.argmax(-1)[keep] == yv[i * chunk:(i + 1) * chunk][keep]))
        # the weights have not moved since the forward: the RL step trains before validating
        assert m["accuracies"][i] == pytest.approx(want, abs=1e-6)
