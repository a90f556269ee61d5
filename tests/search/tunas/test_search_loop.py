"""The search loop: latency-only sanity (eq. 7 / 8), two logical CPU devices against the same
step by hand, SIGKILL then resume, and the result file that ``mhzoo.build`` reads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mhzoo.search import get_space

#: the reduced space of these tests: one layer per stage keeps the supernet's trace short
SPACE = {"input_size": 32, "width": 0.25, "max_layers": 1}
ENV = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2"}


@pytest.mark.parametrize("mode", ["avg", "max"])
def test_latency_only_search_lands_on_the_mn_norm_target(mode, tmp_path, write_cost_models):
    """Accuracy held constant: the argmax architecture's predicted f is within 3% of T."""
    from mhzoo.search.cost import MultiHardwareCost
    from mhzoo.search.cost.folder import load_cost_models
    from mhzoo.search.tunas.ingraph import InGraphCost
    from mhzoo.search.tunas.rewards import make_reward
    from mhzoo.search.tunas.step import controller_only_search

    space = get_space("multi_hardware", max_layers=1)  # 224 px: the deployment decoding
    factors = write_cost_models(tmp_path, space, n=160)
    models = load_cost_models(tmp_path, space)
    cost = InGraphCost(models)
    multi = MultiHardwareCost(list(models.values()), factors)
    uniform = multi.predict([space.sample(s) for s in range(200)])
    values = [r[f"mn_norm_{mode}"] for r in uniform]
    assert min(values) < 0.7 and max(values) > 1.4  # both targets are inside the space
    for target in (0.8, 1.2):
        reward = make_reward(mode, cost, list(models),
                             reference_ms={t: v * target for t, v in factors.items()})
        ctrl = controller_only_search(space, reward, steps=600, samples_per_step=4,
                                      learning_rate=0.1, seed=1)
        f = multi.predict([ctrl.final_genotype()])[0][f"mn_norm_{mode}"]
        assert abs(f / target - 1) <= 0.03, (mode, target, f)


TWO_DEVICES = r"""
import json, sys
import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
tf.config.experimental.enable_op_determinism()
import keras
from mhzoo.search import get_space
from mhzoo.search.cost.folder import load_cost_models, read_reference
from mhzoo.search.tunas.config import get_search_preset
from mhzoo.search.tunas.ingraph import InGraphCost
from mhzoo.search.tunas.rewards import make_reward
from mhzoo.search.tunas.step import SearchStep

folder = sys.argv[1]
space = get_space("multi_hardware", input_size=32, width=0.25, max_layers=1)
factors = read_reference(folder)["factors_ms"]
models = load_cost_models(folder, space)
proxy = space.variant(stem_stride=1)
K = 2  # architectures per replica and step
cfg = get_search_preset("cpu-proxy").replace(
    steps=4, global_batch=8, rl_batch_multiplier=2, samples_per_step=K, delay_fraction=0.0,
    op_warmup_fraction=0.0, filters_warmup_fraction=0.0,
    rl_lr_per_256=20.0)  # the RL step acts at step 0
cost = InGraphCost(models)
reward = make_reward("max", cost, list(models), reference_ms=factors)

def make(strategy):
    keras.utils.set_random_seed(0)
    return SearchStep(proxy, cost, reward, cfg, strategy, num_classes=10, global_batch=8,
                      total_steps=4, steps_per_epoch=2, seed=7)

two = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
a = make(two)
b = make(tf.distribute.OneDeviceStrategy("/cpu:0"))
for va, vb in zip(a.variables, b.variables):
    vb.assign(va.numpy())
rng = np.random.default_rng(3)
x = rng.uniform(0, 255, (2, 4, 32, 32, 3)).astype(np.float32)
y = rng.integers(0, 10, (2, 4)).astype(np.int32)
xv = rng.uniform(0, 255, (2, 8 * K, 32, 32, 3)).astype(np.float32)  # K chunks of 2 x 4
yv = rng.integers(0, 10, (2, 8 * K)).astype(np.int32)
dist = [two.experimental_distribute_values_from_function(
    lambda ctx, v=v: tf.constant(v[ctx.replica_id_in_sync_group])) for v in (x, y, xv, yv)]
m = a.run_step(*dist)

# the same step by hand, on one device: replica r samples r * K + k (k < K), trains on its
# first one (summed gradients, one update), rewards sample k on chunk k of its validation batch
samples = [b.controller.sample(0, i) for i in range(2 * K)]
total = None
for r in range(2):
    s = samples[r * K]
    with tf.GradientTape() as tape:
        logits = b.supernet(x[r], s.masks, training=True)
        ce = keras.losses.categorical_crossentropy(tf.one_hot(y[r], 10), logits,
                                                   from_logits=True, label_smoothing=0.1)
        loss = tf.reduce_sum(ce) / 8.0
    grads = tape.gradient(loss, b.variables)
    out = []
    for g, v, dec in zip(grads, b.variables, b.decayed):
        g = tf.zeros_like(v) if g is None else tf.convert_to_tensor(g)
        if dec:
            g = g + cfg.shared.weight_decay / 2 * v * tf.cast(g != 0, g.dtype)
        out.append(g)
    total = out if total is None else [t + g for t, g in zip(total, out)]
b.optimizer.apply_gradients(zip(total, b.variables))
rewards, accs = [], []
for i, s in enumerate(samples):
    r, k = divmod(i, K)
    chunk = slice(8 * k, 8 * (k + 1))
    pred = tf.argmax(b.supernet(xv[r][chunk], s.masks, training=False), -1,
                     output_type=tf.int32)
    acc = float(np.mean(pred.numpy() == yv[r][chunk]))
    accs.append(acc)
    rewards.append(float(reward(acc, s.masks).reward))
b.controller.reinforce_step(samples, rewards, 0)

wdiff = max(float(np.max(np.abs(va.numpy() - vb.numpy()))) for va, vb in zip(a.variables,
                                                                               b.variables))
ldiff = max(float(np.max(np.abs(la.numpy() - lb.numpy())))
            for la, lb in zip(a.controller.logits, b.controller.logits))
moved = max(float(np.max(np.abs(lb.numpy()))) for lb in b.controller.logits)
print(json.dumps({
    "indices": m["indices"].tolist(), "hand_indices": [s.indices.numpy().tolist()
                                                      for s in samples],
    "rewards": m["rewards"].tolist(), "hand_rewards": rewards,
    "accuracies": m["accuracies"].tolist(), "hand_accuracies": accs,
    "baseline": float(m["baseline"]), "hand_baseline": float(b.controller.baseline()),
    "weight_diff": wdiff, "logit_diff": ldiff, "logits_moved": moved,
    "replicas": two.num_replicas_in_sync}))
"""


def test_two_logical_cpu_devices_match_the_step_by_hand(tmp_path, write_cost_models):
    write_cost_models(tmp_path / "cm", get_space("multi_hardware", **SPACE), n=60)
    proc = subprocess.run([sys.executable, "-c", TWO_DEVICES, str(tmp_path / "cm")],
                          capture_output=True, text=True, env=ENV, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    assert r["replicas"] == 2
    assert r["indices"] == r["hand_indices"]
    assert len(r["indices"]) == 4  # 2 replicas x K 2
    assert len({tuple(i) for i in r["indices"]}) == 4  # every sample is its own path
    assert r["accuracies"] == pytest.approx(r["hand_accuracies"], abs=1e-6)
    assert r["rewards"] == pytest.approx(r["hand_rewards"], abs=1e-5)
    assert r["baseline"] == pytest.approx(r["hand_baseline"], abs=1e-6)
    assert r["logits_moved"] > 1e-3  # the RL step did something ...
    assert r["logit_diff"] < 1e-5  # ... and the same thing
    assert r["weight_diff"] < 1e-5, r["weight_diff"]


KILLED = r"""
import os, signal, sys
from mhzoo.search.tunas.loop import run_search

data, cm = sys.argv[1], sys.argv[2]
jobs = [(out, int(kill_at)) for out, kill_at in zip(sys.argv[3::2], sys.argv[4::2])]

for out, kill_at in jobs:  # one process runs its searches one after the other
    log = out + ".steps"

    def on_step(step, log=log, kill_at=kill_at):
        with open(log, "a") as f:
            f.write(f"{os.getpid()} {step}\n")
        if step == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    run_search(space="multi_hardware", space_options={"max_layers": 1}, reward="max",
               cost_models=cm, data=data, out_dir=out, seed=3,
               overrides={"steps": 6, "global_batch": 8, "rl_batch_multiplier": 2,
                          "checkpoint_every": 2, "log_every": 1, "delay_fraction": 0.34,
                          "op_warmup_fraction": 0.17, "filters_warmup_fraction": 0.17,
                          "rl_lr_per_256": 20.0, "proxy": {"stem_stride": 1, "width": 0.25},
                          "shared": {"held_out": 100}},
               limit_train=32, limit_held_out=16, progress=False, plots=True,
               deterministic=True, on_step=on_step)
"""


def _search(data, cm, *jobs):
    """Searches ``(run folder, kill at step or -1)`` run in order in one subprocess."""
    args = [str(a) for job in jobs for a in job]
    return subprocess.run([sys.executable, "-c", KILLED, str(data), str(cm), *args],
                          capture_output=True, text=True, env=ENV, timeout=1800)


def _steps(out):
    rows = [ln.split() for ln in Path(str(out) + ".steps").read_text().splitlines()]
    pids = list(dict.fromkeys(r[0] for r in rows))
    return [[int(r[1]) for r in rows if r[0] == p] for p in pids]


def test_sigkill_mid_search_resumes_and_equals_an_uninterrupted_search(shared_data, tmp_path,
                                                                      write_cost_models):
    import mhzoo
    from mhzoo.search.result import read_result

    data = shared_data / "cifar10"
    cm = tmp_path / "cm"
    write_cost_models(cm, get_space("multi_hardware", **SPACE), n=60)
    killed, straight = tmp_path / "killed", tmp_path / "straight"
    # one process: the uninterrupted search, then the same search killed after step 5 (two
    # processes instead of three: the test's cost is mostly TensorFlow start-up and tracing)
    first = _search(data, cm, (straight, -1), (killed, 5))
    assert first.returncode == -9, first.stderr[-3000:]
    assert (straight / "search_result.json").is_file()
    assert sorted(p.name for p in (killed / "checkpoints").glob("ckpt-*.index")) == \
        ["ckpt-2.index", "ckpt-4.index"]
    assert not (killed / "search_result.json").exists()
    second = _search(data, cm, (killed, -1))
    assert second.returncode == 0, second.stderr[-3000:]
    assert _steps(killed) == [[1, 2, 3, 4, 5], [5, 6]]  # resumed after step 4
    a, b = read_result(killed), read_result(straight)
    assert a["genotype"] == b["genotype"] and a["spec"] == b["spec"]
    assert a["probabilities"] == b["probabilities"]
    moved = max(abs(p - 1 / len(d["probabilities"])) for d in b["probabilities"]
                for p in d["probabilities"])
    assert moved > 1e-3  # the controller learned something in the RL steps
    hist_a = json.loads((killed / "history.json").read_text())
    hist_b = json.loads((straight / "history.json").read_text())
    assert [h["step"] for h in hist_a] == list(range(1, 7))
    for ha, hb in zip(hist_a, hist_b):
        assert ha["reward"] == pytest.approx(hb["reward"], abs=1e-6)
    # the result is a spec file: mhzoo.build takes it as it is (the deployment decoding)
    res = straight / "search_result.json"
    model = mhzoo.build(str(res), input_shape=(32, 32, 3), num_classes=10)
    assert model.arch_spec.blocks == mhzoo.ArchSpec.from_dict(b["spec"]).blocks
    assert b["predicted"]["mn_norm_max"] > 0 and set(b["predicted"]["latency_ms"]) == {
        "cpu_fp32", "cpu_int8"}
    assert b["space"]["options"]["stem_stride"] == 2  # deployment decoding
    assert b["proxy_genotype"]["options"]["stem_stride"] == 1  # proxy decoding
    assert (straight / "probabilities.png").stat().st_size > 1000
    assert (straight / "architecture.png").stat().st_size > 1000
    assert (straight / "convergence.png").stat().st_size > 1000
    events = list((straight / "tensorboard").glob("events.*"))
    assert events
    # the delay (2 of 6 steps) is train-only: no reward, no baseline; RL steps have them
    assert [h["reward"] is None for h in hist_b] == [True, True, False, False, False, False]
    assert all(h["baseline"] is None for h in hist_b[:2])
    assert all(h["baseline"] is not None and h["rl_lr"] > 0 for h in hist_b[2:])
    assert all(h["loss"] is not None and "mean_top_active" in h for h in hist_b)
    # the splits: recorded, and the test split apart from what the search read
    sp = b["splits"]
    assert sp["rule"] == "mhzoo.splits/v1" and b["run"]["splits"] == sp
    assert (sp["test"], sp["search_valid"]) == (100, 5000)
    # the verdict with its thresholds
    conv = b["convergence"]
    assert isinstance(conv["converged"], bool)
    assert conv["thresholds"]["mean_top_active"] == 0.9
    assert conv["thresholds"]["argmax_rel_err"] == 0.05
    assert b["search"]["samples_per_step"] == 8
    # TensorBoard: convergence scalars and per-decision top / entropy every log_every steps
    import tensorflow as tf

    tags = set()
    for e in events:
        for ev in tf.compat.v1.train.summary_iterator(str(e)):
            tags.update(v.tag for v in ev.summary.value)
    assert {"convergence/mean_top_active", "convergence/argmax_cost",
            "convergence/samples_cost_mean", "reward", "baseline"} <= tags
    paths = [d["path"] for d in b["probabilities"]]
    assert {f"top/{p}" for p in paths} <= tags and {f"entropy/{p}" for p in paths} <= tags
