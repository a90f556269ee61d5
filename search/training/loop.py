"""The training loop: :func:`train` runs one resumable training (or fine-tuning) job into a run
folder (:mod:`mhzoo.search.runs`) with the compiled step of :mod:`mhzoo.search.training.step`.

* checkpoints (``tf.train.CheckpointManager``; the state file is replaced atomically, so a
  killed save leaves the previous checkpoint in force) every ``checkpoint_every`` steps, at
  every evaluation and at the end: model, optimizer slots, EMA, step, total steps, seconds
  trained; the data position is ``step`` (epoch ``step // steps_per_epoch``, batch
  ``step % steps_per_epoch``): the pipeline is deterministic per epoch, so a resumed run sees
  the batches an uninterrupted one sees;
* TensorBoard scalars (loss, lr, train / test top-1 / top-5, images/s), a tqdm bar with ETA,
  ``history.json`` for the curve, and at the end ``save_pretrained`` into ``DIR/model``.

The data is split by rule ``mhzoo.splits/v1`` (:mod:`mhzoo.search.training.splits`) with the
recipe's ``test``, ``search_valid`` and ``split_seed``: the run trains on ``train`` (or on
``final_train`` = train + search_valid, the retraining of a searched model) and reports
``test_top1`` / ``test_top5`` on ``test``; nothing here selects or stops on the test split. The
splits' record (``Splits.describe()``) is in ``run.json`` and in the checkpoint's
``config.json``; a resumed run whose data no longer gives the same splits is refused.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from mhzoo.builder import resolve_spec
from mhzoo.search import runs
from mhzoo.search.training import data as data_lib
from mhzoo.search.training.modeling import build_training_model
from mhzoo.search.training.recipes import Recipe
from mhzoo.search.training.request import TrainRequest
from mhzoo.search.training.splits import Splits, check_record
from mhzoo.search.training.step import TrainStep, evaluate_model
from mhzoo.search.training.strategy import make_strategy, mixed_precision_policy
from mhzoo.weights import save_pretrained

__all__ = ["TrainRequest", "TrainResult", "TrainStep", "evaluate_model", "make_run_splits",
           "train"]

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


# ----------------------------------------------------------------------------- the job
def _request(name: str, spec: Any, width: float | None, recipe: Recipe, source: Any,
             seed: int, num_classes: int, weights: Any, freeze_backbone: bool,
             global_batch: int, limits: tuple[int | None, int | None], splits: Splits,
             final_train: bool) -> dict[str, Any]:
    rec = recipe.to_dict()
    rec.pop("notes", None)
    return {"architecture": name, "spec": spec.to_dict(), "width": width,
            "num_classes": num_classes, "recipe": rec,
            "data": {**source.describe(), "limit_train": limits[0], "limit_test": limits[1],
                     "splits": splits.describe(), "train_split": _train_split(final_train)},
            "seed": seed, "weights": None if weights is None else str(weights),
            "freeze_backbone": freeze_backbone, "global_batch": global_batch}


def _train_split(final_train: bool) -> str:
    return "final_train" if final_train else "train"


def make_run_splits(source: Any, recipe: Recipe) -> Splits:
    """The splits of a run on ``source`` with ``recipe`` (its ``test``, ``search_valid`` and
    ``split_seed``; the data's own evaluation split is the test split when it has one)."""
    return data_lib.splits_for(source, recipe.test, recipe.search_valid, recipe.split_seed)


def _check_resumed_splits(out: Path, source: Any) -> None:
    """A run folder's recorded splits must still be those of the data (one-line error)."""
    try:
        old = runs.read_run(out, runs.TRAIN) or {}
    except ValueError:
        return  # check_run_dir names a damaged record
    req = old.get("request") if isinstance(old.get("request"), dict) else {}
    rec = (req.get("data") or {}).get("splits") if isinstance(req.get("data"), dict) else None
    if isinstance(rec, dict):
        own = source.eval_source
        try:
            check_record(rec, source.num_examples,
                         own_test=None if own is None else own.num_examples,
                         own_test_digest=None if own is None else own.digest())
        except ValueError as exc:
            raise ValueError(f"cannot resume {out}: {exc}") from None


def train(request: TrainRequest | Any, data: Any = None, out_dir: Any = None,
          **options: Any) -> TrainResult:
    """Train (or fine-tune) a model into its run folder; rerun to resume.

    Takes a :class:`~mhzoo.search.training.request.TrainRequest`, or its fields:
    ``train(model, data, out_dir, preset=..., ...)`` builds the request.

    Raises:
        ValueError: bad data, preset, weights or output folder (nothing is written then), or
            an image that does not decode (named; the run record says ``failed``).
    """
    if not isinstance(request, TrainRequest):
        request = TrainRequest(request, data, out_dir, **options)
    elif data is not None or out_dir is not None or options:
        raise ValueError("give a TrainRequest alone, or the model, data and run folder")
    import keras  # lazy: no TensorFlow at import time
    import tensorflow as tf  # lazy: no TensorFlow at import time

    r = request
    recipe = r.recipe
    base = resolve_spec(r.model)  # an unknown model name fails before the data is read
    source = r.data if isinstance(r.data, data_lib.DataSource) else data_lib.open_data(
        r.data, labels_file=r.labels_file)
    if r.num_classes is not None and r.num_classes != source.num_classes:
        raise ValueError(f"labels/classes mismatch: --num-classes {r.num_classes} but the data "
                         f"has {source.num_classes} classes")
    if source.num_classes < 2:
        raise ValueError(f"data {source.root} has {source.num_classes} class; training needs at "
                         "least 2")
    num_classes = source.num_classes
    splits = make_run_splits(source, recipe)
    limits = (r.limit_train, r.limit_held_out)
    train_data = data_lib.split_source(source, splits, _train_split(r.final_train))
    test_data = data_lib.split_source(source, splits, "test")
    n_train = int(train_data[1].sum())
    n_held = test_data[0].num_examples if test_data[1] is None else int(test_data[1].sum())
    if limits[0] is not None:
        n_train = min(n_train, limits[0])
    if limits[1] is not None:
        n_held = min(n_held, limits[1])
    out = Path(r.out_dir)
    runs.check_run_dir(out, runs.TRAIN, None)  # refuse a foreign folder before building
    _check_resumed_splits(out, source)
    dist = make_strategy(r.strategy, tpu=r.tpu) if isinstance(r.strategy, str) else r.strategy
    replicas = dist.num_replicas_in_sync
    global_batch = r.per_replica_batch * replicas if r.per_replica_batch else \
        recipe.global_batch
    if global_batch != recipe.global_batch:
        recipe = recipe.replace(global_batch=global_batch)
    steps_per_epoch = n_train // global_batch
    if steps_per_epoch < 1:
        raise ValueError(f"the training split has {n_train} images, fewer than one global batch "
                         f"of {global_batch}; use a smaller batch")
    planned_total = max(1, math.ceil(recipe.epochs * steps_per_epoch))
    if r.deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(r.seed)  # initial weights and dropout masks follow the run seed
    # ... but no TF global seed: the data pipeline seeds its shuffles per epoch itself (and a
    # global seed breaks tf.data's shuffle with a tensor seed inside flat_map)
    tf.random.set_seed(None)
    policy = mixed_precision_policy(r.mixed_precision, dist)
    previous_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        with dist.scope():
            kwargs = dict(image_size=recipe.image_size, num_classes=num_classes,
                          dropout=recipe.effective_dropout, stride_plan=recipe.stride_plan,
                          width=r.width, divisible_by=r.divisible_by, weights=r.weights,
                          freeze_backbone=r.freeze_backbone, bn_momentum=recipe.bn_momentum,
                          sync_bn=r.sync_bn)
            model = build_training_model(base, **kwargs)
            eval_model = build_training_model(base, **{**kwargs, "sync_bn": False})
        record = _request(base.name, model.arch_spec, r.width, recipe, source, r.seed,
                          num_classes, r.weights, r.freeze_backbone, global_batch, limits,
                          splits, r.final_train)
        existing = runs.check_run_dir(out, runs.TRAIN, record)
        if existing and existing.get("status") == "finished" and (out / runs.MODEL).is_dir():
            return _finished_result(out, existing)
        runner = TrainStep(model, eval_model, recipe, dist, global_batch=global_batch,
                           steps_per_epoch=steps_per_epoch, total_steps=planned_total,
                           loss_scale=policy == "mixed_float16")
        out.mkdir(exist_ok=True)
        head = {"request": record, "notes": recipe.notes, "policy": policy,
                "replicas": replicas}
        if existing is None or existing.get("status") != "running":
            runs.write_run(out, runs.TRAIN, {"status": "running", **head})
        try:
            return _run(runner, source, train_data, test_data, out, recipe, record, r,
                        steps_per_epoch=steps_per_epoch, n_held=n_held, limits=limits,
                        policy=policy)
        except tf.errors.InvalidArgumentError as exc:
            runs.write_run(out, runs.TRAIN, {"status": "failed", **head,
                                             "error": " ".join(str(exc.message).split())[:300]})
            bad = data_lib.find_undecodable(source, None)
            if bad is None and source.eval_source is not None:
                bad = data_lib.find_undecodable(source.eval_source, None)
            if bad is None:
                raise
            raise ValueError(f"image {bad} does not decode (not a JPEG / PNG or truncated); "
                             "remove or replace it, then rerun to resume") from None
    finally:
        keras.config.set_dtype_policy(previous_policy)


def _finished_result(out: Path, run: dict[str, Any]) -> TrainResult:
    hist = runs.read_history(out)
    return TrainResult(out, out / runs.MODEL, int(run.get("step", 0)),
                       int(run.get("total_steps", 0)), True, int(run.get("step", 0)),
                       dict(run.get("metrics", {})), hist)


def _run(runner: TrainStep, source: Any, train_data: tuple[Any, np.ndarray | None],
         test_data: tuple[Any, np.ndarray | None], out: Path, recipe: Recipe,
         request: dict[str, Any], r: TrainRequest, *, steps_per_epoch: int, n_held: int,
         limits: tuple[int | None, int | None], policy: str) -> TrainResult:
    import tensorflow as tf  # lazy: no TensorFlow at import time

    seed, checkpoint_every, max_steps = r.seed, r.checkpoint_every, r.max_steps
    time_budget, log_every, on_step = r.time_budget, r.log_every, r.on_step
    manager = runs.restore_checkpoint(runner.checkpoint(), out)
    start = int(runner.step.numpy())
    history = runs.read_history(out, up_to_step=start)
    dist = runner.strategy
    common = dict(image_size=recipe.image_size, augmentation=recipe.augmentation,
                  crop_fraction=recipe.crop_fraction, pad=recipe.pad)
    train_ds = data_lib.distribute(
        dist, train_data[0], global_batch=runner.global_batch, mask=train_data[1],
        training=True, seed=seed,
        start_epoch=start // steps_per_epoch, skip_batches=start % steps_per_epoch,
        batches_per_epoch=steps_per_epoch, cache=r.cache, limit=limits[0], **common)
    eval_batch = max(runner.global_batch, 256)
    eval_batch -= eval_batch % dist.num_replicas_in_sync

    def test_split() -> Any:
        return data_lib.distribute(dist, test_data[0], global_batch=eval_batch,
                                   mask=test_data[1], training=False, limit=limits[1], **common)

    writers = {k: tf.summary.create_file_writer(str(out / runs.TENSORBOARD / k))
               for k in ("train", "test")}
    eval_every = max(1, round(recipe.eval_every_epochs * steps_per_epoch))
    iterator = iter(train_ds)
    total = int(runner.total_steps.numpy())
    stop_at = total if max_steps is None else min(total, max_steps)
    bar = tqdm(total=total, initial=start, unit="step", disable=not r.progress, dynamic_ncols=True,
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
                    runs.tensorboard_scalar(k, v, step)
            bar.set_postfix(loss=f"{row['loss']:.3f}", top1=f"{row['top1']:.3f}", lr=f"{lr:.3g}",
                            ips=f"{row['images_per_sec']:.0f}")
            metrics.update({f"train_{k}": v for k, v in row.items()})
            acc = {k: 0.0 for k in acc}
            interval_start = time.perf_counter()
        final = step >= total
        do_eval = step % eval_every == 0 or final
        if do_eval:
            res = runner.evaluate(test_split())
            with writers["test"].as_default(step=step):
                runs.tensorboard_scalar("top1", res["top1"], step)
                runs.tensorboard_scalar("top5", res["top5"], step)
            history.append({"step": step, "epoch": step / steps_per_epoch,
                            "seconds": float(runner.seconds.numpy()),
                            "train_loss": metrics.get("train_loss"),
                            "train_top1": metrics.get("train_top1"),
                            "test_top1": res["top1"], "test_top5": res["top5"],
                            "lr": metrics.get("train_lr")})
            bar.write(f"step {step}/{total} epoch {step / steps_per_epoch:.2f}: test top-1 "
                      f"{res['top1']:.4f} top-5 {res['top5']:.4f} ({res['count']} images)")
            metrics.update({"test_top1": res["top1"], "test_top5": res["top5"],
                            "test_images": res["count"]})
        due = (checkpoint_every is not None and step % checkpoint_every == 0) or (
            checkpoint_every is None and (do_eval or time.perf_counter() - last_ckpt
                                          > 60 * r.checkpoint_minutes))
        if due or final or step == stop_at:
            manager.save(checkpoint_number=step)
            runs.write_history(out, history)
            last_ckpt = time.perf_counter()
    bar.close()
    for w in writers.values():
        w.flush()
    finished = step >= total
    model_dir = None
    if finished:
        model_dir = _save_final(runner, out, recipe, request, source, metrics, steps_per_epoch,
                                step, seed)
        runs.write_run(out, runs.TRAIN, {"status": "finished", "request": request,
                                         "notes": recipe.notes,
                               "policy": policy, "replicas": runner.strategy.num_replicas_in_sync,
                               "step": step, "total_steps": total, "metrics": metrics,
                               "seconds": float(runner.seconds.numpy())})
    return TrainResult(out, model_dir, step, total, finished, start, metrics, history)


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
    runner.load_ema_into_eval_model()
    model = runner.eval_model
    training = {
        "recipe": recipe.to_dict(), "steps": step, "epochs": step / steps_per_epoch,
        "global_batch": runner.global_batch, "seed": seed,
        "data": {"kind": source.kind, "root": source.root, "num_examples": source.num_examples,
                 "test": recipe.test, "search_valid": recipe.search_valid,
                 "split_seed": recipe.split_seed, "train_split": request["data"]["train_split"],
                 "limit_train": request["data"]["limit_train"],
                 "limit_test": request["data"]["limit_test"]},
        "splits": request["data"]["splits"],
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
    return save_pretrained(model, out / runs.MODEL, label_names=list(source.label_names),
                           pretrained_cfg=cfg, force=(out / runs.MODEL).exists())
