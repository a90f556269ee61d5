"""The compiled training step: model, optimizer, EMA and the distributed train / eval steps
(:class:`TrainStep`), and top-1 / top-5 of a plain model (:func:`evaluate_model`).

* the step is a ``tf.function`` around ``strategy.run``: per-replica loss summed over the replica
  batch and divided by the *global* batch, L2 on kernels divided by the replica count, the Keras
  optimizer all-reducing (summing) the gradients, so N replicas equal one replica with the same
  global batch (with ``sync_bn`` for batch-norm statistics of the global batch);
* EMA of every float weight (BN statistics too), decay ``min(decay, (1 + t) / (10 + t))`` (TF
  ``ExponentialMovingAverage`` with ``num_updates``), used for evaluation and the final weights.

Imports TensorFlow inside the methods, so that :mod:`mhzoo.search.training` stays light.
"""

from __future__ import annotations

from typing import Any

from mhzoo.search.training.recipes import Recipe, learning_rate

__all__ = ["TrainStep", "evaluate_model"]


class TrainStep:
    """Model, optimizer, EMA and the distributed train / eval steps.

    Args:
        model: a Keras 3 logits model built inside ``strategy.scope()``.
        eval_model: a twin that receives the EMA weights for evaluation (same scope).
        recipe: optimizer, schedule, loss and EMA settings.
        strategy: the ``tf.distribute`` strategy.
        global_batch: images per step across replicas.
        steps_per_epoch, total_steps: for the schedule (``total_steps`` may be changed later,
            e.g. once a time budget is fixed: it is a variable).
    """

    def __init__(self, model: Any, eval_model: Any, recipe: Recipe, strategy: Any, *,
                 global_batch: int, steps_per_epoch: int, total_steps: int,
                 loss_scale: bool = False) -> None:
        import tensorflow as tf  # lazy: no TensorFlow at import time

        self.model, self.eval_model = model, eval_model
        self.recipe, self.strategy = recipe, strategy
        self.global_batch = global_batch
        self.num_classes = int(model.get_layer("classifier").units)
        with strategy.scope():
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
            self.total_steps = tf.Variable(total_steps, dtype=tf.int64, trainable=False,
                                           name="total_steps")
            self.seconds = tf.Variable(0.0, dtype=tf.float64, trainable=False, name="seconds")
            self.budget_fixed = tf.Variable(False, trainable=False, name="budget_fixed")
            self.warmup = recipe.warmup_steps(total_steps, steps_per_epoch)
            peak = recipe.peak_lr

            def lr() -> Any:
                return learning_rate(self.step, peak=peak, warmup_steps=self.warmup,
                                     total_steps=self.total_steps)

            self.lr = lr
            self.optimizer = recipe.build_optimizer(lr, loss_scale=loss_scale)
            self.optimizer.build(model.trainable_variables)
            self.averaged = [w for w in model.weights if "float" in str(w.dtype)]
            self.ema = [tf.Variable(w.value, trainable=False, name=f"ema_{i}")
                        for i, w in enumerate(self.averaged)]
        twin = {w.path: w for w in eval_model.weights}
        self.eval_targets = [twin.get(w.path) for w in self.averaged]
        if any(t is None for t in self.eval_targets):
            raise ValueError("internal error: the evaluation twin does not mirror the model")
        self.kernels = [v for v in model.trainable_variables if v.path.endswith("kernel")]
        self._train = tf.function(self._train_fn)
        self._eval = tf.function(self._eval_fn)

    # -- checkpoint -------------------------------------------------------------------------
    def checkpoint(self) -> Any:
        """A ``tf.train.Checkpoint`` of everything a resumed run needs."""
        import tensorflow as tf  # lazy: no TensorFlow at import time

        ema = tf.Module()
        ema.values = list(self.ema)
        rng = tf.Module()  # Keras seed generators (dropout masks) are not tracked by the model
        rng.values = [layer.seed_generator.state for layer in self.model.layers
                      if getattr(layer, "seed_generator", None) is not None]
        return tf.train.Checkpoint(model=self.model, optimizer=self.optimizer, ema=ema, rng=rng,
                                   step=self.step, total_steps=self.total_steps,
                                   seconds=self.seconds, budget_fixed=self.budget_fixed)

    # -- steps ------------------------------------------------------------------------------
    def _replica_step(self, images: Any, labels: Any) -> Any:
        import keras  # lazy: no TensorFlow at import time
        import tensorflow as tf  # lazy: no TensorFlow at import time

        r = self.recipe
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        with tf.GradientTape() as tape:
            logits = self.model(images, training=True)
            if logits.dtype in (tf.float16, tf.bfloat16):  # mixed precision: loss in float32
                logits = tf.cast(logits, tf.float32)
            onehot = tf.one_hot(labels, self.num_classes, dtype=logits.dtype)
            per_example = keras.losses.categorical_crossentropy(
                onehot, logits, from_logits=True, label_smoothing=r.label_smoothing)
            loss = tf.reduce_sum(per_example) / self.global_batch
            if r.weight_decay and self.kernels:
                l2 = tf.add_n([tf.reduce_sum(tf.square(tf.cast(k.value, logits.dtype)))
                               for k in self.kernels])
                loss += 0.5 * r.weight_decay * l2 / replicas
            scaled = self.optimizer.scale_loss(loss)
        variables = self.model.trainable_variables
        grads = tape.gradient(scaled, variables)
        self.optimizer.apply_gradients(zip(grads, variables))
        k = min(5, self.num_classes)
        scores = tf.cast(logits, tf.float32)
        top1 = tf.reduce_sum(tf.cast(tf.math.in_top_k(labels, scores, 1), tf.float32))
        top5 = tf.reduce_sum(tf.cast(tf.math.in_top_k(labels, scores, k), tf.float32))
        return {"loss": tf.cast(tf.reduce_sum(per_example), tf.float32), "top1": top1,
                "top5": top5, "count": tf.cast(tf.shape(labels)[0], tf.float32)}

    def _train_fn(self, iterator: Any) -> Any:
        import tensorflow as tf  # lazy: no TensorFlow at import time

        images, labels = next(iterator)
        out = self.strategy.run(self._replica_step, args=(images, labels))
        out = {k: self.strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None)
               for k, v in out.items()}
        self.step.assign_add(1)
        if self.recipe.ema_decay > 0:
            t = tf.cast(self.step, tf.float32)
            decay = tf.minimum(self.recipe.ema_decay, (1.0 + t) / (10.0 + t))
            for e, w in zip(self.ema, self.averaged):
                e.assign(decay * e + (1.0 - decay) * tf.cast(w.value, e.dtype))
        else:
            for e, w in zip(self.ema, self.averaged):
                e.assign(w.value)
        return out

    def train_step(self, iterator: Any) -> dict[str, float]:
        """One global step from a distributed iterator; summed loss / correct / count."""
        return {k: float(v) for k, v in self._train(iterator).items()}

    def load_ema_into_eval_model(self) -> None:
        """Copy the averaged weights into ``eval_model``."""
        for t, e in zip(self.eval_targets, self.ema):
            t.assign(e.read_value())

    def _eval_fn(self, images: Any, labels: Any) -> Any:
        import tensorflow as tf  # lazy: no TensorFlow at import time

        def replica(x: Any, y: Any) -> Any:
            logits = tf.cast(self.eval_model(x, training=False), tf.float32)
            valid = tf.cast(y >= 0, tf.float32)
            safe = tf.maximum(y, 0)
            k = min(5, self.num_classes)
            top1 = tf.cast(tf.math.in_top_k(safe, logits, 1), tf.float32) * valid
            top5 = tf.cast(tf.math.in_top_k(safe, logits, k), tf.float32) * valid
            return {"top1": tf.reduce_sum(top1), "top5": tf.reduce_sum(top5),
                    "count": tf.reduce_sum(valid)}

        out = self.strategy.run(replica, args=(images, labels))
        return {k: self.strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None)
                for k, v in out.items()}

    def evaluate(self, dist_dataset: Any) -> dict[str, float]:
        """Top-1 / top-5 (fractions) of the EMA weights on a distributed eval dataset."""
        self.load_ema_into_eval_model()
        tot = {"top1": 0.0, "top5": 0.0, "count": 0.0}
        for images, labels in dist_dataset:
            for k, v in self._eval(images, labels).items():
                tot[k] += float(v)
        n = max(tot["count"], 1.0)
        return {"top1": tot["top1"] / n, "top5": tot["top5"] / n, "count": int(tot["count"])}


def evaluate_model(model: Any, dataset: Any) -> dict[str, float]:
    """Top-1 / top-5 of a plain (undistributed) logits or softmax model on ``make_dataset``
    eval batches (labels < 0 are padding)."""
    import tensorflow as tf  # lazy: no TensorFlow at import time

    @tf.function
    def counts(x: Any, y: Any) -> Any:
        out = tf.cast(model(x, training=False), tf.float32)
        valid = tf.cast(y >= 0, tf.float32)
        safe = tf.maximum(y, 0)
        k = min(5, int(out.shape[-1]))
        return (tf.reduce_sum(tf.cast(tf.math.in_top_k(safe, out, 1), tf.float32) * valid),
                tf.reduce_sum(tf.cast(tf.math.in_top_k(safe, out, k), tf.float32) * valid),
                tf.reduce_sum(valid))

    t1 = t5 = n = 0.0
    for x, y in dataset:
        a, b, c = counts(x, y)
        t1, t5, n = t1 + float(a), t5 + float(b), n + float(c)
    return {"top1": t1 / max(n, 1), "top5": t5 / max(n, 1), "count": int(n)}
