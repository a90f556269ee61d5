"""The compiled TuNAS search step: supernet, controller, optimizer and one ``tf.distribute`` step
(:class:`SearchStep`), and the controller-only search (:func:`controller_only_search`).

One global step after the RL delay (search-algorithm.md section 2.3), compiled as one
``tf.function`` around ``strategy.run``, with ``K = samples_per_step``:

1. every replica samples ``K`` architectures of its own (``Controller.sample(step,
   replica_id * K + k)``: a resumed run draws what an uninterrupted one draws);
2. shared weights: the replica's training batch through the masked supernet on its *first*
   sample (``training=True``), softmax cross-entropy with label smoothing, summed over the
   replica batch and divided by the *global* batch; weight decay ``wd / 2 * |w|^2`` only on
   weights of the sampled path (a weight is on the path where the loss gradient reaches it:
   untaken branches and masked channels get exactly zero gradient, so their decay is skipped;
   the decay of every replica is divided by the replica count); one optimizer update (the Keras
   optimizer sums the replicas' gradients);
3. the ``K`` paths on the replica's validation batch (``K x rl_batch_multiplier x`` the
   per-replica training batch, from the search-validation split), each on its own chunk of
   ``rl_batch_multiplier x batch`` images: one ``tf.while_loop`` whose body (the supernet
   forward with the flat masks as inputs) is traced once, so the graph does not grow with
   ``K``; the supernet's batch norm always uses batch statistics; the forwards read the updated
   weights (program order under automatic control dependencies) -> top-1 accuracies ``A_k``;
4. the cost: every target's linear cost model on each sample's masks, on the *deployment*
   decoding (:class:`mhzoo.search.tunas.ingraph.InGraphCost`, one ``tf.map_fn`` over the
   ``K`` samples), then the reward (eq. 6, 7 or 8);
5. the controller (cross-replica): the ``replicas x K`` rewards and gradients of ``-log pi``
   gathered, the baseline takes their mean, each sample's advantage ``R_k - b`` scales its
   gradient, Adam gets the mean of those gradients and of their squares
   (``Controller.reinforce_from_gradients``: :meth:`Controller.reinforce_step` on the gathered
   samples).

During the RL delay (``step < delay_steps``) the step is train-only (a second compiled
function: steps 1-2 and the training sample's cost, no validation forward, no controller
update: the controller would not change anyway, and its baseline and Adam start at the first
RL step).
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

__all__ = ["SearchStep", "controller_only_search", "controller_settings"]

#: metrics of every step (means over the step's samples; NaN where a train-only step has none)
STEP_METRICS = ("reward", "accuracy", "cost", "mn_norm_avg", "mn_norm_max", "entropy", "loss")


class SearchStep:
    """Supernet, controller, optimizer and the compiled distributed search steps.

    Build it inside nothing: it enters ``strategy.scope()`` itself.

    Args:
        space: the proxy decoding of the space (the supernet's input size / strides / width).
        cost: in-graph deployment cost (:class:`InGraphCost`).
        reward: a :class:`mhzoo.search.tunas.rewards.Reward` over ``cost`` (its latencies
            are ``cost``'s: the step evaluates ``cost`` once per sample and gives the reward
            those latencies).
        config: the search settings (``samples_per_step``, ``rl_batch_multiplier`` ...).
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
        self.replicas = int(strategy.num_replicas_in_sync)
        self.samples_per_step = int(config.samples_per_step)
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
        self._rl = tf.function(self._rl_fn)
        self._train = tf.function(self._train_fn)

    @property
    def delay_steps(self) -> int:
        """Steps before the first RL step (train-only steps)."""
        return self.controller.delay_steps

    def is_rl_step(self, step: int) -> bool:
        """Does (0-based) ``step`` update the controller (and so read validation data)?"""
        return int(step) >= self.controller.delay_steps

    def valid_batch(self, global_batch: int | None = None) -> int:
        """Validation images per step across replicas: ``samples_per_step x
        rl_batch_multiplier x global_batch``."""
        g = self.global_batch if global_batch is None else global_batch
        return self.samples_per_step * self.config.rl_batch_multiplier * g

    def checkpoint(self) -> Any:
        """A ``tf.train.Checkpoint`` of everything a resumed search needs (the sampling and
        the data streams are keyed by the step: no other random state)."""
        return tf.train.Checkpoint(supernet=self.supernet, controller=self.controller,
                                   optimizer=self.optimizer, step=self.step)

    # -- replica side ----------------------------------------------------------------------
    def _train_on(self, x: Any, y: Any, masks: Any) -> tf.Tensor:
        """One shared-weight update on the path ``masks``; returns the summed loss."""
        replicas = tf.distribute.get_replica_context().num_replicas_in_sync
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
        return tf.reduce_sum(ce)

    def _costs(self, flats: tf.Tensor) -> dict[str, tf.Tensor]:
        """Per sample (rows of ``flats`` ``[K, total]``): deployment latencies ``[K, T]``,
        the MN-Norm avg / max ``[K]`` (NaN without factors)."""
        lat = tf.stop_gradient(self.cost.batch(flats))
        if self.scales is not None:
            terms = lat * tf.constant(self.scales)
            mn_avg, mn_max = tf.reduce_mean(terms, -1), tf.reduce_max(terms, -1)
        else:
            mn_avg = mn_max = tf.fill(tf.shape(lat)[:1], float("nan"))
        return {"latency": lat, "mn_norm_avg": mn_avg, "mn_norm_max": mn_max}

    def _reward_of(self, acc: tf.Tensor, lat: tf.Tensor) -> Any:
        return self.reward.from_latencies(acc, {t: lat[:, i] for i, t in enumerate(self.targets)})

    def _validate(self, xv: Any, yv: Any, flats: tf.Tensor) -> tf.Tensor:
        """Top-1 accuracy ``[K]`` of path ``k`` on chunk ``k`` of the validation batch."""
        k_n = self.samples_per_step
        xv = tf.convert_to_tensor(xv)
        yv = tf.convert_to_tensor(yv)
        chunk = tf.shape(yv)[0] // k_n
        xs = tf.reshape(xv, tf.concat([[k_n, chunk], tf.shape(xv)[1:]], 0))
        ys = tf.reshape(yv, [k_n, chunk])

        def body(k: tf.Tensor, accs: tf.TensorArray) -> Any:
            logits = self.supernet(xs[k], flats[k], training=False)
            yk = ys[k]
            valid = tf.cast(yk >= 0, tf.float32)
            hit = tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32),
                                   tf.cast(yk, tf.int32)), tf.float32) * valid
            return k + 1, accs.write(k, tf.reduce_sum(hit) / tf.maximum(tf.reduce_sum(valid),
                                                                        1.0))

        _, accs = tf.while_loop(lambda k, _: k < k_n, body,
                                (tf.constant(0), tf.TensorArray(tf.float32, size=k_n)))
        return accs.stack()

    def _replica_train(self, x: Any, y: Any) -> dict[str, Any]:
        ctx = tf.distribute.get_replica_context()
        first = tf.cast(ctx.replica_id_in_sync_group, tf.int64) * self.samples_per_step
        batch = self.controller.sample_batch(self.step, [first])
        loss = self._train_on(x, y, [m[0] for m in batch.masks])
        c = self._costs(tf.concat(batch.masks, 1))
        res = self._reward_of(tf.zeros([1]), c["latency"])
        return {"loss": loss, "cost": res.cost[0], "latency": c["latency"][0],
                "mn_norm_avg": c["mn_norm_avg"][0], "mn_norm_max": c["mn_norm_max"][0],
                "entropy": self.controller.entropy_batch(batch)[0], "indices": batch.indices}

    def _replica_rl(self, x: Any, y: Any, xv: Any, yv: Any) -> dict[str, Any]:
        ctx = tf.distribute.get_replica_context()
        first = tf.cast(ctx.replica_id_in_sync_group, tf.int64) * self.samples_per_step
        ctrl = self.controller
        batch = ctrl.sample_batch(self.step, [first + k for k in range(self.samples_per_step)])
        loss = self._train_on(x, y, [m[0] for m in batch.masks])
        flats = tf.concat(batch.masks, 1)  # [K, total]
        acc = self._validate(xv, yv, flats)  # after the update (program order)
        c = self._costs(flats)
        res = self._reward_of(acc, c["latency"])
        out = {"loss": loss, "rewards": res.reward, "accuracies": acc, "costs": res.cost,
               "latency": c["latency"], "mn_norm_avg": c["mn_norm_avg"],
               "mn_norm_max": c["mn_norm_max"], "entropies": ctrl.entropy_batch(batch),
               "indices": batch.indices,
               "grads": tuple(ctrl.neg_log_prob_gradients(batch))}  # of -log pi, [K, n_j]
        if ctrl.entropy_weight:
            n = len(ctrl.sizes)
            rows = [ctrl.sample_from_draw(batch.indices[k], batch.replaced[k], self.step)
                    for k in range(self.samples_per_step)]
            ent = [ctrl.entropy_gradients(s) for s in rows]
            out["entropy_grads"] = tuple(tf.stack([g[j] for g in ent]) for j in range(n))
        return out

    # -- cross-replica side ----------------------------------------------------------------
    def _common(self, out: Any, step: tf.Tensor) -> dict[str, Any]:
        st = self.strategy
        m = {"loss": st.reduce(tf.distribute.ReduceOp.SUM, out["loss"], axis=None)
             / float(self.global_batch), "lr": self.lr(), "step": step}
        return m

    def _train_fn(self, x: Any, y: Any) -> dict[str, Any]:
        st = self.strategy
        mean = tf.distribute.ReduceOp.MEAN
        out = st.run(self._replica_train, args=(x, y))
        step = tf.identity(self.step)
        m = self._common(out, step)
        self.step.assign_add(1)
        for k in ("cost", "mn_norm_avg", "mn_norm_max", "entropy"):
            m[k] = st.reduce(mean, out[k], axis=None)
        m["latency"] = st.reduce(mean, out["latency"], axis=None)
        nan = tf.constant(float("nan"))
        m.update(reward=nan, accuracy=nan, baseline=nan, rl_lr=tf.constant(0.0),
                 indices=st.gather(out["indices"], axis=0))
        return m

    def _rl_fn(self, x: Any, y: Any, xv: Any, yv: Any) -> dict[str, Any]:
        st = self.strategy
        out = st.run(self._replica_rl, args=(x, y, xv, yv))
        step = tf.identity(self.step)
        m = self._common(out, step)

        def all_of(v: Any) -> tf.Tensor:
            return st.gather(v, axis=0)  # [replicas * K, ...] in replica order

        rewards = all_of(out["rewards"])
        grads = [all_of(g) for g in out["grads"]]
        ent = [all_of(g) for g in out["entropy_grads"]] if "entropy_grads" in out else None
        upd = self.controller.reinforce_from_gradients(grads, rewards, step, ent)
        self.step.assign_add(1)
        m.update(rewards=rewards, accuracies=all_of(out["accuracies"]),
                 indices=all_of(out["indices"]), baseline=upd["baseline"],
                 rl_lr=upd["learning_rate"])
        m["reward"] = tf.reduce_mean(rewards)
        m["accuracy"] = tf.reduce_mean(m["accuracies"])
        for key, name in (("costs", "cost"), ("mn_norm_avg", "mn_norm_avg"),
                          ("mn_norm_max", "mn_norm_max"), ("entropies", "entropy")):
            m[name] = tf.reduce_mean(all_of(out[key]))
        m["latency"] = tf.reduce_mean(all_of(out["latency"]), 0)
        return m

    def run_step(self, x: Any, y: Any, xv: Any = None, yv: Any = None) -> dict[str, Any]:
        """One global step from distributed batches; numpy metrics. An RL step (``step >=
        delay_steps``) needs the validation batch ``xv, yv`` and returns the per-sample
        ``rewards``, ``accuracies`` and sampled ``indices`` (``replicas x K`` rows); a
        train-only step ignores it and returns the training samples' ``indices``."""
        if self.is_rl_step(int(self.step.numpy())):
            if xv is None or yv is None:
                raise ValueError("an RL step needs the validation batch")
            got = self._rl(x, y, xv, yv)
        else:
            got = self._train(x, y)
        return {k: np.asarray(v) for k, v in got.items()}


def _is_kernel(v: Any) -> bool:
    name = str(getattr(v, "path", v.name)).split("/")[-1].split(":")[0]
    return not (name.endswith(("_gamma", "_beta", "_bias")) or name in ("bias", "gamma", "beta"))


# ---------------------------------------------------------------------------- controller only
def controller_settings(config: SearchConfig, replicas: int = 1) -> dict[str, Any]:
    """The controller settings a search with ``config`` on ``replicas`` replicas uses, as
    :func:`controller_only_search` keywords (``steps`` needs ``config.steps``): samples per
    step (all replicas'), base RL learning rate at the config's batch, delay and warm-ups."""
    if config.steps is None:
        raise ValueError(f"preset {config.name!r} gives its length in epochs; the controller-only "
                         "search needs steps")
    return {"steps": config.steps, "samples_per_step": config.samples_per_step * replicas,
            "learning_rate": config.rl_learning_rate(config.batch(replicas)),
            "delay_fraction": config.delay_fraction,
            "op_warmup_fraction": config.op_warmup_fraction,
            "filters_warmup_fraction": config.filters_warmup_fraction,
            "entropy_weight": config.entropy_weight}


def controller_only_search(space: Any, reward: Any, *, steps: int, samples_per_step: int = 8,
                           accuracy: float = 1.0, learning_rate: float = 0.05,
                           delay_fraction: float = 0.0, op_warmup_fraction: float = 0.0,
                           filters_warmup_fraction: float = 0.0, entropy_weight: float = 0.0,
                           seed: int = 0, chunk: int = 100) -> Any:
    """The controller alone against a constant accuracy (no supernet): the latency-only check.

    Every RL step draws ``samples_per_step`` architectures (as the search's replicas x
    ``samples_per_step`` would), rewards them with ``reward(accuracy, masks)`` and takes one
    :meth:`~mhzoo.search.tunas.controller.Controller.reinforce_step`. The first
    ``int(delay_fraction * steps)`` steps are the RL delay: the search only trains the shared
    weights then and the controller does not change (its sampling is keyed by the step), so
    they are skipped here; the warm-ups end within the delay. Settings of a preset:
    ``controller_only_search(space, reward, **controller_settings(config))``. The RL steps run
    ``chunk`` at a time inside one compiled loop, every step's samples as one batch
    (:meth:`Controller.sample_batch`, :meth:`InGraphCost.batch` when the reward's cost function
    is one, closed-form gradients).

    Returns the :class:`~mhzoo.search.tunas.controller.Controller`; its ``final_genotype()`` is the
    argmax architecture.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    if isinstance(samples_per_step, bool) or not isinstance(samples_per_step, int) \
            or samples_per_step < 1:
        raise ValueError(f"samples_per_step must be an integer >= 1, got {samples_per_step!r}")
    ctrl = Controller(space, total_steps=steps, learning_rate=learning_rate,
                      delay_fraction=delay_fraction, op_warmup_fraction=op_warmup_fraction,
                      filters_warmup_fraction=filters_warmup_fraction,
                      entropy_weight=entropy_weight, seed=seed)

    batch_cost = getattr(getattr(reward, "cost_fn", None), "batch", None)
    targets = list(getattr(reward.cost_fn, "targets", []))

    def rewards_of(batch: Any) -> Any:
        if batch_cost is not None:  # one op chain for all samples
            lat = batch_cost(tf.concat(batch.masks, 1))
            acc = tf.fill(tf.shape(lat)[:1], tf.cast(accuracy, tf.float32))
            return reward.from_latencies(acc, {t: lat[:, i] for i, t in enumerate(targets)}
                                         ).reward
        return tf.stack([reward(accuracy, [m[k] for m in batch.masks]).reward
                         for k in range(samples_per_step)])

    @tf.function
    def run(first: Any, stop: Any) -> Any:
        for t in tf.range(first, stop):
            batch = ctrl.sample_batch(t, list(range(samples_per_step)))
            grads = ctrl.neg_log_prob_gradients(batch)
            ent = None
            if entropy_weight:
                rows = [ctrl.sample_from_draw(batch.indices[k], batch.replaced[k], t)
                        for k in range(samples_per_step)]
                per = [ctrl.entropy_gradients(s) for s in rows]
                ent = [tf.stack([g[j] for g in per]) for j in range(len(ctrl.sizes))]
            ctrl.reinforce_from_gradients(grads, rewards_of(batch), t, ent)
        return stop

    t = ctrl.delay_steps
    while t < steps:
        stop = min(steps, t + max(1, int(chunk)))
        run(tf.constant(t, tf.int64), tf.constant(stop, tf.int64))
        t = stop
    return ctrl
