"""tf.distribute: one step on two replicas equals one step on one replica (same global batch).

Logical CPU devices must be configured before TensorFlow initialises its runtime, so the check
runs in a fresh interpreter. It runs in float64: Keras' synchronized batch norm computes the
variance as E(x^2) - E(x)^2 (one all-reduce pass), which in float32 differs from the one-replica
two-pass variance by rounding (~1e-3 relative on a first step at the proxy's learning rate); in
float64 the step logic itself (loss / global batch, L2 / replicas, gradient all-reduce, split of
the global batch) must agree to 1e-5.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

SCRIPT = r"""
import json, sys
import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
tf.config.experimental.enable_op_determinism()

import keras

keras.config.set_dtype_policy("float64")
from mhzoo.search.training import data as D
from mhzoo.search.training.loop import TrainStep
from mhzoo.search.training.modeling import build_training_model
from mhzoo.search.training.recipes import get_preset
from mhzoo.variables import assign_named_weights, named_weights

source = D.open_data(sys.argv[1])
# dropout off (masks differ per replica), EMA off, plain L2 + label smoothing + momentum SGD
recipe = get_preset("cifar10-proxy").replace(global_batch=16, dropout=0.0, ema_decay=0.0)
start = None
results = {}
for name, strategy in (("one", tf.distribute.OneDeviceStrategy("/cpu:0")),
                       ("two", tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))):
    with strategy.scope():
        kw = dict(image_size=32, num_classes=10, dropout=0.0, stride_plan="proxy32", width=0.25,
                  sync_bn=True)
        model = build_training_model("multi_max", **kw)
        twin = build_training_model("multi_max", **kw)
    if start is None:
        start = named_weights(model)
    assign_named_weights(model, start)
    step = TrainStep(model, twin, recipe, strategy, global_batch=16, steps_per_epoch=4,
                     total_steps=8)
    ds = D.distribute(strategy, source, global_batch=16, mask=None, training=True, seed=3,
                      image_size=32, augmentation="small", limit=64, batches_per_epoch=4)
    out = step.train_step(iter(ds))  # one step
    results[name] = (named_weights(model), out, strategy.num_replicas_in_sync)
w1, o1, r1 = results["one"]
w2, o2, r2 = results["two"]
diff = max(float(np.max(np.abs(w1[k] - w2[k]))) for k in w1)
worst = max(w1, key=lambda k: float(np.max(np.abs(w1[k] - w2[k]))))
moved = max(float(np.max(np.abs(w1[k] - start[k]))) for k in w1)
print(json.dumps({"diff": diff, "worst": worst, "moved": moved, "replicas": [r1, r2],
                  "loss": [o1["loss"], o2["loss"]], "count": [o1["count"], o2["count"]]}))
"""


def test_two_replicas_equal_one(shared_dir):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(shared_dir / "data" / "cifar10")],
                          capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["replicas"] == [1, 2]
    assert res["count"] == [16, 16]
    assert res["moved"] > 1e-3  # the steps changed the weights
    assert abs(res["loss"][0] - res["loss"][1]) < 1e-4 * max(1.0, abs(res["loss"][0]))
    assert res["diff"] < 1e-5, res
