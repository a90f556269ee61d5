"""The TuNAS search loop: :func:`run_search` runs (or resumes) a whole search into a run folder
(:mod:`mhzoo.search.runs`) with the compiled step of :mod:`mhzoo.search.tunas.step`.

Checkpoints every ``checkpoint_every`` steps (``tf.train.CheckpointManager``: the state file is
replaced atomically, so a SIGKILL leaves the previous checkpoint in force; a rerun resumes from
the newest intact one, and the data streams restart at the step's position, so a resumed search
equals an uninterrupted one), TensorBoard scalars, ``history.json``, a tqdm bar, and at the end
``search_result.json`` (:mod:`mhzoo.search.result`) and two pictures.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from mhzoo.benchmarks.normalization import mn_norm_scales
from mhzoo.search import runs
from mhzoo.search.cost.multi import MultiHardwareCost
from mhzoo.search.result import RESULT_FILE, read_result, result_spec, write_result
from mhzoo.search.training import data as data_lib
from mhzoo.search.training.strategy import make_strategy
from mhzoo.search.tunas import convergence
from mhzoo.search.tunas.plots import plot_architecture, plot_probabilities
from mhzoo.search.tunas.request import PreparedSearch, SearchRequest, prepare_search

__all__ = ["SearchOutcome", "SearchRequest", "prepare_search", "run_search"]


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
def _valid_stream(dist: Any, p: PreparedSearch, batch: int, start_step: int) -> Any:
    """The RL validation batches: the held-out split, evaluation preprocessing, repeated in a
    fixed order; a resumed run restarts at its step's position (single input pipeline)."""
    replicas = dist.num_replicas_in_sync
    per_replica = batch // replicas
    r = p.config.shared

    def fn(ctx: Any) -> Any:
        ds = data_lib.make_dataset(
            p.source, mask=p.mask, training=False, batch_size=per_replica,
            image_size=r.image_size, augmentation=r.augmentation,
            crop_fraction=r.crop_fraction, pad=r.pad, num_shards=ctx.num_input_pipelines,
            shard_index=ctx.input_pipeline_id, limit=p.limits[1])
        local = replicas // ctx.num_input_pipelines
        n = p.n_valid // ctx.num_input_pipelines
        per_pass = max(1, math.ceil(n / per_replica))
        return ds.repeat().skip((start_step * local) % per_pass)

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
    runs.check_run_dir(out, runs.SEARCH, None)
    dist = make_strategy(r.strategy, tpu=r.tpu) if isinstance(r.strategy, str) else r.strategy
    replicas = dist.num_replicas_in_sync
    global_batch = p.config.batch(replicas)
    valid_batch = global_batch * p.config.rl_batch_multiplier
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
        dist, p.source, global_batch=global_batch, mask=~p.mask, training=True, seed=seed,
        image_size=rec.image_size, augmentation=rec.augmentation, crop_fraction=rec.crop_fraction,
        pad=rec.pad, start_epoch=start // steps_per_epoch, skip_batches=start % steps_per_epoch,
        batches_per_epoch=steps_per_epoch, limit=p.limits[0])
    train_it = iter(train_ds)
    valid_it = iter(_valid_stream(dist, p, valid_batch, start))
    writer = tf.summary.create_file_writer(str(out / runs.TENSORBOARD))
    stop_at = total if max_steps is None else min(total, max_steps)
    bar = tqdm(total=total, initial=start, unit="step", disable=not r.progress,
               dynamic_ncols=True, mininterval=1.0 if os.isatty(2) else 30.0,
               desc=f"search {r.reward}")
    every = p.config.log_every
    acc: dict[str, Any] = {}
    n_acc = 0
    t0 = time.perf_counter()
    seconds0 = float(history[-1]["seconds"]) if history else 0.0
    step = start
    targets = search.targets
    paths = [d.path for d in p.space.decisions]
    while step < stop_at:
        x, y = next(train_it)
        xv, yv = next(valid_it)
        m = search.run_step(x, y, xv, yv)
        step += 1
        n_acc += 1
        for k in ("reward", "accuracy", "cost", "mn_norm_avg", "mn_norm_max", "entropy",
                  "loss", "latency"):
            acc[k] = acc.get(k, 0.0) + m[k]
        bar.update(1)
        if on_step is not None:
            on_step(step)
        if step % every == 0 or step == stop_at:
            row = {k: (v / n_acc).tolist() for k, v in acc.items()}
            lat = row.pop("latency")
            row = {"step": step, **row, "latency_ms": dict(zip(targets, lat)),
                   "baseline": float(m["baseline"]), "rl_lr": float(m["rl_lr"]),
                   "lr": float(m["lr"]), "seconds": seconds0 + time.perf_counter() - t0}
            history.append(row)
            with writer.as_default(step=step):
                for k in ("reward", "accuracy", "cost", "mn_norm_avg", "mn_norm_max",
                          "entropy", "loss", "baseline", "rl_lr", "lr"):
                    if row[k] == row[k]:  # not NaN
                        runs.tensorboard_scalar(k, row[k], step)
                for t, v in row["latency_ms"].items():
                    runs.tensorboard_scalar(f"latency_ms/{t}", v, step)
                for path, probs in zip(paths, search.controller.probabilities()):
                    for c, v in enumerate(probs):
                        runs.tensorboard_scalar(f"probability/{path}/{c}", float(v), step)
            bar.set_postfix(R=f"{row['reward']:.3f}", A=f"{row['accuracy']:.3f}",
                            cost=f"{row['cost']:.3f}", H=f"{row['entropy']:.1f}")
            acc, n_acc = {}, 0
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
    path = write_result(out / RESULT_FILE, res)
    runs.write_run(out, runs.SEARCH, {"status": "finished", "request": request, "step": step,
                               "notes": p.config.notes,
                               "seconds": history[-1]["seconds"] if history else None})
    return SearchOutcome(out, path, step, total, True, start, res, history)


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
        "factors_ms": p.factors, "predicted": predicted, "probabilities": probs,
        "search": {"steps": search.total_steps, "global_batch": search.global_batch,
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
