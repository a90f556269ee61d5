"""The TuNAS search loop: supernet + controller + reward, one ``tf.distribute`` step, resumable.

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
   *deployment* decoding (:class:`mhzoo.search.search_cost.InGraphCost`), then the reward
   (:func:`mhzoo.search.rewards.make_reward`: eq. 6, 7 or 8);
5. the controller: the baseline takes the replicas' mean reward, each replica's advantage
   ``R_k - b`` scales its gradient of ``-log pi``, and Adam gets the mean of those gradients and
   the mean of their squares across replicas (``Controller.apply_gradients``).

:func:`run_search` runs a whole search into a run folder (:mod:`mhzoo.search.result`):
checkpoints every ``checkpoint_every`` steps (``tf.train.CheckpointManager``: the state file is
replaced atomically, so a SIGKILL leaves the previous checkpoint in force; a rerun resumes from
it, and the data streams restart at the step's position, so a resumed search equals an
uninterrupted one), TensorBoard scalars, a tqdm bar, and at the end ``search_result.json`` and
two pictures. :func:`controller_only_search` runs the controller alone against a constant
accuracy (the latency-only sanity check).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from mhzoo.search import result as result_lib
from mhzoo.search.search_config import SearchConfig, get_search_preset
from mhzoo.search.search_cost import (
    InGraphCost,
    load_cost_models,
    model_digest,
    read_reference,
)
from mhzoo.search.training import data as data_lib

__all__ = ["SearchOutcome", "SupernetSearch", "controller_only_search", "prepare_search",
           "run_search"]


# ---------------------------------------------------------------------------- the step
class SupernetSearch:
    """Supernet, controller, optimizer and the compiled distributed search step.

    Build it inside nothing: it enters ``strategy.scope()`` itself.

    Args:
        space: the proxy decoding of the space (the supernet's input size / strides / width).
        cost: in-graph deployment cost (:class:`InGraphCost`).
        reward: a :class:`mhzoo.search.rewards.Reward` over ``cost``.
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
        import keras
        import tensorflow as tf
        from mhzoo.search.controller import Controller
        from mhzoo.search.supernet import Supernet
        from mhzoo.search.training.recipes import learning_rate

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
            if recipe.optimizer == "rmsprop":
                opt = keras.optimizers.RMSprop(learning_rate=lr, rho=recipe.rho,
                                               momentum=recipe.momentum, epsilon=recipe.epsilon)
            else:
                opt = keras.optimizers.SGD(learning_rate=lr, momentum=recipe.momentum,
                                           nesterov=recipe.nesterov)
            self.optimizer = opt
            self.variables = list(self.supernet.trainable_variables)
            self.optimizer.build(self.variables)
        self.decayed = [_is_kernel(v) for v in self.variables]
        self._step = tf.function(self._step_fn)

    def checkpoint(self) -> Any:
        """A ``tf.train.Checkpoint`` of everything a resumed search needs (the sampling and
        the data streams are keyed by the step: no other random state)."""
        import tensorflow as tf

        return tf.train.Checkpoint(supernet=self.supernet, controller=self.controller,
                                   optimizer=self.optimizer, step=self.step)

    # -- replica side ----------------------------------------------------------------------
    def _replica(self, x: Any, y: Any, xv: Any, yv: Any) -> dict[str, Any]:
        import keras
        import tensorflow as tf

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
        import tensorflow as tf

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
    Returns the :class:`~mhzoo.search.controller.Controller`; its ``final_genotype()`` is the
    argmax architecture.
    """
    import tensorflow as tf
    from mhzoo.search.controller import Controller

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


@dataclass
class _Prepared:
    """Everything checked before the run folder is touched."""

    space: Any
    deploy_space: Any
    models: dict[str, Any]
    reward_name: str
    factors: dict[str, float] | None
    latency_target: float | None
    mn_norm_target: float
    weights: dict[str, float] | None
    source: Any
    mask: np.ndarray
    config: SearchConfig
    limits: tuple[int | None, int | None]
    n_train: int
    n_valid: int


def _parse_reward_name(reward: str, targets: Sequence[str]) -> str:
    if not isinstance(reward, str) or not reward:
        raise ValueError(f"reward must be avg, max or single:TARGET, got {reward!r}")
    mode, _, which = reward.partition(":")
    if mode in ("avg", "max") and not which:
        return reward
    if mode == "single" and which:
        if which not in targets:
            raise ValueError(f"reward {reward!r} names target {which!r}, which has no cost "
                             f"model; targets with one: {', '.join(targets)}")
        return reward
    raise ValueError(f"unknown reward {reward!r}; expected avg, max or single:TARGET")


def prepare_search(*, space: str, space_options: Mapping[str, Any] | None = None,
                   reward: str, cost_models: Sequence[str | os.PathLike] | str | os.PathLike,
                   data: Any, preset: str | SearchConfig = "cpu-proxy",
                   overrides: Mapping[str, Any] | None = None,
                   factors: Mapping[str, float] | None = None,
                   latency_target: float | None = None, mn_norm_target: float = 1.0,
                   weights: Mapping[str, float] | None = None, seed: int = 0,
                   limit_train: int | None = None, limit_held_out: int | None = None
                   ) -> _Prepared:
    """Check every input of a search (no TensorFlow graph, nothing written); ``ValueError``
    (one line) on the first bad one."""
    from mhzoo.search.spaces import get_space

    config = preset if isinstance(preset, SearchConfig) else get_search_preset(preset)
    if overrides:
        config = config.replace(**dict(overrides))
    base = get_space(space, **dict(space_options or {}))
    models = load_cost_models(cost_models, base)
    targets = list(models)
    reward_name = _parse_reward_name(reward, targets)
    deploy = next(iter(models.values())).space
    proxy = deploy.variant(**config.proxy) if config.proxy else deploy
    for key in proxy.STRUCTURAL:
        if proxy.options.get(key) != base.options.get(key):
            raise ValueError(f"space option {key}={base.options.get(key)!r} differs from the "
                             f"cost models' {key}={proxy.options.get(key)!r}")
    if factors is None:
        for src in ([cost_models] if isinstance(cost_models, str | os.PathLike)
                    else list(cost_models)):
            ref = read_reference(src)
            if ref is not None:
                factors = {t: float(v) for t, v in ref["factors_ms"].items() if t in models}
                break
    if factors is not None:
        factors = {str(t): float(v) for t, v in factors.items()}
        missing = [t for t in targets if t not in factors]
        if missing and reward_name.partition(":")[0] in ("avg", "max"):
            raise ValueError(f"no MN-Norm factor (reference latency) for target(s) "
                             f"{', '.join(missing)}")
        for t, v in factors.items():
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"MN-Norm factor of {t!r} must be > 0, got {v!r}")
        factors = {t: factors[t] for t in targets if t in factors}
    elif reward_name.partition(":")[0] in ("avg", "max"):
        raise ValueError(f"an {reward_name} reward needs the MN-Norm factors C_i (the "
                         "reference model's latency per target): give --norm-factors "
                         + ",".join(f"{t}=MS" for t in targets)
                         + " or put reference_ms.json beside the cost models")
    if not (isinstance(mn_norm_target, int | float) and math.isfinite(mn_norm_target)
            and mn_norm_target > 0):
        raise ValueError(f"MN-Norm target must be > 0, got {mn_norm_target!r}")
    if reward_name.startswith("single:") and latency_target is None and not (
            factors and reward_name.partition(":")[2] in factors):
        raise ValueError(f"reward {reward_name} needs a latency target (--latency-target MS) "
                         "or the reference latency of that target")
    source = data if isinstance(data, data_lib.DataSource) else data_lib.open_data(data)
    mask = data_lib.held_out_mask(source.num_examples, config.shared.held_out, seed)
    n_train = int((~mask).sum()) if limit_train is None else min(int((~mask).sum()),
                                                                  limit_train)
    n_valid = int(mask.sum()) if limit_held_out is None else min(int(mask.sum()),
                                                                 limit_held_out)
    if n_train < 1 or n_valid < 1:
        raise ValueError(f"data {source.root} leaves {n_train} training and {n_valid} held-out "
                         "images; the search needs both")
    return _Prepared(proxy, deploy, models, reward_name, factors, latency_target,
                     float(mn_norm_target), dict(weights) if weights else None, source, mask,
                     config, (limit_train, limit_held_out), n_train, n_valid)


def _make_reward(p: _Prepared, cost: InGraphCost) -> Any:
    from mhzoo.search.rewards import make_reward

    ref = None if p.factors is None else {t: v * p.mn_norm_target for t, v in p.factors.items()}
    if p.reward_name.startswith("single:"):
        which = p.reward_name.partition(":")[2]
        ref = None if ref is None or which not in ref else {which: p.factors[which]}
    return make_reward(p.reward_name, cost, cost.targets, reference_ms=ref,
                       weights=p.weights, latency_target=p.latency_target,
                       beta=p.config.beta, kind=p.config.reward_kind)


def _request(p: _Prepared, seed: int, replicas: int, global_batch: int,
             total_steps: int) -> dict[str, Any]:
    return {
        "space": p.space.name,
        "space_options": {k: list(v) if isinstance(v, tuple) else v
                          for k, v in p.space.options.items()},
        "deploy_options": {k: list(v) if isinstance(v, tuple) else v
                           for k, v in p.deploy_space.options.items()},
        "reward": {"name": p.reward_name, "mn_norm_target": p.mn_norm_target,
                   "latency_target": p.latency_target, "weights": p.weights},
        "targets": list(p.models), "cost_models": model_digest(p.models),
        "factors": p.factors,
        "data": {"root": p.source.root, "kind": p.source.kind,
                 "num_examples": p.source.num_examples, "limit_train": p.limits[0],
                 "limit_held_out": p.limits[1]},
        "config": p.config.to_dict(), "seed": seed, "replicas": replicas,
        "global_batch": global_batch, "total_steps": total_steps,
    }


# ---------------------------------------------------------------------------- streams
def _valid_stream(dist: Any, p: _Prepared, batch: int, start_step: int) -> Any:
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
def run_search(*, space: str = "multi_hardware", space_options: Mapping[str, Any] | None = None,
               reward: str, cost_models: Sequence[str | os.PathLike] | str | os.PathLike,
               data: Any, out_dir: str | os.PathLike, preset: str | SearchConfig = "cpu-proxy",
               overrides: Mapping[str, Any] | None = None,
               factors: Mapping[str, float] | None = None, latency_target: float | None = None,
               mn_norm_target: float = 1.0, weights: Mapping[str, float] | None = None,
               strategy: str | Any = "default", tpu: str | None = None, seed: int = 0,
               limit_train: int | None = None, limit_held_out: int | None = None,
               max_steps: int | None = None, deterministic: bool = False,
               progress: bool = True, plots: bool = True,
               on_step: Callable[[int], None] | None = None) -> SearchOutcome:
    """Run (or resume) a search into the run folder ``out_dir``.

    Args:
        space, space_options: the search space (structural options must match the cost
            models'; the decodings come from the cost models and the preset's ``proxy``).
        reward: ``"avg"`` (eq. 7), ``"max"`` (eq. 8) or ``"single:TARGET"`` (eq. 6).
        cost_models: a folder (or files) of linear cost models, one per target.
        data: TFRecord shard folder, image-folder tree or ``DataSource``.
        out_dir: run folder (new, empty, or this search's own folder to resume).
        preset: ``"cpu-proxy"``, ``"imagenet-tpu"`` or a :class:`SearchConfig`.
        overrides: :class:`SearchConfig` fields to change (``steps``, ``global_batch`` ...;
            ``shared`` / ``proxy`` as dicts).
        factors: MN-Norm factors ``C_i`` (ms; default the cost folder's reference_ms.json).
        latency_target: ``L0`` (ms) of a single-hardware reward (default: ``C_i``).
        mn_norm_target: MN-Norm target of avg / max rewards (the paper: 1).
        weights: per-target importance (section 5.2, case 2).
        strategy: ``default`` / ``mirrored`` / ``multi_worker`` / ``tpu`` or a strategy.
        seed: controller sampling, supernet initial weights, held-out split and data order.
        limit_train, limit_held_out: use only that many images (tests, tiny runs).
        max_steps: stop (resumably) after this step without finishing.
        deterministic: ``enable_op_determinism`` (bitwise-equal resumes).
        progress: tqdm bar on stderr.
        plots: write the probability and architecture PNGs at the end.
        on_step: callback ``f(step)`` after every step (tests).

    Raises:
        ValueError: bad space, reward, cost models, data or run folder; nothing is written.
    """
    import keras
    import tensorflow as tf
    from mhzoo.search.training.strategy import make_strategy

    p = prepare_search(space=space, space_options=space_options, reward=reward,
                       cost_models=cost_models, data=data, preset=preset, overrides=overrides,
                       factors=factors, latency_target=latency_target,
                       mn_norm_target=mn_norm_target, weights=weights, seed=seed,
                       limit_train=limit_train, limit_held_out=limit_held_out)
    out = Path(out_dir)
    result_lib.check_search_dir(out, None)
    dist = make_strategy(strategy, tpu=tpu) if isinstance(strategy, str) else strategy
    replicas = dist.num_replicas_in_sync
    global_batch = p.config.batch(replicas)
    valid_batch = global_batch * p.config.rl_batch_multiplier
    steps_per_epoch = p.n_train // global_batch
    if steps_per_epoch < 1:
        raise ValueError(f"the training split has {p.n_train} images, fewer than one global "
                         f"batch of {global_batch}; use a smaller batch")
    total = p.config.total_steps(p.n_train, global_batch)
    request = _request(p, seed, replicas, global_batch, total)
    existing = result_lib.check_search_dir(out, request)
    if existing and existing.get("status") == "finished" and (out / result_lib.RESULT_FILE
                                                              ).is_file():
        res = result_lib.read_result(out / result_lib.RESULT_FILE)
        return SearchOutcome(out, out / result_lib.RESULT_FILE, total, total, True, total, res,
                             _read_history(out))
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(seed)
    tf.random.set_seed(None)  # the data pipeline seeds itself per epoch (see training.loop)
    cost = InGraphCost(p.models)
    rew = _make_reward(p, cost)
    scales = None
    if p.factors is not None and len(p.factors) == len(cost.targets):
        from mhzoo.benchmarks.normalization import mn_norm_scales

        scales = mn_norm_scales(p.factors, p.weights)
    search = SupernetSearch(p.space, cost, rew, p.config, dist,
                            num_classes=p.source.num_classes, global_batch=global_batch,
                            total_steps=total, steps_per_epoch=steps_per_epoch,
                            norm_scales=scales, seed=seed)
    out.mkdir(exist_ok=True)
    if existing is None:
        result_lib.write_run(out, {"status": "running", "request": request,
                                   "notes": p.config.notes})
    return _loop(search, p, out, request, dist, seed=seed, global_batch=global_batch,
                 valid_batch=valid_batch, steps_per_epoch=steps_per_epoch, total=total,
                 max_steps=max_steps, progress=progress, plots=plots, on_step=on_step)


def _read_history(out: Path, up_to: int | None = None) -> list[dict[str, Any]]:
    import json

    f = out / result_lib.HISTORY
    if not f.is_file():
        return []
    try:
        rows = json.loads(f.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return []
    return [r for r in rows if up_to is None or r.get("step", 0) <= up_to]


def _write_history(out: Path, rows: list[dict[str, Any]]) -> None:
    import json

    from mhzoo.atomic import atomic_write_text

    atomic_write_text(out / result_lib.HISTORY, json.dumps(rows, indent=1) + "\n")


def _scalar(name: str, value: float, step: int) -> None:
    """A TensorBoard scalar through the core summary op (no ``tensorboard`` package needed)."""
    import tensorflow as tf
    from tensorflow.core.framework import summary_pb2

    meta = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"))
    tf.summary.write(name, tf.constant(float(value), tf.float32), step=step, metadata=meta)


def _loop(search: SupernetSearch, p: _Prepared, out: Path, request: dict[str, Any], dist: Any,
          *, seed: int, global_batch: int, valid_batch: int, steps_per_epoch: int, total: int,
          max_steps: int | None, progress: bool, plots: bool,
          on_step: Callable[[int], None] | None) -> SearchOutcome:
    import tensorflow as tf
    from tqdm import tqdm

    ckpt = search.checkpoint()
    manager = tf.train.CheckpointManager(ckpt, str(out / result_lib.CHECKPOINTS), max_to_keep=2)
    if manager.latest_checkpoint:
        ckpt.restore(manager.latest_checkpoint).assert_existing_objects_matched()
    start = int(search.step.numpy())
    history = _read_history(out, up_to=start)
    r = p.config.shared
    train_ds = data_lib.distribute(
        dist, p.source, global_batch=global_batch, mask=~p.mask, training=True, seed=seed,
        image_size=r.image_size, augmentation=r.augmentation, crop_fraction=r.crop_fraction,
        pad=r.pad, start_epoch=start // steps_per_epoch, skip_batches=start % steps_per_epoch,
        batches_per_epoch=steps_per_epoch, limit=p.limits[0])
    train_it = iter(train_ds)
    valid_it = iter(_valid_stream(dist, p, valid_batch, start))
    writer = tf.summary.create_file_writer(str(out / result_lib.TENSORBOARD))
    stop_at = total if max_steps is None else min(total, max_steps)
    bar = tqdm(total=total, initial=start, unit="step", disable=not progress,
               dynamic_ncols=True, mininterval=1.0 if os.isatty(2) else 30.0,
               desc=f"search {p.reward_name}")
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
                        _scalar(k, row[k], step)
                for t, v in row["latency_ms"].items():
                    _scalar(f"latency_ms/{t}", v, step)
                for path, probs in zip(paths, search.controller.probabilities()):
                    for c, v in enumerate(probs):
                        _scalar(f"probability/{path}/{c}", float(v), step)
            bar.set_postfix(R=f"{row['reward']:.3f}", A=f"{row['accuracy']:.3f}",
                            cost=f"{row['cost']:.3f}", H=f"{row['entropy']:.1f}")
            acc, n_acc = {}, 0
        if step % p.config.checkpoint_every == 0 or step == stop_at:
            manager.save(checkpoint_number=step)
            _write_history(out, history)
    bar.close()
    writer.flush()
    if step < total:
        return SearchOutcome(out, None, step, total, False, start, None, history)
    res = _result(search, p, request, history)
    if plots:
        from mhzoo.search.search_plots import plot_architecture, plot_probabilities

        plot_probabilities(search.controller, p.space, out / "probabilities.png")
        plot_architecture(result_lib.result_spec(res), out / "architecture.png",
                          title=f"search {p.reward_name}: {res['spec']['name']}")
    path = result_lib.write_result(out / result_lib.RESULT_FILE, res)
    result_lib.write_run(out, {"status": "finished", "request": request, "step": step,
                               "notes": p.config.notes,
                               "seconds": history[-1]["seconds"] if history else None})
    return SearchOutcome(out, path, step, total, True, start, res, history)


def _result(search: SupernetSearch, p: _Prepared, request: dict[str, Any],
            history: list[dict[str, Any]]) -> dict[str, Any]:
    """The result dict of a finished search (see :mod:`mhzoo.search.result`)."""
    from mhzoo.search.cost import MultiHardwareCost

    proxy_g = search.controller.final_genotype(p.space)
    deploy_g = p.deploy_space.genotype(proxy_g.indices)
    spec = p.deploy_space.decode(deploy_g)
    lat = {t: float(m.predict_one(deploy_g)) for t, m in p.models.items()}
    predicted: dict[str, Any] = {"latency_ms": lat}
    if p.factors is not None and len(p.factors) == len(p.models):
        row = MultiHardwareCost(list(p.models.values()), p.factors, p.weights).predict(
            [deploy_g])[0]
        predicted.update(mn_norm_avg=row["mn_norm_avg"], mn_norm_max=row["mn_norm_max"])
    probs = [{"path": d.path, "tag": d.tag, "choices": [_plain(c) for c in d.choices],
              "probabilities": [round(float(v), 6) for v in pr]}
             for d, pr in zip(p.space.decisions, search.controller.probabilities())]
    last = history[-1] if history else {}
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
    }


def _plain(v: Any) -> Any:
    if isinstance(v, tuple | list):
        return [_plain(x) for x in v]
    if v is None or isinstance(v, bool | int | float | str):
        return v
    return str(v)
