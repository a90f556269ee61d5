"""The compiled TuNAS search step: supernet, controller, optimizer and one ``tf.distribute`` step
(:class:`SearchStep`), and the controller-only search (:func:`controller_only_search`).

One global step (search-algorithm.md section 2.3), compiled as one ``tf.function`` around
``strategy.run``:

1. every replica samples its own architecture (``Controller.sample(step, replica_id)``);
2. shared weights: the replica's training batch through the masked supernet
   (``training=True``), softmax cross-entropy with label smoothing, summed over the replica
   batch and divided by the *global* batch; weight decay ``wd / 2 * |w|^2`` only on weights of
   the sampled path (a weight is on the path where the loss gradient reaches it: untaken
   branches and masked channels get exactly zero gradient, so their decay is skipped; the
   decay of every replica is divided by the replica count); one optimizer update (the Keras
   optimizer sums the replicas' gradients);
3. the *same* path on a held-out batch (the RL validation split, ``rl_batch_multiplier`` times
   the training batch; the supernet's batch norm always uses batch statistics) -> top-1
   accuracy ``A``; it reads the updated weights (program order under automatic control
   dependencies);
4. the cost: every target's linear cost model on the sampled masks, evaluated on the
   *deployment* decoding (:class:`mhzoo.search.tunas.ingraph.InGraphCost`), then the reward
   (:func:`mhzoo.search.tunas.rewards.make_reward`: eq. 6, 7 or 8);
5. the controller: the baseline takes the replicas' mean reward, each replica's advantage
   ``R_k - b`` scales its gradient of ``-log pi``, and Adam gets the mean of those gradients and
   the mean of their squares across replicas (``Controller.apply_gradients``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras  # lazy: no TensorFlow at import time
import numpy as np
import tensorflow as tf

from mhzoo.search.training.recipes import learning_rate
from mhzoo.search.tunas.config import SearchConfig
from mhzoo.search.tunas.controller import Controller
from mhzoo.search.tunas.ingraph import InGraphCost
from mhzoo.search.tunas.supernet.model import Supernet

__all__ = ["SearchStep", "controller_only_search"]


class SearchStep:
    """Supernet, controller, optimizer and the compiled distributed search step.

    Build it inside nothing: it enters ``strategy.scope()`` itself.

    Args:
        space: the proxy decoding of the space (the supernet's input size / strides / width).
        cost: in-graph deployment cost (:class:`InGraphCost`).
        reward: a :class:`mhzoo.search.tunas.rewards.Reward` over ``cost``.
        config: the search settings.
        strategy: a ``tf.distribute`` strategy.
        num_classes: classifier size.
        global_batch: training images per step across replicas.
        total_steps: search length.
        steps_per_epoch: for the shared-weight warm-up length.
        norm_scales: ``{target: w_i / C_i}`` for the logged MN-Norm avg / max (optional).
        seed: controller sampling seed (the supernet's initial weights follow
            ``keras.utils.set_random_seed``, set by the caller).
    """

    def __init__(self, space: Any, cost: InGraphCost, reward: Any, config: SearchConfig,
                 strategy: Any, *, num_classes: int, global_batch: int, total_steps: int,
                 steps_per_epoch: int, norm_scales: Mapping[str, float] | None = None,
                 seed: int = 0) -> None:
        self.space, self.cost, self.reward, self.config = space, cost, reward, config
        self.strategy = strategy
        self.global_batch = global_batch
        self.total_steps = total_steps
        self.targets = list(cost.targets)
        recipe = config.shared.replace(global_batch=global_batch)
        self.recipe = recipe
        self.scales = None if norm_scales is None else np.asarray(
            [norm_scales[t] for t in self.targets], np.float32)
        with strategy.scope():
            self.supernet = Supernet(space, num_classes=num_classes)
            self.controller = Controller(
                space, total_steps=total_steps,
                learning_rate=config.rl_learning_rate(global_batch),
                delay_fraction=config.delay_fraction,
                op_warmup_fraction=config.op_warmup_fraction,
                filters_warmup_fraction=config.filters_warmup_fraction,
                entropy_weight=config.entropy_weight, seed=seed)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="search_step")
            warm = recipe.warmup_steps(total_steps, steps_per_epoch)
            peak = recipe.peak_lr

            def lr() -> Any:
                return learning_rate(self.step, peak=peak, warmup_steps=warm,
                                     total_steps=total_steps)

            self.lr = lr
            self.optimizer = recipe.build_optimizer(lr)
            self.variables = list(self.supernet.trainable_variables)
            self.optimizer.build(self.variables)
        self.decayed = [_is_kernel(v) for v in self.variables]
        self._step = tf.function(self._step_fn)

    def checkpoint(self) -> Any:
        """A ``tf.train.Checkpoint`` of everything a resumed search needs (the sampling and
        the data streams are keyed by the step: no other random state)."""
        return tf.train.Checkpoint(supernet=self.supernet, controller=self.controller,
                                   optimizer=self.optimizer, step=self.step)

    # -- replica side ----------------------------------------------------------------------
    def _replica(self, x: Any, y: Any, xv: Any, yv: Any) -> dict[str, Any]:
        ctx = tf.distribute.get_replica_context()
        replicas = ctx.num_replicas_in_sync
        sample = self.controller.sample(self.step, ctx.replica_id_in_sync_group)
        masks = sample.masks
        r = self.recipe
        with tf.GradientTape() as tape:
            logits = self.supernet(x, masks, training=True)
            onehot = tf.one_hot(y, self.supernet.num_classes, dtype=logits.dtype)
            ce = keras.losses.categorical_crossentropy(onehot, logits, from_logits=True,
                                                       label_smoothing=r.label_smoothing)
            loss = tf.reduce_sum(ce) / self.global_batch
        grads = tape.gradient(loss, self.variables)
        out_grads = []
        for g, v, dec in zip(grads, self.variables, self.decayed):
            if g is None:
                g = tf.zeros_like(v)
            g = tf.convert_to_tensor(g)
            if dec and r.weight_decay:
                on_path = tf.cast(tf.not_equal(g, 0.0), g.dtype)
                g = g + (r.weight_decay / replicas) * tf.convert_to_tensor(v) * on_path
            out_grads.append(g)
        self.optimizer.apply_gradients(zip(out_grads, self.variables))
        # the same path on the held-out batch (after the update: program order)
        vlogits = self.supernet(xv, masks, training=False)
        valid = tf.cast(yv >= 0, tf.float32)
        hit = tf.cast(tf.equal(tf.argmax(vlogits, -1, output_type=tf.int32),
                               tf.cast(yv, tf.int32)), tf.float32) * valid
        acc = tf.reduce_sum(hit) / tf.maximum(tf.reduce_sum(valid), 1.0)
        res = self.reward(acc, masks)
        full = tf.stop_gradient(self.cost(masks))
        if self.scales is not None:
            terms = full * tf.constant(self.scales)
            mn_avg, mn_max = tf.reduce_mean(terms), tf.reduce_max(terms)
        else:
            mn_avg = mn_max = tf.constant(float("nan"))
        neg_logp_grads = self.controller.gradients(sample, 1.0)  # grad of -log pi
        ent_grads = self.controller.entropy_gradients(sample)
        return {"reward": res.reward, "accuracy": acc, "cost": res.cost, "latency": full,
                "mn_norm_avg": mn_avg, "mn_norm_max": mn_max,
                "loss": tf.reduce_sum(ce), "entropy": self.controller.entropy(sample),
                "log_prob": self.controller.log_prob(sample),
                "per_replica": (tf.reshape(res.reward, [1]), tf.reshape(acc, [1]),
                                sample.indices[None]),
                "grads": neg_logp_grads, "entropy_grads": ent_grads}

    # -- cross-replica side ----------------------------------------------------------------
    def _step_fn(self, x: Any, y: Any, xv: Any, yv: Any) -> dict[str, Any]:
        st = self.strategy
        mean = tf.distribute.ReduceOp.MEAN
        out = st.run(self._replica, args=(x, y, xv, yv))
        step = tf.identity(self.step)
        baseline = self.controller.update_baseline(st.reduce(mean, out["reward"], axis=None))

        def contributions(reward: Any, grads: Any) -> Any:
            adv = reward - baseline
            g = [adv * v for v in grads]
            return g, [v * v for v in g]

        g, g2 = st.run(contributions, args=(out["reward"], out["grads"]))
        mean_g = [st.reduce(mean, v, axis=None) for v in g]
        mean_g2 = [st.reduce(mean, v, axis=None) for v in g2]
        ent = None
        if self.controller.entropy_weight:
            ent = [st.reduce(mean, v, axis=None) for v in out["entropy_grads"]]
        rl_lr = self.controller.apply_gradients(mean_g, mean_g2, step, ent)
        self.step.assign_add(1)
        metrics = {k: st.reduce(mean, out[k], axis=None)
                   for k in ("reward", "accuracy", "cost", "mn_norm_avg", "mn_norm_max",
                             "entropy")}
        metrics["latency"] = st.reduce(mean, out["latency"], axis=None)
        metrics["loss"] = st.reduce(tf.distribute.ReduceOp.SUM, out["loss"], axis=None) / \
            float(self.global_batch)
        metrics["baseline"] = baseline
        metrics["rl_lr"] = rl_lr
        metrics["lr"] = self.lr()
        rewards, accuracies, indices = out["per_replica"]
        metrics["rewards"] = st.gather(rewards, axis=0)
        metrics["accuracies"] = st.gather(accuracies, axis=0)
        metrics["indices"] = st.gather(indices, axis=0)
        metrics["step"] = step
        return metrics

    def run_step(self, x: Any, y: Any, xv: Any, yv: Any) -> dict[str, Any]:
        """One global step from distributed batches; numpy metrics (per-replica rewards,
        accuracies and sampled indices included)."""
        return {k: np.asarray(v) for k, v in self._step(x, y, xv, yv).items()}


def _is_kernel(v: Any) -> bool:
    name = str(getattr(v, "path", v.name)).split("/")[-1].split(":")[0]
    return not (name.endswith(("_gamma", "_beta", "_bias")) or name in ("bias", "gamma", "beta"))


# ---------------------------------------------------------------------------- controller only
def controller_only_search(space: Any, reward: Any, *, steps: int, samples_per_step: int = 8,
                           accuracy: float = 1.0, learning_rate: float = 0.05,
                           entropy_weight: float = 0.0, seed: int = 0) -> Any:
    """The controller alone against a constant accuracy (no supernet): the latency-only check.

    Every step draws ``samples_per_step`` architectures (as many replicas would), rewards them
    with ``reward(accuracy, masks)`` and takes one REINFORCE step (no RL delay, no warm-up).
    Returns the :class:`~mhzoo.search.tunas.controller.Controller`; its ``final_genotype()`` is the
    argmax architecture.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    ctrl = Controller(space, total_steps=steps, learning_rate=learning_rate, delay_fraction=0.0,
                      op_warmup_fraction=0.0, filters_warmup_fraction=0.0,
                      entropy_weight=entropy_weight, seed=seed)

    @tf.function
    def one(step: Any) -> Any:
        samples = [ctrl.sample(step, k) for k in range(samples_per_step)]
        rewards = tf.stack([reward(accuracy, s.masks).reward for s in samples])
        ctrl.reinforce_step(samples, rewards, step)
        return tf.reduce_mean(rewards)

    for t in range(steps):
        one(tf.constant(t, tf.int64))
    return ctrl
