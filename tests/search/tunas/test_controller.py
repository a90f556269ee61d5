"""The REINFORCE controller: sampling, hierarchical log-probability, warm-up, update, state."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from mhzoo.search import get_space  # noqa: E402
from mhzoo.search.space import Decision  # noqa: E402
from mhzoo.search.tunas.controller import Controller, rl_learning_rate, warmup_probability  # noqa: E402

# toy: d0 = op among 2; d1 = kernel among 3, active only when d0 chose 1; d2 = a width
TOY = [Decision("op", "op", ("skip", "ib")),
       Decision("kernel", "op", (3, 5, 7), parent=0, parent_choices=(1,)),
       Decision("filters", "filters", (16, 32))]


def _toy(**kw):
    kw.setdefault("total_steps", 100)
    return Controller(TOY, **kw)


def _set_logits(c, values):
    for v, x in zip(c.logits, values):
        v.assign(np.asarray(x, np.float32))


def _softmax(x):
    e = np.exp(np.asarray(x, float) - np.max(x))
    return e / e.sum()


LOGITS = ([0.3, -0.2], [0.5, -1.0, 0.1], [-0.4, 0.6])


def _reward(a):
    # any function of the architecture
    return {(0, 0): 0.1, (0, 1): 0.3}.get((a[0], a[2]), 0.2 + 0.1 * a[1] + 0.05 * a[2])


def test_reinforce_gradient_matches_analytic_expected_reward_gradient():
    c = _toy()
    _set_logits(c, LOGITS)
    p = [_softmax(x) for x in LOGITS]
    # enumerate the distinct architectures (d1 only matters when d0 = 1)
    archs = [(0, 0, f) for f in range(2)] + [(1, k, f) for k in range(3) for f in range(2)]
    est = [np.zeros(n) for n in (2, 3, 2)]
    for a in archs:
        prob = p[0][a[0]] * p[2][a[2]] * (p[1][a[1]] if a[0] == 1 else 1.0)
        grads = c.gradients(c.sample_from_indices(a), advantage=-_reward(a))
        for j in range(3):  # gradient of -(-R) log pi = R * grad log pi
            est[j] += prob * grads[j].numpy()
    # analytic gradient of E[R] = sum_a pi(a) R(a), differentiated by TF
    theta = [tf.Variable(np.asarray(x, np.float32)) for x in LOGITS]
    with tf.GradientTape() as tape:
        q = [tf.nn.softmax(t) for t in theta]
        expected = tf.add_n([
            q[0][a[0]] * q[2][a[2]] * (q[1][a[1]] if a[0] == 1 else 1.0) * _reward(a)
            for a in archs])
    exact = tape.gradient(expected, theta)
    for j in range(3):
        np.testing.assert_allclose(est[j], exact[j].numpy(), atol=1e-6)


def test_gradient_of_one_sample_is_advantage_times_score():
    c = _toy()
    _set_logits(c, LOGITS)
    g = c.gradients(c.sample_from_indices([1, 2, 0]), advantage=0.5)
    for j, a in enumerate([1, 2, 0]):
        score = np.eye(len(LOGITS[j]))[a] - _softmax(LOGITS[j])
        np.testing.assert_allclose(g[j].numpy(), -0.5 * score, atol=1e-6)


def test_inactive_decisions_do_not_enter_log_prob_or_entropy():
    c = _toy()
    _set_logits(c, LOGITS)
    s = c.sample_from_indices([0, 2, 1])  # d1 inactive: d0 chose skip
    lp = float(c.log_prob(s))
    want = math.log(_softmax(LOGITS[0])[0]) + math.log(_softmax(LOGITS[2])[1])
    assert lp == pytest.approx(want, abs=1e-5)
    assert c.active(s).numpy().tolist() == [1.0, 0.0, 1.0]
    c.logits[1].assign([5.0, -3.0, 2.0])  # changing the inactive logits changes nothing
    assert float(c.log_prob(s)) == pytest.approx(lp, abs=1e-6)
    assert np.all(c.gradients(s, 1.0)[1].numpy() == 0)
    h = [-(q * np.log(q)).sum() for q in (_softmax(LOGITS[0]), _softmax(LOGITS[2]))]
    assert float(c.entropy(s)) == pytest.approx(sum(h), abs=1e-5)
    # active when the parent chose the branch
    assert c.active(c.sample_from_indices([1, 0, 0])).numpy().tolist() == [1.0, 1.0, 1.0]


def test_samples_follow_the_softmax_and_differ_per_replica():
    c = _toy()
    _set_logits(c, LOGITS)
    many = Controller([Decision(f"d{i}", "op", ("a", "b")) for i in range(200)], total_steps=10,
                      op_warmup_fraction=0, filters_warmup_fraction=0)
    for v in many.logits:
        v.assign(LOGITS[0])
    n = 600
    counts = np.bincount(np.concatenate([many.sample(t).indices.numpy() for t in range(3)]),
                         minlength=2)
    p = _softmax(LOGITS[0])
    sigma = math.sqrt(n * p[0] * p[1])
    assert abs(counts[0] - n * p[0]) < 4 * sigma
    a = c.sample(7, replica_id=0)
    b = c.sample(7, replica_id=0)
    assert a.indices.numpy().tolist() == b.indices.numpy().tolist()  # deterministic
    big = Controller([Decision(f"d{i}", "op", (0, 1, 2, 3)) for i in range(40)], total_steps=10,
                     op_warmup_fraction=0, filters_warmup_fraction=0)
    r0, r1 = big.sample(3, 0).indices.numpy(), big.sample(3, 1).indices.numpy()
    assert (r0 != r1).sum() > 10  # each replica its own architecture


def test_warmup_masks_follow_the_schedule():
    n = 60
    decisions = [Decision(f"op{i}", "op", (0, 1, 2)) for i in range(n)] + \
        [Decision(f"f{i}", "filters", (64, 16, 32)) for i in range(n)]
    c = Controller(decisions, total_steps=100, delay_fraction=0.4, op_warmup_fraction=0.4,
                   filters_warmup_fraction=0.2)
    draw = tf.function(c.sample)
    for step, p_op, p_f in ((0, 1.0, 1.0), (10, 0.75, 0.5), (30, 0.25, 0.0), (60, 0.0, 0.0)):
        assert float(c.op_warmup_probability(step)) == pytest.approx(p_op)
        assert float(c.filters_warmup_probability(step)) == pytest.approx(p_f)
        n_op = n_f = 0
        for rep in range(5):
            s = draw(tf.constant(step, tf.int64), tf.constant(rep, tf.int64))
            rep_flags = s.replaced.numpy()
            masks = [m.numpy() for m in s.masks]
            for j in range(n):
                if rep_flags[j]:
                    np.testing.assert_allclose(masks[j], [1 / 3] * 3)
                else:
                    assert sorted(masks[j].tolist()) == [0.0, 0.0, 1.0]
            for j in range(n, 2 * n):
                if rep_flags[j]:
                    assert masks[j].tolist() == [1.0, 0.0, 0.0]  # widest choice (64)
            n_op += rep_flags[:n].sum()
            n_f += rep_flags[n:].sum()
        for count, p in ((n_op, p_op), (n_f, p_f)):
            sigma = math.sqrt(5 * n * p * (1 - p)) + 1e-9
            assert abs(count - 5 * n * p) <= 4 * sigma + 1e-6, (step, count, p)
    # log-prob correction: log p if replaced, else log(1 - p) + log p(a)
    s = c.sample(10, 0)
    flags = s.replaced.numpy()
    want = sum(math.log(0.75) if flags[j] else math.log(0.25) + math.log(1 / 3)
               for j in range(n))
    want += sum(math.log(0.5) if flags[j] else math.log(0.5) + math.log(1 / 3)
                for j in range(n, 2 * n))
    assert float(c.log_prob(s)) == pytest.approx(want, rel=1e-5)


def test_warmup_must_end_before_the_rl_delay():
    with pytest.raises(ValueError, match="warm-up"):
        _toy(delay_fraction=0.1, op_warmup_fraction=0.25)
    with pytest.raises(ValueError, match="total_steps"):
        _toy(total_steps=0)


def test_learning_rate_schedule():
    base, total = 0.01, 1000
    assert float(rl_learning_rate(0, total, base)) == 0.0
    assert float(rl_learning_rate(249, total, base)) == 0.0
    assert float(rl_learning_rate(250, total, base)) == pytest.approx(base)
    assert float(rl_learning_rate(625, total, base)) == pytest.approx(base * 10 ** 0.5, rel=1e-5)
    assert float(rl_learning_rate(1000, total, base)) == pytest.approx(10 * base, rel=1e-5)
    assert float(rl_learning_rate(500, total, base, delay_steps=500)) == pytest.approx(base)
    c = _toy(total_steps=100, delay_fraction=0.5, learning_rate=1e-3)
    assert float(c.learning_rate(49)) == 0.0
    assert float(c.learning_rate(100)) == pytest.approx(1e-2, rel=1e-5)
    assert float(warmup_probability(5, 0)) == 0.0


def test_update_baseline_adam_and_learning():
    c = _toy(total_steps=100, learning_rate=0.05, op_warmup_fraction=0,
             filters_warmup_fraction=0, delay_fraction=0)
    s = c.sample_from_indices([1, 0, 1])
    out = c.reinforce_step([s], [0.8], step=0)
    assert float(out["baseline"]) == pytest.approx(0.8)  # debiased: first value
    assert float(out["advantage"][0]) == pytest.approx(0.0, abs=1e-6)
    out = c.reinforce_step([s, c.sample_from_indices([0, 0, 0])], [0.2, 0.6], step=1)
    m = 0.95
    want = (m * 0.05 * 0.8 + 0.05 * 0.4) / (m * 0.05 + 0.05)
    assert float(out["baseline"]) == pytest.approx(want, rel=1e-5)
    # first Adam step with beta1 = 0 moves every nonzero-gradient logit by about lr
    c2 = _toy(total_steps=100, learning_rate=0.05, op_warmup_fraction=0,
              filters_warmup_fraction=0, delay_fraction=0)
    g = c2.gradients(s, 1.0)
    c2.apply_gradients(g, [x * x for x in g], step=0)
    for v, gj in zip(c2.logits, g):
        np.testing.assert_allclose(v.numpy(), -0.05 * np.sign(gj.numpy()), atol=1e-6)
    # REINFORCE learns a toy: reward 1 for (ib, k7), else 0
    c3 = _toy(total_steps=300, learning_rate=0.05, delay_fraction=0, op_warmup_fraction=0,
              filters_warmup_fraction=0)

    @tf.function
    def rl_step(t):
        samples = [c3.sample(t, r) for r in range(4)]
        rewards = tf.stack([tf.cast((s.indices[0] == 1) & (s.indices[1] == 2), tf.float32)
                            for s in samples])
        c3.reinforce_step(samples, rewards, step=t)

    for t in range(150):
        rl_step(tf.constant(t, tf.int64))
    assert c3.final_indices()[:2] == (1, 2)


def test_rl_delay_changes_no_controller_state():
    """During the delay (25 of 100 steps) reinforce_step leaves logits, Adam (second moments
    and step count) and the baseline as they are; the first RL step is Adam's step 1, with the
    bias correction of step 1 (a full ``lr`` move of every logit with a gradient)."""
    c = _toy(total_steps=100, learning_rate=0.05)
    assert c.delay_steps == 25
    s = c.sample_from_indices([1, 1, 1])
    other = c.sample_from_indices([0, 0, 0])
    for t in (0, 3, 24):
        c.reinforce_step([s, other], [1.0, 0.0], step=t)
        assert all(np.all(v.numpy() == 0) for v in c.logits)
        assert all(np.all(v.numpy() == 0) for v in c.adam_v)
        assert int(c.adam_t.numpy()) == 0
        assert float(c.baseline_num.numpy()) == 0.0 and float(c.baseline_den.numpy()) == 0.0
    # the same inside a compiled function with a tensor step
    tf.function(lambda t: c.reinforce_step([s, other], [1.0, 0.0], t))(
        tf.constant(10, tf.int64))
    assert int(c.adam_t.numpy()) == 0 and all(np.all(v.numpy() == 0) for v in c.logits)
    out = c.reinforce_step([s, other], [1.0, 0.0], step=25)
    assert int(c.adam_t.numpy()) == 1
    assert float(out["baseline"]) == pytest.approx(0.5)  # debiased: the first mean reward
    lr = float(c.learning_rate(25))
    assert lr == pytest.approx(0.05)
    moved = np.abs(c.logits[0].numpy())
    np.testing.assert_allclose(moved, [lr, lr], rtol=1e-4)  # step-1 bias correction


def test_entropy_term_raises_entropy():
    c = _toy(total_steps=10, learning_rate=0.1, delay_fraction=0, op_warmup_fraction=0,
             filters_warmup_fraction=0, entropy_weight=1.0)
    _set_logits(c, LOGITS)
    h0 = float(c.entropy())
    s = c.sample_from_indices([1, 0, 0])
    for t in range(5):
        c.reinforce_step([s], [0.5], step=t)  # advantage 0 after the first step
    assert float(c.entropy()) > h0


def test_state_checkpoints_and_final_genotype(tmp_path):
    space = get_space("multi_hardware", input_size=32, max_layers=2)
    c = Controller(space, total_steps=10, delay_fraction=0, op_warmup_fraction=0,
                   filters_warmup_fraction=0, learning_rate=0.1)
    for t in range(3):
        c.reinforce_step([c.sample(t, 0)], [0.1 * t], step=t)
    ckpt = tf.train.Checkpoint(controller=c)
    path = ckpt.save(str(tmp_path / "c"))
    before = [v.numpy().copy() for v in c.variables]
    c2 = Controller(space, total_steps=10)
    tf.train.Checkpoint(controller=c2).restore(path).assert_consumed()
    after = [v.numpy() for v in c2.variables]
    assert len(before) == len(after) == 2 * len(space.decisions) + 3
    for a, b in zip(sorted(before, key=lambda x: x.size), sorted(after, key=lambda x: x.size)):
        assert a.shape == b.shape
    assert c2.final_indices() == c.final_indices()
    assert float(c2.baseline()) == pytest.approx(float(c.baseline()))
    g = c2.final_genotype()
    assert g.indices == tuple(int(np.argmax(p)) for p in c.probabilities())
    assert space.decode(g).blocks  # a real architecture of the space


def test_controller_sampling_in_a_tf_function():
    c = _toy(total_steps=10)

    @tf.function
    def draw(step, rep):
        s = c.sample(step, rep)
        return s.indices, c.log_prob(s)

    i0, lp0 = draw(tf.constant(8, tf.int64), tf.constant(0))
    i1 = c.sample(8, 0).indices
    assert i0.numpy().tolist() == i1.numpy().tolist()
    assert np.isfinite(float(lp0))
    assert list(itertools.islice(c.final_indices(), 3)) == [0, 0, 0]


def test_batched_draws_equal_single_draws_and_closed_form_gradients_equal_the_tape():
    """sample_batch(step, ids) draws what sample(step, i) draws, row by row; the closed-form
    gradient of -log pi equals the tape's, also for warm-up-replaced and inactive decisions;
    log_prob_batch / entropy_batch equal the per-sample ones."""
    space = get_space("multi_hardware", max_layers=2)
    c = Controller(space, total_steps=40, delay_fraction=0.25, op_warmup_fraction=0.25,
                   filters_warmup_fraction=0.25, seed=5)
    rng = np.random.default_rng(0)
    for v in c.logits:
        v.assign(rng.normal(0, 1, v.shape).astype(np.float32))
    for step in (2, 7, 30):  # during both warm-ups (replacements), near their end, after
        ids = [0, 3, 11]
        batch = c.sample_batch(step, ids)
        grads = c.neg_log_prob_gradients(batch)
        lps = c.log_prob_batch(batch).numpy()
        ents = c.entropy_batch(batch).numpy()
        for row, i in enumerate(ids):
            one = c.sample(step, i)
            assert batch.indices[row].numpy().tolist() == one.indices.numpy().tolist()
            assert batch.replaced[row].numpy().tolist() == one.replaced.numpy().tolist()
            for j in range(len(c.sizes)):
                np.testing.assert_array_equal(batch.masks[j][row].numpy(), one.masks[j].numpy())
            tape = c.gradients(one, 1.0)
            for j in range(len(c.sizes)):
                np.testing.assert_allclose(grads[j][row].numpy(), tape[j].numpy(), atol=1e-6)
            assert lps[row] == pytest.approx(float(c.log_prob(one)), abs=1e-5)
            assert ents[row] == pytest.approx(float(c.entropy(one)), abs=1e-5)
        if step == 2:  # the case that matters: some draws replaced, some decisions inactive
            assert batch.replaced.numpy().any()
            assert (c.active_batch(batch).numpy() == 0).any()


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "8"])
def test_samples_per_step_must_be_a_positive_integer(bad):
    from mhzoo.search.tunas.config import get_search_preset

    with pytest.raises(ValueError, match="samples_per_step must be an integer >= 1") as e:
        get_search_preset("cpu-proxy").replace(samples_per_step=bad)
    assert "\n" not in str(e.value)


def test_cpu_proxy_preset_is_the_convergence_replays_choice():
    """issue 18: K 8, T 1,800, lr 1.2 per 256 (0.15 at batch 32), 64 validation images per
    sample, delay 25 %, op warm-up 10 %, filters warm-up 25 %, proxy widths rounded to 8,
    splits test 5,000 + search-validation 5,000 with split seed 0."""
    from mhzoo.search.tunas.config import get_search_preset

    cfg = get_search_preset("cpu-proxy")
    assert (cfg.samples_per_step, cfg.steps, cfg.global_batch, cfg.rl_batch_multiplier) == \
        (8, 1800, 32, 2)
    assert cfg.rl_learning_rate(32) == pytest.approx(0.15)
    assert (cfg.delay_fraction, cfg.op_warmup_fraction, cfg.filters_warmup_fraction) == \
        (0.25, 0.1, 0.25)
    assert cfg.proxy == {"input_size": 32, "stem_stride": 1, "width": 0.25, "width_divisor": 8}
    assert (cfg.shared.test, cfg.shared.search_valid, cfg.shared.split_seed) == (5000, 5000, 0)
    tpu = get_search_preset("imagenet-tpu")
    assert tpu.samples_per_step == 1 and tpu.shared.search_valid == 50046
    with pytest.raises(ValueError, match="must not outlast the RL delay"):
        cfg.replace(delay_fraction=0.05)
