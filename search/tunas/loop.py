"""The TuNAS search loop: :func:`run_search` runs (or resumes) a whole search into a run folder
(:mod:`mhzoo.search.runs`) with the compiled step of :mod:`mhzoo.search.tunas.step`.

Checkpoints every ``checkpoint_every`` steps (``tf.train.CheckpointManager``: the state file is
replaced atomically, so a SIGKILL leaves the previous checkpoint in force; a rerun resumes from
the newest intact one, and the data streams restart at the step's position, so a resumed search
equals an uninterrupted one), TensorBoard scalars, ``history.json``, a tqdm bar, and at the end
``search_result.json`` (:mod:`mhzoo.search.result`) and three pictures.

Data: the shared weights train on ``splits.train``, the controller's reward reads
``splits.search_valid`` (rule ``mhzoo.splits/v1``, sizes and seed from the preset's recipe); the
test split is never opened. ``run.json`` and ``search_result.json`` record
``splits.describe()``; a resumed run's record is checked against the data first. The RL delay
steps are train-only and read no validation data (the validation stream opens at the first RL
step). Every ``log_every`` steps the history row and TensorBoard get the convergence snapshot
(``convergence/mean_top_active``, ``convergence/argmax_cost``, ``convergence/samples_cost_mean``
over 256 samples of the distribution, ``top/<decision>``, ``entropy/<decision>``) beside the
reward and baseline; ``convergence.png`` draws them at the end.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from mhzoo.benchmarks.normalization import mn_norm_scales
from mhzoo.search import runs
from mhzoo.search.cost.multi import MultiHardwareCost
from mhzoo.search.result import RESULT_FILE, read_result, result_spec, write_result
from mhzoo.search.training import data as data_lib
from mhzoo.search.training.strategy import make_strategy
from mhzoo.search.tunas import convergence
from mhzoo.search.tunas.plots import plot_architecture, plot_convergence, plot_probabilities
from mhzoo.search.tunas.request import (
    PreparedSearch,
    SearchRequest,
    check_split_record,
    prepare_search,
    simulated_targets,
)

__all__ = ["CONVERGENCE_PNG", "SearchOutcome", "SearchRequest", "prepare_search", "run_search"]

#: the convergence picture in the run folder (:func:`mhzoo.search.tunas.plots.plot_convergence`)
CONVERGENCE_PNG = "convergence.png"


# ---------------------------------------------------------------------------- setup
@dataclass
class SearchOutcome:
    """What :func:`run_search` did."""

    out_dir: Path
    result_path: Path | None
    step: int
    total_steps: int
    finished: bool
    resumed_from: int
    result: dict[str, Any] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)


# ---------------------------------------------------------------------------- streams
def _valid_stream(dist: Any, p: PreparedSearch, batch: int, rl_steps_done: int) -> Any:
    """The RL validation batches: the search-validation split, evaluation preprocessing, its
    images (no padding) repeated in a fixed order and batched ``batch`` across replicas (each
    replica's batch is cut into ``samples_per_step`` chunks, one per sampled architecture). A
    resumed run restarts at the position after ``rl_steps_done`` RL steps (only RL steps read
    it; single input pipeline: exact)."""
    import tensorflow as tf  # lazy: no TensorFlow at import time

    replicas = dist.num_replicas_in_sync
    per_replica = batch // replicas
    r = p.config.shared

    def fn(ctx: Any) -> Any:
        ds = data_lib.make_dataset(
            p.source, mask=p.valid_mask, training=False, batch_size=per_replica,
            image_size=r.image_size, augmentation=r.augmentation,
            crop_fraction=r.crop_fraction, pad=r.pad, num_shards=ctx.num_input_pipelines,
            shard_index=ctx.input_pipeline_id, limit=p.limits[1])
        local = replicas // ctx.num_input_pipelines
        n = max(1, p.n_valid // ctx.num_input_pipelines)
        ds = ds.unbatch().filter(lambda x, y: y >= 0).repeat()
        ds = ds.skip((rl_steps_done * local * per_replica) % n)
        return ds.batch(per_replica, drop_remainder=True).prefetch(tf.data.AUTOTUNE)

    return dist.distribute_datasets_from_function(fn)


# ---------------------------------------------------------------------------- the run
def run_search(request: SearchRequest | None = None, **fields: Any) -> SearchOutcome:
    """Run (or resume) a search into its run folder (``request.out_dir``).

    Takes a :class:`~mhzoo.search.tunas.request.SearchRequest`, or its fields
    (``run_search(reward="max", cost_models=..., data=..., out_dir=...)``).

    Raises:
        ValueError: bad space, reward, cost models, data or run folder (nothing is written
            then), or an image that does not decode (named; ``run.json`` says ``failed``).
    """
    import keras  # function-level: TensorFlow loads only once the search starts
    import tensorflow as tf  # lazy: no TensorFlow at import time

    from mhzoo.search.tunas.ingraph import InGraphCost
    from mhzoo.search.tunas.step import SearchStep

    if request is not None and fields:
        raise ValueError("give a SearchRequest alone, or its fields")
    r = request if request is not None else SearchRequest(**fields)
    if r.out_dir is None:
        raise ValueError("the search needs a run folder (out_dir)")
    p = prepare_search(r)
    out = Path(r.out_dir)
    prior = runs.check_run_dir(out, runs.SEARCH, None)
    if prior is not None:  # a resumed run: its recorded splits must still be the data's
        check_split_record(p, prior.get("request"))
    dist = make_strategy(r.strategy, tpu=r.tpu) if isinstance(r.strategy, str) else r.strategy
    replicas = dist.num_replicas_in_sync
    global_batch = p.config.batch(replicas)
    valid_batch = global_batch * p.config.rl_batch_multiplier * p.config.samples_per_step
    steps_per_epoch = p.n_train // global_batch
    if steps_per_epoch < 1:
        raise ValueError(f"the training split has {p.n_train} images, fewer than one global "
                         f"batch of {global_batch}; use a smaller batch")
    total = p.config.total_steps(p.n_train, global_batch)
    record = p.record(replicas, global_batch, total)
    existing = runs.check_run_dir(out, runs.SEARCH, record)
    if existing and existing.get("status") == "finished" and (out / RESULT_FILE).is_file():
        res = read_result(out / RESULT_FILE)
        return SearchOutcome(out, out / RESULT_FILE, total, total, True, total, res,
                             runs.read_history(out))
    if r.deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(r.seed)
    tf.random.set_seed(None)  # the data pipeline seeds itself per epoch (see training.loop)
    cost = InGraphCost(p.models)
    rew = p.make_reward(cost)
    scales = None
    if p.factors is not None and len(p.factors) == len(cost.targets):
        scales = mn_norm_scales(p.factors, r.weights)
    search = SearchStep(p.space, cost, rew, p.config, dist, num_classes=p.source.num_classes,
                        global_batch=global_batch, total_steps=total,
                        steps_per_epoch=steps_per_epoch, norm_scales=scales, seed=r.seed)
    out.mkdir(exist_ok=True)
    head = {"request": record, "notes": p.config.notes}
    if existing is None or existing.get("status") != "running":
        runs.write_run(out, runs.SEARCH, {"status": "running", **head})
    try:
        return _loop(search, p, out, record, dist, global_batch=global_batch,
                     valid_batch=valid_batch, steps_per_epoch=steps_per_epoch, total=total)
    except tf.errors.InvalidArgumentError as exc:
        runs.write_run(out, runs.SEARCH, {"status": "failed", **head,
                                          "error": " ".join(str(exc.message).split())[:300]})
        bad = data_lib.find_undecodable(p.source, None)
        if bad is None:
            raise
        raise ValueError(f"image {bad} does not decode (not a JPEG / PNG or truncated); remove "
                         "or replace it, then rerun to resume") from None


_ROW_KEYS = ("reward", "accuracy", "cost", "mn_norm_avg", "mn_norm_max", "entropy", "loss")


def _finite(v: Any) -> bool:
    return bool(np.all(np.isfinite(v)))


def _loop(search: Any, p: PreparedSearch, out: Path, request: dict[str, Any], dist: Any,
          *, global_batch: int, valid_batch: int, steps_per_epoch: int, total: int
          ) -> SearchOutcome:
    import tensorflow as tf  # lazy: no TensorFlow at import time

    r = p.request
    seed, max_steps, on_step = r.seed, r.max_steps, r.on_step
    manager = runs.restore_checkpoint(search.checkpoint(), out)
    start = int(search.step.numpy())
    history = runs.read_history(out, up_to_step=start)
    rec = p.config.shared
    train_ds = data_lib.distribute(
        dist, p.source, global_batch=global_batch, mask=p.train_mask, training=True, seed=seed,
        image_size=rec.image_size, augmentation=rec.augmentation, crop_fraction=rec.crop_fraction,
        pad=rec.pad, start_epoch=start // steps_per_epoch, skip_batches=start % steps_per_epoch,
        batches_per_epoch=steps_per_epoch, limit=p.limits[0])
    train_it = iter(train_ds)
    valid_it = None  # opened at the first RL step: the delay reads no validation data
    writer = tf.summary.create_file_writer(str(out / runs.TENSORBOARD))
    stop_at = total if max_steps is None else min(total, max_steps)
    bar = tqdm(total=total, initial=start, unit="step", disable=not r.progress,
               dynamic_ncols=True, mininterval=1.0 if os.isatty(2) else 30.0,
               desc=f"search {r.reward}")
    every = p.config.log_every
    sums: dict[str, Any] = {}
    counts: dict[str, int] = {}
    t0 = time.perf_counter()
    seconds0 = float(history[-1]["seconds"]) if history else 0.0
    step = start
    targets = search.targets
    paths = [d.path for d in p.space.decisions]
    watch = _ConvergenceWatch(p)
    while step < stop_at:
        x, y = next(train_it)
        if search.is_rl_step(step):
            if valid_it is None:
                valid_it = iter(_valid_stream(dist, p, valid_batch,
                                              max(0, step - search.delay_steps)))
            xv, yv = next(valid_it)
            m = search.run_step(x, y, xv, yv)
        else:
            m = search.run_step(x, y)
        step += 1
        for k in (*_ROW_KEYS, "latency"):
            if _finite(m[k]):
                sums[k] = sums.get(k, 0.0) + m[k]
                counts[k] = counts.get(k, 0) + 1
        bar.update(1)
        if on_step is not None:
            on_step(step)
        if step % every == 0 or step == stop_at:
            row: dict[str, Any] = {"step": step}
            for k in _ROW_KEYS:
                row[k] = float(sums[k] / counts[k]) if counts.get(k) else None
            lat = (sums["latency"] / counts["latency"]).tolist() if counts.get("latency") \
                else [None] * len(targets)
            baseline = float(m["baseline"]) if _finite(m["baseline"]) else None
            probs = search.controller.probabilities()
            snap, rep = watch(probs, step, search.is_rl_step(step - 1))
            row = {**row, "latency_ms": dict(zip(targets, lat)), "baseline": baseline,
                   "rl_lr": float(m["rl_lr"]), "lr": float(m["lr"]),
                   **({} if snap is None else {k: snap[k] for k in (
                       "mean_top_active", "argmax_cost", "samples_cost_mean")}),
                   "seconds": seconds0 + time.perf_counter() - t0}
            history.append(row)
            with writer.as_default(step=step):
                for k in (*_ROW_KEYS, "baseline", "rl_lr", "lr"):
                    if row[k] is not None:
                        runs.tensorboard_scalar(k, row[k], step)
                for t, v in row["latency_ms"].items():
                    if v is not None:
                        runs.tensorboard_scalar(f"latency_ms/{t}", v, step)
                for path, pr in zip(paths, probs):
                    for c, v in enumerate(pr):
                        runs.tensorboard_scalar(f"probability/{path}/{c}", float(v), step)
                if snap is not None:
                    for k in ("mean_top_active", "argmax_cost", "samples_cost_mean"):
                        runs.tensorboard_scalar(f"convergence/{k}", snap[k], step)
                    for d in rep["decisions"]:
                        runs.tensorboard_scalar(f"top/{d['path']}", d["top"], step)
                        runs.tensorboard_scalar(f"entropy/{d['path']}", d["entropy"], step)
            post = {"cost": f"{row['cost']:.3f}" if row["cost"] is not None else "-"}
            if row["reward"] is not None:
                post.update(R=f"{row['reward']:.3f}", A=f"{row['accuracy']:.3f}")
            if snap is not None:
                post["top"] = f"{snap['mean_top_active']:.2f}"
            bar.set_postfix(**post)
            sums, counts = {}, {}
        if step % p.config.checkpoint_every == 0 or step == stop_at:
            manager.save(checkpoint_number=step)
            runs.write_history(out, history)
    bar.close()
    writer.flush()
    if step < total:
        return SearchOutcome(out, None, step, total, False, start, None, history)
    res = _result(search, p, request, history)
    if r.plots:
        plot_probabilities(search.controller, p.space, out / "probabilities.png")
        plot_architecture(result_spec(res), out / "architecture.png",
                          title=f"search {r.reward}: {res['spec']['name']}")
        if res.get("convergence") is not None:
            plot_convergence(history, res["convergence"], out / CONVERGENCE_PNG)
    path = write_result(out / RESULT_FILE, res)
    runs.write_run(out, runs.SEARCH, {"status": "finished", "request": request, "step": step,
                               "notes": p.config.notes,
                               "seconds": history[-1]["seconds"] if history else None})
    return SearchOutcome(out, path, step, total, True, start, res, history)


class _ConvergenceWatch:
    """The convergence snapshot every ``log_every`` steps (256 samples of the distribution;
    computed once for the delay, when the controller does not move); ``(None, None)`` for a
    reward without a cost target."""

    SAMPLES = 256

    def __init__(self, p: PreparedSearch) -> None:
        self.decisions = p.deploy_space.decisions
        try:
            self.fn, self.target, self.measure = convergence.search_cost(p)
        except ValueError:
            self.fn = None
        self._frozen: tuple[Any, Any] | None = None

    def __call__(self, probs: list[np.ndarray], step: int, moved: bool) -> tuple[Any, Any]:
        if self.fn is None:
            return None, None
        if not moved and self._frozen is not None:
            return self._frozen
        rep = convergence.report(probs, self.decisions, self.fn, self.target,
                                 samples=self.SAMPLES, seed=step)
        out = (convergence.snapshot(rep), rep)
        if not moved:
            self._frozen = out
        return out


def _result(search: Any, p: PreparedSearch, request: dict[str, Any],
            history: list[dict[str, Any]]) -> dict[str, Any]:
    """The result dict of a finished search (see :mod:`mhzoo.search.result`)."""
    proxy_g = search.controller.final_genotype(p.space)
    deploy_g = p.deploy_space.genotype(proxy_g.indices)
    spec = p.deploy_space.decode(deploy_g)
    lat = {t: float(m.predict_one(deploy_g)) for t, m in p.models.items()}
    predicted: dict[str, Any] = {"latency_ms": lat}
    if p.factors is not None and len(p.factors) == len(p.models):
        row = MultiHardwareCost(list(p.models.values()), p.factors, p.request.weights).predict(
            [deploy_g])[0]
        predicted.update(mn_norm_avg=row["mn_norm_avg"], mn_norm_max=row["mn_norm_max"])
    probs = [{"path": d.path, "tag": d.tag, "choices": [_plain(c) for c in d.choices],
              "probabilities": [round(float(v), 6) for v in pr]}
             for d, pr in zip(p.space.decisions, search.controller.probabilities())]
    last = history[-1] if history else {}
    try:  # the verdict of every search (regenerate's too), not only the CLI's
        verdict: dict[str, Any] | None = convergence.search_report(
            p, search.controller.probabilities())
    except ValueError:  # a reward without a latency target has no cost to converge to
        verdict = None
    return {
        "spec": spec.to_dict(),
        "space": {"name": p.deploy_space.name, "options": request["deploy_options"]},
        "genotype": deploy_g.to_dict(), "genotype_string": deploy_g.to_string(),
        "proxy_genotype": proxy_g.to_dict(),
        "reward": request["reward"], "targets": list(p.models),
        "simulated_targets": simulated_targets(p.models),
        "factors_ms": p.factors, "predicted": predicted, "probabilities": probs,
        "splits": p.splits.describe(),
        "search": {"steps": search.total_steps, "global_batch": search.global_batch,
                   "samples_per_step": search.samples_per_step,
                   "replicas": request["replicas"], "seconds": last.get("seconds"),
                   "final_reward": last.get("reward"), "final_accuracy": last.get("accuracy")},
        "run": request,
        **({"convergence": verdict} if verdict is not None else {}),
    }


def _plain(v: Any) -> Any:
    if isinstance(v, tuple | list):
        return [_plain(x) for x in v]
    if v is None or isinstance(v, bool | int | float | str):
        return v
    return str(v)
