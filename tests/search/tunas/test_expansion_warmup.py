"""Expansion decisions are widths (TuNAS ``expansion_filters`` is FILTERS_TAG): filter warm-up
forces the widest expansion on its schedule, op warm-up leaves expansions alone."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf  # a dependency of mhzoo: never skipped

from mhzoo.search import get_space
from mhzoo.search.tunas.controller import Controller

SPACES = ("multi_hardware", "proxylessnas", "mobilenet_v3_like")


@pytest.mark.parametrize("name", SPACES)
def test_expansion_decisions_are_tagged_filters(name):
    space = get_space(name)
    exp = [d for d in space.decisions if d.path.endswith("/expansion")]
    assert exp and all(d.tag == "filters" for d in exp)
    others = [d for d in space.decisions if d.path.rsplit("/", 1)[-1] in ("op", "kernel", "se")]
    assert others and all(d.tag == "op" for d in others)


def test_filter_warmup_forces_the_widest_expansion_on_the_schedule():
    """multi_hardware, T 100, W_f 0.25, W_op 0.1: at step 0 every expansion mask is one-hot on
    ratio 6; at step 10 about half are; from step 25 none is; op warm-up never gives an
    expansion a uniform mask, and kernels (op) are uniform exactly when replaced."""
    space = get_space("multi_hardware")
    paths = [d.path for d in space.decisions]
    exp = [i for i, p in enumerate(paths) if p.endswith("/expansion")]
    kern = [i for i, p in enumerate(paths) if p.endswith("/kernel")]
    assert len(exp) == 20
    c = Controller(space, total_steps=100, delay_fraction=0.25, op_warmup_fraction=0.1,
                   filters_warmup_fraction=0.25, seed=3)
    widest = [space.decisions[i].choices.index(6) for i in exp]
    assert widest == [5] * 20
    draw = tf.function(c.sample)
    reps = 20
    for step, p_f in ((0, 1.0), (5, 0.8), (10, 0.6), (20, 0.2), (25, 0.0), (60, 0.0)):
        forced = 0
        for rep in range(reps):
            s = draw(tf.constant(step, tf.int64), tf.constant(rep, tf.int64))
            masks = [m.numpy() for m in s.masks]
            flags = s.replaced.numpy()
            idx = s.indices.numpy()
            for j in exp:
                m = masks[j]
                # always one-hot: a draw or the widest choice, never uniform (op warm-up)
                assert sorted(m.tolist()) == [0.0] * 5 + [1.0]
                if flags[j]:
                    assert m[5] == 1.0
                    forced += 1
                else:
                    assert m[idx[j]] == 1.0
            for j in kern:
                if flags[j]:
                    np.testing.assert_allclose(masks[j], [0.5, 0.5])
            if step >= 10:  # op warm-up (10 steps) is over
                assert not any(flags[j] for j in kern)
        share = forced / (reps * len(exp))
        if p_f in (0.0, 1.0):
            assert share == p_f
        else:  # 400 coins per step
            assert abs(share - p_f) < 0.1, (step, share)


def test_replaced_expansion_log_prob_uses_the_filters_schedule():
    """At step 12 op warm-up is over (p_op 0) and p_f = 0.52: expansions are still forced,
    and a forced expansion contributes ``log p_f`` to the log-probability."""
    space = get_space("multi_hardware")
    exp = [i for i, d in enumerate(space.decisions) if d.path.endswith("/expansion")]
    c = Controller(space, total_steps=100, delay_fraction=0.25, op_warmup_fraction=0.1,
                   filters_warmup_fraction=0.25, seed=0)
    s = c.sample(tf.constant(12, tf.int64), 0)
    flags = s.replaced.numpy()
    assert flags[exp].sum() > 0
    # change only the logits of a forced, active expansion: the log-probability must not move
    act = c.active(s).numpy()
    j = next(k for k in exp if flags[k] and act[k] > 0)
    before = float(c.log_prob(s))
    c.logits[j].assign(np.arange(6, dtype=np.float32))
    assert float(c.log_prob(s)) == pytest.approx(before, abs=1e-5)
