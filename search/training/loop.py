"""The training loop: one custom ``tf.distribute`` step used for standalone training and
fine-tuning (and, later, the supernet's shared-weight step).

:class:`TrainStep` holds the model, optimizer, EMA and the compiled step; :func:`train` runs a
whole resumable job into a run folder (see :mod:`mhzoo.search.training.rundir`):

* the step is a ``tf.function`` around ``strategy.run``: per-replica loss summed over the replica
  batch and divided by the *global* batch, L2 on kernels divided by the replica count, the Keras
  optimizer all-reducing (summing) the gradients, so N replicas equal one replica with the same
  global batch (with ``sync_bn`` for batch-norm statistics of the global batch);
* EMA of every float weight (BN statistics too), decay ``min(decay, (1 + t) / (10 + t))`` (TF
  ``ExponentialMovingAverage`` with ``num_updates``), used for evaluation and the final weights;
* checkpoints (``tf.train.CheckpointManager``; the state file is replaced atomically, so a
  killed save leaves the previous checkpoint in force) every ``checkpoint_every`` steps, at
  every evaluation and at the end: model, optimizer slots, EMA, step, total steps, seconds
  trained; the data position is ``step`` (epoch ``step // steps_per_epoch``, batch
  ``step % steps_per_epoch``): the pipeline is deterministic per epoch, so a resumed run sees
  the batches an uninterrupted one sees;
* TensorBoard scalars (loss, lr, train / held-out top-1 / top-5, images/s), a tqdm bar with ETA,
  ``history.json`` for the curve, and at the end ``save_pretrained`` into ``DIR/model``.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from mhzoo.search.training import data as data_lib
from mhzoo.search.training import rundir
from mhzoo.search.training.recipes import Recipe, get_preset, learning_rate

__all__ = ["TrainResult", "TrainStep", "evaluate_model", "train"]

CALIBRATION_STEPS = 30  # steps timed (after the first, traced ones) to fix a time budget
EVAL_COST = 0.35  # evaluation images cost about this fraction of a training image (no backward)


@dataclass
class TrainResult:
    """What :func:`train` did."""

    out_dir: Path
    model_dir: Path | None
    step: int
    total_steps: int
    finished: bool
    resumed_from: int
    metrics: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)


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
        import keras
        import tensorflow as tf

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
            if recipe.optimizer == "rmsprop":
                opt = keras.optimizers.RMSprop(learning_rate=lr, rho=recipe.rho,
                                               momentum=recipe.momentum, epsilon=recipe.epsilon)
            else:
                opt = keras.optimizers.SGD(learning_rate=lr, momentum=recipe.momentum,
                                           nesterov=recipe.nesterov)
            if loss_scale:
                opt = keras.optimizers.LossScaleOptimizer(opt)
            self.optimizer = opt
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
        import tensorflow as tf

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
        import keras
        import tensorflow as tf

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
        import tensorflow as tf

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
        import tensorflow as tf

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
    import tensorflow as tf

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


# ----------------------------------------------------------------------------- the job
def _request(name: str, spec: Any, width: float | None, recipe: Recipe, source: Any,
             seed: int, num_classes: int, weights: Any, freeze_backbone: bool,
             global_batch: int, limits: tuple[int | None, int | None]) -> dict[str, Any]:
    rec = recipe.to_dict()
    rec.pop("notes", None)
    return {"architecture": name, "spec": spec.to_dict(), "width": width,
            "num_classes": num_classes, "recipe": rec,
            "data": {**source.describe(), "limit_train": limits[0], "limit_held_out": limits[1]},
            "seed": seed, "weights": None if weights is None else str(weights),
            "freeze_backbone": freeze_backbone, "global_batch": global_batch}


def _split_sizes(mask: np.ndarray, limits: tuple[int | None, int | None]) -> tuple[int, int]:
    n_train, n_held = int((~mask).sum()), int(mask.sum())
    if limits[0] is not None:
        n_train = min(n_train, limits[0])
    if limits[1] is not None:
        n_held = min(n_held, limits[1])
    return n_train, n_held


def train(name_or_spec: Any, data: str | os.PathLike | data_lib.DataSource,
          out_dir: str | os.PathLike, *, preset: str | Recipe = "cifar10-proxy",
          overrides: dict[str, Any] | None = None, width: float | None = None,
          divisible_by: int | None = None, weights: str | os.PathLike | None = None,
          num_classes: int | None = None, freeze_backbone: bool = False,
          strategy: str | Any = "default", tpu: str | None = None,
          per_replica_batch: int | None = None, seed: int = 0,
          checkpoint_every: int | None = None, checkpoint_minutes: float = 10.0,
          max_steps: int | None = None, time_budget: float | None = None,
          limit_train: int | None = None, limit_held_out: int | None = None,
          cache: bool = False, mixed_precision: str = "auto", sync_bn: bool = False,
          log_every: int = 50, progress: bool = True, deterministic: bool = False,
          on_step: Any = None) -> TrainResult:
    """Train (or fine-tune) a model into the run folder ``out_dir``; rerun to resume.

    Args:
        name_or_spec: registered name, ``ArchSpec`` or spec JSON file.
        data: TFRecord shard folder, image-folder tree, ``tfds:NAME`` or a ``DataSource``.
        out_dir: run folder (new, empty, or this run's own folder to resume).
        preset: ``"imagenet"``, ``"cifar10-proxy"`` or a :class:`Recipe`.
        overrides: recipe fields to change (``epochs``, ``base_lr``, ``image_size`` ...).
        width, divisible_by: as :func:`mhzoo.build`.
        weights: checkpoint (or run folder) to fine-tune from; another class count gets a new
            classifier.
        num_classes: default: the data's class count (must match it).
        freeze_backbone: train only the classifier.
        strategy: ``default`` / ``mirrored`` / ``multi_worker`` / ``tpu`` or a strategy object.
        per_replica_batch: give the batch per replica instead (global = this x replicas; the
            learning rate follows the global batch).
        checkpoint_every: steps between checkpoints (default: every evaluation and every
            ``checkpoint_minutes``).
        max_steps: stop (resumably) after this global step, without finishing the run.
        time_budget: seconds for the whole run (restarts included): after a short timing the
            total step count is fixed so that training and evaluation fit, and the cosine
            schedule ends there (at most the recipe's epochs).
        limit_train, limit_held_out: use only that many images of each split (tests).
        cache: keep the encoded training images in memory.
        mixed_precision: ``auto`` (on GPUs / TPUs), ``on`` or ``off``.
        sync_bn: synchronized batch norm across replicas.
        seed: seeds the held-out split, the data order and augmentation, the initial weights
            and dropout (``keras.utils.set_random_seed``: Python, NumPy and TF global seeds).
        deterministic: ``tf.config.experimental.enable_op_determinism()`` (bitwise resumes).
        on_step: callback ``f(step)`` after every step (tests).

    Raises:
        ValueError: bad data, preset, weights or output folder; nothing is written then.
    """
    import keras
    import tensorflow as tf
    from mhzoo.search.training.modeling import build_training_model
    from mhzoo.search.training.strategy import make_strategy, mixed_precision_policy

    from mhzoo.builder import resolve_spec

    recipe = preset if isinstance(preset, Recipe) else get_preset(preset)
    recipe = recipe.replace(**(overrides or {}))
    source = data if isinstance(data, data_lib.DataSource) else data_lib.open_data(data)
    if num_classes is not None and num_classes != source.num_classes:
        raise ValueError(f"labels/classes mismatch: --num-classes {num_classes} but the data has "
                         f"{source.num_classes} classes")
    num_classes = source.num_classes
    mask = data_lib.held_out_mask(source.num_examples, recipe.held_out, seed)
    limits = (limit_train, limit_held_out)
    n_train, n_held = _split_sizes(mask, limits)
    out = Path(out_dir)
    base = resolve_spec(name_or_spec)
    rundir.check_run_dir(out, None)  # refuse a foreign folder before any model is built
    dist = make_strategy(strategy, tpu=tpu) if isinstance(strategy, str) else strategy
    replicas = dist.num_replicas_in_sync
    global_batch = per_replica_batch * replicas if per_replica_batch else recipe.global_batch
    if global_batch != recipe.global_batch:
        recipe = recipe.replace(global_batch=global_batch)
    steps_per_epoch = n_train // global_batch
    if steps_per_epoch < 1:
        raise ValueError(f"the training split has {n_train} images, fewer than one global batch "
                         f"of {global_batch}; use a smaller batch")
    planned_total = max(1, math.ceil(recipe.epochs * steps_per_epoch))
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(seed)  # initial weights and dropout masks follow the run seed
    # ... but no TF global seed: the data pipeline seeds its shuffles per epoch itself (and a
    # global seed breaks tf.data's shuffle with a tensor seed inside flat_map)
    tf.random.set_seed(None)
    policy = mixed_precision_policy(mixed_precision, dist)
    previous_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        with dist.scope():
            kwargs = dict(image_size=recipe.image_size, num_classes=num_classes,
                          dropout=recipe.effective_dropout, stride_plan=recipe.stride_plan,
                          width=width, divisible_by=divisible_by, weights=weights,
                          freeze_backbone=freeze_backbone, bn_momentum=recipe.bn_momentum,
                          sync_bn=sync_bn)
            model = build_training_model(base, **kwargs)
            eval_model = build_training_model(base, **{**kwargs, "sync_bn": False})
        request = _request(base.name, model.arch_spec, width, recipe, source, seed, num_classes,
                           weights, freeze_backbone, global_batch, limits)
        existing = rundir.check_run_dir(out, request)
        if existing and existing.get("status") == "finished" and (out / rundir.MODEL).is_dir():
            return _finished_result(out, existing)
        runner = TrainStep(model, eval_model, recipe, dist, global_batch=global_batch,
                           steps_per_epoch=steps_per_epoch, total_steps=planned_total,
                           loss_scale=policy == "mixed_float16")
        out.mkdir(exist_ok=True)
        if existing is None:
            rundir.write_run(out, {"status": "running", "request": request,
                                   "notes": recipe.notes, "policy": policy,
                                   "replicas": replicas})
        return _run(runner, source, mask, out, recipe, request, seed=seed,
                    steps_per_epoch=steps_per_epoch, n_held=n_held, limits=limits,
                    checkpoint_every=checkpoint_every, checkpoint_minutes=checkpoint_minutes,
                    max_steps=max_steps, time_budget=time_budget, cache=cache,
                    log_every=log_every, progress=progress, on_step=on_step, policy=policy)
    finally:
        keras.config.set_dtype_policy(previous_policy)


def _finished_result(out: Path, run: dict[str, Any]) -> TrainResult:
    hist = rundir.read_history(out)
    return TrainResult(out, out / rundir.MODEL, int(run.get("step", 0)),
                       int(run.get("total_steps", 0)), True, int(run.get("step", 0)),
                       dict(run.get("metrics", {})), hist)


def _run(runner: TrainStep, source: Any, mask: np.ndarray, out: Path, recipe: Recipe,
         request: dict[str, Any], *, seed: int, steps_per_epoch: int, n_held: int,
         limits: tuple[int | None, int | None], checkpoint_every: int | None,
         checkpoint_minutes: float, max_steps: int | None, time_budget: float | None,
         cache: bool, log_every: int, progress: bool, on_step: Any, policy: str
         ) -> TrainResult:
    import tensorflow as tf
    from tqdm import tqdm

    ckpt = runner.checkpoint()
    manager = tf.train.CheckpointManager(ckpt, str(out / rundir.CHECKPOINTS), max_to_keep=2)
    if manager.latest_checkpoint:
        ckpt.restore(manager.latest_checkpoint).assert_existing_objects_matched()
    start = int(runner.step.numpy())
    history = rundir.read_history(out, up_to_step=start)
    dist = runner.strategy
    common = dict(image_size=recipe.image_size, augmentation=recipe.augmentation,
                  crop_fraction=recipe.crop_fraction, pad=recipe.pad)
    train_ds = data_lib.distribute(
        dist, source, global_batch=runner.global_batch, mask=~mask, training=True, seed=seed,
        start_epoch=start // steps_per_epoch, skip_batches=start % steps_per_epoch,
        batches_per_epoch=steps_per_epoch, cache=cache, limit=limits[0], **common)
    eval_batch = max(runner.global_batch, 256)
    eval_batch -= eval_batch % dist.num_replicas_in_sync

    def held_out() -> Any:
        return data_lib.distribute(dist, source, global_batch=eval_batch, mask=mask,
                                   training=False, limit=limits[1], **common)

    writers = {k: tf.summary.create_file_writer(str(out / rundir.TENSORBOARD / k))
               for k in ("train", "held_out")}
    eval_every = max(1, round(recipe.eval_every_epochs * steps_per_epoch))
    iterator = iter(train_ds)
    total = int(runner.total_steps.numpy())
    stop_at = total if max_steps is None else min(total, max_steps)
    bar = tqdm(total=total, initial=start, unit="step", disable=not progress, dynamic_ncols=True,
               mininterval=1.0 if os.isatty(2) else 30.0, desc=f"train {request['architecture']}")
    acc = {"loss": 0.0, "top1": 0.0, "top5": 0.0, "count": 0.0}
    interval_start, last_ckpt = time.perf_counter(), time.perf_counter()
    seconds0, wall0 = float(runner.seconds.numpy()), time.perf_counter()
    calib_t0 = None
    step = start
    metrics: dict[str, float] = {}
    while step < stop_at:
        out_step = runner.train_step(iterator)
        step += 1
        for k in acc:
            acc[k] += out_step[k]
        runner.seconds.assign(seconds0 + time.perf_counter() - wall0)
        bar.update(1)
        if on_step is not None:
            on_step(step)
        # fix the step count of a time budget once the step time is known
        if time_budget and not bool(runner.budget_fixed.numpy()):
            if step - start == 2:
                calib_t0 = time.perf_counter()
            elif calib_t0 is not None and step - start == 2 + CALIBRATION_STEPS:
                per_step = (time.perf_counter() - calib_t0) / CALIBRATION_STEPS
                total = _budget_steps(time_budget, float(runner.seconds.numpy()), per_step,
                                      step, steps_per_epoch, runner.global_batch, n_held,
                                      recipe.eval_every_epochs, total)
                runner.total_steps.assign(total)
                runner.budget_fixed.assign(True)
                stop_at = total if max_steps is None else min(total, max_steps)
                bar.total = total
                bar.refresh()
        if step % log_every == 0 or step == stop_at:
            dt = max(time.perf_counter() - interval_start, 1e-9)
            n = max(acc["count"], 1.0)
            lr = float(runner.lr())
            row = {"loss": acc["loss"] / n, "top1": acc["top1"] / n, "top5": acc["top5"] / n,
                   "lr": lr, "images_per_sec": acc["count"] / dt}
            with writers["train"].as_default(step=step):
                for k, v in row.items():
                    _scalar(k, v, step)
            bar.set_postfix(loss=f"{row['loss']:.3f}", top1=f"{row['top1']:.3f}", lr=f"{lr:.3g}",
                            ips=f"{row['images_per_sec']:.0f}")
            metrics.update({f"train_{k}": v for k, v in row.items()})
            acc = {k: 0.0 for k in acc}
            interval_start = time.perf_counter()
        final = step >= total
        do_eval = step % eval_every == 0 or final
        if do_eval:
            res = runner.evaluate(held_out())
            with writers["held_out"].as_default(step=step):
                _scalar("top1", res["top1"], step)
                _scalar("top5", res["top5"], step)
            history.append({"step": step, "epoch": step / steps_per_epoch,
                            "seconds": float(runner.seconds.numpy()),
                            "train_loss": metrics.get("train_loss"),
                            "train_top1": metrics.get("train_top1"),
                            "held_out_top1": res["top1"], "held_out_top5": res["top5"],
                            "lr": metrics.get("train_lr")})
            bar.write(f"step {step}/{total} epoch {step / steps_per_epoch:.2f}: held-out top-1 "
                      f"{res['top1']:.4f} top-5 {res['top5']:.4f} ({res['count']} images)")
            metrics.update({"held_out_top1": res["top1"], "held_out_top5": res["top5"],
                            "held_out_images": res["count"]})
        due = (checkpoint_every is not None and step % checkpoint_every == 0) or (
            checkpoint_every is None and (do_eval or time.perf_counter() - last_ckpt
                                          > 60 * checkpoint_minutes))
        if due or final or step == stop_at:
            manager.save(checkpoint_number=step)
            rundir.write_history(out, history)
            last_ckpt = time.perf_counter()
    bar.close()
    for w in writers.values():
        w.flush()
    finished = step >= total
    model_dir = None
    if finished:
        model_dir = _save_final(runner, out, recipe, request, source, metrics, steps_per_epoch,
                                step, seed)
        rundir.write_run(out, {"status": "finished", "request": request, "notes": recipe.notes,
                               "policy": policy, "replicas": runner.strategy.num_replicas_in_sync,
                               "step": step, "total_steps": total, "metrics": metrics,
                               "seconds": float(runner.seconds.numpy())})
    return TrainResult(out, model_dir, step, total, finished, start, metrics, history)


def _scalar(name: str, value: float, step: int) -> None:
    """A TensorBoard scalar through the core summary op (no ``tensorboard`` package needed)."""
    import tensorflow as tf
    from tensorflow.core.framework import summary_pb2

    meta = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"))
    tf.summary.write(name, tf.constant(float(value), tf.float32), step=step, metadata=meta)


def _budget_steps(budget: float, used: float, per_step: float, step: int, steps_per_epoch: int,
                  global_batch: int, n_held: int, eval_every_epochs: float, cap: int) -> int:
    """Total steps that fit ``budget`` seconds given the measured step time (eval included)."""
    eval_share = EVAL_COST * n_held / (eval_every_epochs * steps_per_epoch * global_batch)
    left = max(budget - used, 0.0) * 0.97  # keep a margin for the final save
    steps = step + int(left / (per_step * (1.0 + eval_share)))
    return int(max(step + 1, min(cap, steps)))


def _save_final(runner: TrainStep, out: Path, recipe: Recipe, request: dict[str, Any],
                source: Any, metrics: dict[str, float], steps_per_epoch: int, step: int,
                seed: int) -> Path:
    from mhzoo.weights import save_pretrained

    runner.load_ema_into_eval_model()
    model = runner.eval_model
    training = {
        "recipe": recipe.to_dict(), "steps": step, "epochs": step / steps_per_epoch,
        "global_batch": runner.global_batch, "seed": seed,
        "data": {"kind": source.kind, "root": source.root, "num_examples": source.num_examples,
                 "held_out": recipe.held_out, "split_seed": seed,
                 "limit_train": request["data"]["limit_train"],
                 "limit_held_out": request["data"]["limit_held_out"]},
        "stride_plan": recipe.stride_plan, "metrics": metrics,
        "fine_tuned_from": request.get("weights"), "ema_decay": recipe.ema_decay,
    }
    cfg = {"input_size": [recipe.image_size, recipe.image_size, 3], "interpolation": "bilinear",
           "crop_pct": recipe.crop_fraction if recipe.augmentation == "resnet" else 1.0,
           "eval_transform": recipe.augmentation, "training": training,
           "source": "trained with mhzoo train"}
    prior = getattr(model, "pretrained_cfg", None)
    if prior is None:
        model.pretrained_cfg = {"architecture": request["architecture"]}
    return save_pretrained(model, out / rundir.MODEL, label_names=list(source.label_names),
                           pretrained_cfg=cfg, force=(out / rundir.MODEL).exists())
