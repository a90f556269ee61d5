"""Supernet train step vs a standalone train step of the space's largest child (issue 11).

Both steps do the same work: forward with ``training=True`` on the same batch, softmax
cross-entropy, gradients, one SGD-with-momentum update, compiled with ``tf.function``. The
supernet runs (a) the largest child's path, its one-hot masks fed as an input tensor (so the
graph is the general one, not folded to that path) and (b) a fresh uniformly sampled path every
step (the search's situation). The largest child is the genotype with the most MAdds found by a
greedy coordinate ascent from the widest choices. Target: ratio (a) <= 1.5.

    python benchmarks/perf/supernet_step.py --space multi_hardware --input-size 32 \
        --batch 32 --steps 20 [--max-layers 2 --width 0.5] [--out results/supernet_step.md]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def largest_genotype(space, input_size: int):
    """Greedy coordinate ascent on MAdds from the widest (largest numeric) choices."""
    from mhzoo.profiler import profile

    def madds(idx):
        return profile(space.decode(idx), 1.0, input_size).madds

    idx = []
    for d in space.decisions:
        nums = [c if isinstance(c, int | float) and not isinstance(c, bool) else None
                for c in d.choices]
        idx.append(max(range(d.size), key=lambda i: (nums[i] is not None, nums[i] or 0))
                   if any(n is not None for n in nums) else 0)
    best = madds(idx)
    for j, d in enumerate(space.decisions):
        for c in range(d.size):
            trial = idx.copy()
            trial[j] = c
            m = madds(trial)
            if m > best:
                best, idx = m, trial
    return space.genotype(idx), best


def _timed(step, args_fn, steps: int) -> tuple[float, float]:
    """(first call incl. tracing, median seconds of the following ``steps`` calls)."""
    t = time.perf_counter()
    step(*args_fn(0))
    first = time.perf_counter() - t
    times = []
    for i in range(steps):
        a = args_fn(i + 1)
        t = time.perf_counter()
        out = step(*a)
        float(out)  # wait for the result
        times.append(time.perf_counter() - t)
    times.sort()
    return first, times[len(times) // 2]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--space", default="multi_hardware")
    p.add_argument("--input-size", type=int, default=32)
    p.add_argument("--width", type=float, default=None)
    p.add_argument("--max-layers", type=int, default=None)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--fused-bn", action="store_true", help="supernet with fused batch norm")
    p.add_argument("--out", type=Path, default=None, help="also write a markdown report here")
    a = p.parse_args(argv)

    import keras
    import numpy as np
    import tensorflow as tf

    from mhzoo.builder import build
    from mhzoo.search import get_space
    from mhzoo.search.tunas.supernet import Supernet

    opts = {"input_size": a.input_size}
    if a.width is not None:
        opts["width"] = a.width
    if a.max_layers is not None:
        opts["max_layers"] = a.max_layers
    space = get_space(a.space, **opts)
    g, madds = largest_genotype(space, a.input_size)
    rng = np.random.default_rng(0)
    x = tf.constant(rng.uniform(0, 255, (a.batch, a.input_size, a.input_size, 3)), tf.float32)
    y = tf.constant(rng.integers(0, a.classes, a.batch))

    def loss_of(logits):
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))

    net = Supernet(space, num_classes=a.classes, fused_batch_norm=a.fused_bn)
    s_opt = keras.optimizers.SGD(0.01, momentum=0.9)

    @tf.function
    def super_step(flat):
        with tf.GradientTape() as tape:
            loss = loss_of(net(x, flat, training=True))
        grads = tape.gradient(loss, net.trainable_variables)
        s_opt.apply_gradients(zip(grads, net.trainable_variables))
        return loss

    child = build(space.decode(g), input_shape=(a.input_size, a.input_size, 3),
                  num_classes=a.classes, classifier_activation=None, dropout_rate=0.0)
    c_opt = keras.optimizers.SGD(0.01, momentum=0.9)

    @tf.function
    def child_step():
        with tf.GradientTape() as tape:
            loss = loss_of(child(x, training=True))
        grads = tape.gradient(loss, child.trainable_variables)
        c_opt.apply_gradients(zip(grads, child.trainable_variables))
        return loss

    def flat_of(genotype):
        return tf.concat(net.masks_of(genotype), 0)

    largest = flat_of(g)
    samples = [flat_of(space.sample(i)) for i in range(a.steps + 1)]
    c_first, c_med = _timed(child_step, lambda i: (), a.steps)
    s_first, s_med = _timed(super_step, lambda i: (largest,), a.steps)
    _, r_med = _timed(super_step, lambda i: (samples[i],), a.steps)
    res = {
        "space": a.space, "options": space.options, "batch": a.batch,
        "largest_child": g.to_string(), "largest_child_madds_m": round(madds / 1e6, 1),
        "supernet_params_m": round(sum(int(np.prod(v.shape)) for v in net.trainable_variables)
                                   / 1e6, 2),
        "child_params_m": round(sum(int(np.prod(v.shape)) for v in child.trainable_variables)
                                / 1e6, 2),
        "child_step_s": round(c_med, 4), "supernet_largest_path_step_s": round(s_med, 4),
        "supernet_sampled_path_step_s": round(r_med, 4),
        "ratio_largest_path": round(s_med / c_med, 3),
        "ratio_sampled_path": round(r_med / c_med, 3),
        "first_call_s": {"child": round(c_first, 1), "supernet": round(s_first, 1)},
        "fused_bn": a.fused_bn, "load_average": list(os.getloadavg()),
    }
    print(json.dumps(res, indent=1, default=str))
    if a.out is not None:
        from mhzoo.atomic import atomic_write_text

        lines = ["# Supernet step vs largest child step", "",
                 f"`python benchmarks/perf/supernet_step.py {' '.join(argv or sys.argv[1:])}`",
                 "", "```json", json.dumps(res, indent=1, default=str), "```", "",
                 f"Ratio (supernet on the largest path / largest child): "
                 f"**{res['ratio_largest_path']}** (target <= 1.5).", ""]
        atomic_write_text(a.out, "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
