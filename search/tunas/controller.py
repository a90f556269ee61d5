"""The TuNAS REINFORCE controller (search-algorithm.md section 2): logits per decision, masks.

It knows nothing of Keras or of rewards' meaning: it holds one logit vector per decision of a
space (zeros: uniform), samples one-hot masks, and takes a reward.

* **Sampling** (section 2.1): every decision independently, ``softmax(theta_j)`` (Gumbel-max
  with stateless random numbers seeded by ``(seed, step, replica)``, so each replica samples its
  own architecture and a resumed run draws what an uninterrupted one draws).
* **Warm-up** (section 2.2): each OP-tag decision is replaced, with probability
  ``p_op(t) = 1 - min(t / W_op, 1)``, by the uniform mask (all ops run, averaged); each
  FILTERS-tag decision is forced, with ``p_f(t)``, to one-hot on its widest choice. The
  log-probability of a decision is ``log p`` if replaced, else ``log(1 - p) + log p_j(a_j)``.
* **Hierarchical** log-probability and entropy: a decision counts only when every ancestor's
  mask puts weight on a choice it hangs under (``Decision.parent`` / ``parent_choices``).
* **Update** (sections 2.3-2.4): baseline ``b`` = zero-debiased EMA (momentum 0.95) of the
  replicas' mean reward, updated before the advantage ``R - b`` is taken; loss
  ``-stopgrad(R - b) * log pi(a)``; Adam (beta1 0, beta2 0.999, eps 1e-8) with the mean of the
  replicas' gradients and the mean of their *squared* gradients for the second moment; the
  entropy term ``-lambda_H * H`` as a separate plain SGD step; learning rate
  ``base * 1[t >= D] * 10^((t - D) / (T - D))`` (0 for the first ``D`` steps). During the
  delay the update changes nothing at all: unlike TuNAS, whose Adam second moments and baseline
  accumulate from step 0, the baseline and Adam (moments and bias-correction count) start at
  the first RL step, so the search skips the delay's validation forwards (issue 18).
* Many samples per step: :meth:`Controller.reinforce_step` takes every sample of a step (one
  per replica in TuNAS; ``samples_per_step`` per replica here) with one reward each.
* The final architecture is the argmax of every decision.

All state (logits, Adam second moments and step, baseline accumulators) is ``tf.Variable``s of
this ``tf.Module``, so ``tf.train.Checkpoint(controller=c)`` saves and restores it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import tensorflow as tf

__all__ = ["Controller", "Sample", "rl_learning_rate", "warmup_probability"]

# search-algorithm.md sections 2.3-2.4 and 5 (TuNAS mobile_architecture_search.py defaults)
BASE_LR = 3e-4  # x B/256 in TuNAS: the caller scales it
BASELINE_MOMENTUM = 0.95
ADAM_BETA2, ADAM_EPS = 0.999, 1e-8
DELAY_FRACTION = 0.25  # 0.5 for the paper's long (360 epoch) search
WARMUP_FRACTION = 0.25
_TINY = 1e-30


def _fraction(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    return float(value)


def rl_learning_rate(step: Any, total_steps: int, base: float = BASE_LR,
                     delay_steps: int | None = None) -> tf.Tensor:
    """TuNAS RL learning rate ``base * 1[t >= D] * 10^(relu(t - D) / max(1, T - D))``.

    ``delay_steps`` defaults to ``int(0.25 * total_steps)``. Works on Python numbers and tensors.
    """
    delay = int(DELAY_FRACTION * total_steps) if delay_steps is None else int(delay_steps)
    t = tf.cast(step, tf.float32)
    on = tf.cast(t >= float(delay), tf.float32)
    progress = tf.nn.relu((t - float(delay)) / float(max(1, total_steps - delay)))
    return base * on * tf.pow(10.0, progress)


def warmup_probability(step: Any, warmup_steps: int) -> tf.Tensor:
    """``1 - min(t / W, 1)``: the probability of a warm-up mask at step ``t`` (0 when ``W = 0``)."""
    if warmup_steps <= 0:
        return tf.zeros([], tf.float32)
    t = tf.cast(step, tf.float32)
    return 1.0 - tf.minimum(t / float(warmup_steps), 1.0)


class Sample(NamedTuple):
    """One sampled architecture (all tensors; a named tuple, so ``tf.function`` returns it).

    Attributes:
        masks: one float vector per decision (one-hot, uniform for a replaced OP decision, or
            one-hot on the widest choice for a replaced FILTERS decision).
        indices: int32 ``[num_decisions]``, the categorical draw of every decision.
        replaced: bool ``[num_decisions]``, True where a warm-up mask replaced the draw.
        step: the step it was drawn for (scalar tensor), which fixes the warm-up probabilities.
    """

    masks: tuple[tf.Tensor, ...]
    indices: tf.Tensor
    replaced: tf.Tensor
    step: tf.Tensor


class Controller(tf.Module):
    """Independent categorical controller over the decisions of a space (see module docstring).

    Args:
        space: a :class:`mhzoo.search.Space` (or anything with ``decisions``; ``genotype`` is
            needed only by :meth:`final_genotype`).
        total_steps: search length T (fixes the delay and warm-up lengths).
        learning_rate: base RL learning rate (TuNAS: ``3e-4 * global_batch / 256``).
        delay_fraction: RL frozen for the first ``int(delay_fraction * T)`` steps.
        op_warmup_fraction, filters_warmup_fraction: warm-up lengths as fractions of T; each
            must not exceed ``delay_fraction`` (TuNAS requires it).
        baseline_momentum: EMA momentum of the reward baseline.
        entropy_weight: lambda_H of the optional entropy bonus (TuNAS default 0).
        seed: seed of the stateless sampling.
    """

    def __init__(self, space: Any, *, total_steps: int, learning_rate: float = BASE_LR,
                 delay_fraction: float = DELAY_FRACTION,
                 op_warmup_fraction: float = WARMUP_FRACTION,
                 filters_warmup_fraction: float = WARMUP_FRACTION,
                 baseline_momentum: float = BASELINE_MOMENTUM, entropy_weight: float = 0.0,
                 seed: int = 0, name: str = "controller") -> None:
        super().__init__(name=name)
        decisions = list(getattr(space, "decisions", space))
        if not decisions:
            raise ValueError("the controller needs at least one decision")
        if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps < 1:
            raise ValueError(f"total_steps must be a positive integer, got {total_steps!r}")
        for label, v in (("learning_rate", learning_rate), ("entropy_weight", entropy_weight)):
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) \
                    or v < 0:
                raise ValueError(f"{label} must be a finite number >= 0, got {v!r}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed must be an integer, got {seed!r}")
        delay_fraction = _fraction("delay_fraction", delay_fraction)
        op_w = _fraction("op_warmup_fraction", op_warmup_fraction)
        f_w = _fraction("filters_warmup_fraction", filters_warmup_fraction)
        for label, w in (("op", op_w), ("filters", f_w)):
            if w > delay_fraction:
                raise ValueError(f"{label} warm-up ({w:g} of the steps) must not outlast the RL "
                                 f"delay ({delay_fraction:g}): the controller would learn from "
                                 "warm-up masks")
        m = _fraction("baseline_momentum", baseline_momentum)
        if m >= 1:
            raise ValueError(f"baseline_momentum must be < 1, got {baseline_momentum!r}")

        self._space = space
        self.decisions = decisions
        self.total_steps = total_steps
        self.base_lr = float(learning_rate)
        self.delay_steps = int(delay_fraction * total_steps)
        self.op_warmup_steps = int(op_w * total_steps)
        self.filters_warmup_steps = int(f_w * total_steps)
        self.momentum = m
        self.entropy_weight = float(entropy_weight)
        self.seed = seed
        self.sizes = [len(d.choices) for d in decisions]
        self._offsets = np.concatenate([[0], np.cumsum(self.sizes)]).astype(int)
        for i, d in enumerate(decisions):
            if d.parent is not None and not 0 <= d.parent < i:
                raise ValueError(f"decision {d.path!r}: its parent must come before it")
        self._widest = [_widest(d.choices) for d in decisions]
        self._is_op = [d.tag == "op" for d in decisions]
        self._is_filters = [d.tag == "filters" for d in decisions]
        with tf.name_scope(name):
            self.logits = [tf.Variable(tf.zeros([n]), name=f"logits_{i}", trainable=True)
                           for i, n in enumerate(self.sizes)]
            self.adam_v = [tf.Variable(tf.zeros([n]), name=f"adam_v_{i}", trainable=False)
                           for i, n in enumerate(self.sizes)]
            self.adam_t = tf.Variable(0, dtype=tf.int64, name="adam_t", trainable=False)
            self.baseline_num = tf.Variable(0.0, name="baseline_num", trainable=False)
            self.baseline_den = tf.Variable(0.0, name="baseline_den", trainable=False)

    # ------------------------------------------------------------------ schedules
    def learning_rate(self, step: Any) -> tf.Tensor:
        """The RL learning rate at ``step``."""
        return rl_learning_rate(step, self.total_steps, self.base_lr, self.delay_steps)

    def op_warmup_probability(self, step: Any) -> tf.Tensor:
        """``p_op(step)``."""
        return warmup_probability(step, self.op_warmup_steps)

    def filters_warmup_probability(self, step: Any) -> tf.Tensor:
        """``p_f(step)``."""
        return warmup_probability(step, self.filters_warmup_steps)

    def _tag_probabilities(self, step: Any) -> tf.Tensor:
        """Per decision: the warm-up replacement probability of its tag at ``step``."""
        p_op, p_f = self.op_warmup_probability(step), self.filters_warmup_probability(step)
        zero = tf.zeros([], tf.float32)
        return tf.stack([p_op if o else (p_f if f else zero)
                         for o, f in zip(self._is_op, self._is_filters)])

    # ------------------------------------------------------------------ sampling
    def _warm_mask(self, j: int, hot: tf.Tensor) -> tf.Tensor:
        """Decision ``j``'s warm-up mask: uniform (op), the widest choice (filters), else the
        draw ``hot`` itself."""
        n = self.sizes[j]
        if self._is_op[j]:
            return tf.fill([n], 1.0 / n)
        if self._is_filters[j]:
            return tf.one_hot(self._widest[j], n)
        return hot

    def probabilities(self) -> list[np.ndarray]:
        """Current ``softmax(theta_j)`` of every decision (numpy)."""
        return [tf.nn.softmax(v).numpy() for v in self.logits]

    def sample(self, step: Any, replica_id: Any = 0) -> Sample:
        """Draw masks for ``step`` (deterministic in ``(seed, step, replica_id)``).

        Call it inside ``strategy.run`` with the replica id
        (``tf.distribute.get_replica_context().replica_id_in_sync_group``) to give every
        replica its own architecture.
        """
        batch = self.sample_batch(step, [replica_id])
        return Sample(tuple(m[0] for m in batch.masks), batch.indices[0], batch.replaced[0],
                      batch.step)

    def sample_from_indices(self, indices: Sequence[int], step: Any = None) -> Sample:
        """A :class:`Sample` of fixed choices (no warm-up): e.g. to evaluate one genotype."""
        idx = [int(i) for i in indices]
        if len(idx) != len(self.sizes) or any(not 0 <= i < n for i, n in zip(idx, self.sizes)):
            raise ValueError(f"need {len(self.sizes)} indices within the choice counts, got "
                             f"{idx!r:.80}")
        masks = tuple(tf.one_hot(i, n) for i, n in zip(idx, self.sizes))
        step_t = tf.constant(self.total_steps if step is None else step, tf.int64)
        return Sample(masks, tf.constant(idx, tf.int32), tf.zeros([len(idx)], tf.bool), step_t)

    def sample_batch(self, step: Any, ids: Sequence[Any]) -> Sample:
        """The draws of ``sample(step, i)`` for every ``i`` in ``ids``, stacked: ``masks[j]``
        ``[S, n_j]``, ``indices`` / ``replaced`` ``[S, num_decisions]`` (one op per decision for
        all of them, not one per sample; the same draws, element for element)."""
        step_t = tf.cast(step, tf.int64)
        total = int(self._offsets[-1])
        us, coins = [], []
        for rid in ids:
            base = tf.stack([tf.constant(self.seed, tf.int64), tf.constant(0x5EA7C4, tf.int64)])
            base = tf.random.experimental.stateless_fold_in(base, step_t)
            base = tf.random.experimental.stateless_fold_in(base, tf.cast(rid, tf.int64))
            us.append(tf.random.stateless_uniform(
                [total], seed=tf.random.experimental.stateless_fold_in(base, 0),
                minval=1e-7, maxval=1.0))
            coins.append(tf.random.stateless_uniform(
                [len(self.sizes)], seed=tf.random.experimental.stateless_fold_in(base, 1)))
        gumbel = -tf.math.log(-tf.math.log(tf.stack(us)))
        replaced = tf.stack(coins) < self._tag_probabilities(step_t)[None, :]
        masks, indices = [], []
        for j, n in enumerate(self.sizes):
            g = gumbel[:, self._offsets[j]:self._offsets[j + 1]]
            idx = tf.argmax(tf.convert_to_tensor(self.logits[j])[None, :] + g, axis=1,
                            output_type=tf.int32)
            hot = tf.one_hot(idx, n)
            masks.append(tf.where(replaced[:, j:j + 1], self._warm_mask(j, hot), hot))
            indices.append(idx)
        return Sample(tuple(masks), tf.stack(indices, 1), replaced, step_t)

    def active_batch(self, batch: Sample) -> tf.Tensor:
        """float ``[S, num_decisions]``: :meth:`active` of every row of a stacked sample."""
        act: list[tf.Tensor] = []
        for d in self.decisions:
            if d.parent is None:
                act.append(tf.ones_like(batch.masks[0][:, 0]))
                continue
            m = batch.masks[d.parent]
            cover = tf.reduce_sum(tf.gather(m, list(d.parent_choices), axis=1), 1)
            act.append(act[d.parent] * tf.cast(cover > 0, tf.float32))
        return tf.stop_gradient(tf.stack(act, 1))

    def neg_log_prob_gradients(self, batch: Sample) -> list[tf.Tensor]:
        """Per row of a stacked sample, the gradient of ``-log pi(a)`` w.r.t. every logit vector
        (``[S, n_j]`` per decision), in closed form: ``active * (softmax - onehot(a))`` where the
        draw was kept, 0 where a warm-up mask replaced it (its ``log p`` has no logit in it);
        equal to :meth:`gradients` with advantage 1, without one tape per sample."""
        act = self.active_batch(batch) * (1.0 - tf.cast(batch.replaced, tf.float32))
        out = []
        for j, n in enumerate(self.sizes):
            p = tf.nn.softmax(self.logits[j])
            hot = tf.one_hot(batch.indices[:, j], n)
            out.append(act[:, j:j + 1] * (p[None, :] - hot))
        return out

    def log_prob_batch(self, batch: Sample) -> tf.Tensor:
        """``[S]``: :meth:`log_prob` of every row of a stacked sample."""
        p = self._tag_probabilities(batch.step)
        act = self.active_batch(batch)
        terms = []
        for j in range(len(self.sizes)):
            lp = tf.gather(tf.nn.log_softmax(self.logits[j]), batch.indices[:, j])
            kept = tf.math.log(tf.maximum(1.0 - p[j], _TINY)) + lp
            swapped = tf.math.log(tf.maximum(p[j], _TINY))
            terms.append(tf.where(batch.replaced[:, j], swapped, kept))
        return tf.reduce_sum(act * tf.stack(terms, 1), 1)

    def entropy_batch(self, batch: Sample) -> tf.Tensor:
        """``[S]``: the hierarchical entropy over the decisions each row activates."""
        hs = []
        for v in self.logits:
            lp = tf.nn.log_softmax(v)
            hs.append(-tf.reduce_sum(tf.exp(lp) * lp))
        return tf.reduce_sum(self.active_batch(batch) * tf.stack(hs)[None, :], 1)

    def sample_from_draw(self, indices: Any, replaced: Any, step: Any) -> Sample:
        """The :class:`Sample` of a draw given by its ``indices`` and ``replaced`` flags (what
        :meth:`sample` returned, e.g. gathered from the replicas): the same masks."""
        indices = tf.cast(indices, tf.int32)
        replaced = tf.cast(replaced, tf.bool)
        masks = []
        for j, n in enumerate(self.sizes):
            hot = tf.one_hot(indices[j], n)
            masks.append(tf.where(replaced[j], self._warm_mask(j, hot), hot))
        return Sample(tuple(masks), indices, replaced, tf.cast(step, tf.int64))

    # ------------------------------------------------------------------ log-prob / entropy
    def active(self, sample: Sample) -> tf.Tensor:
        """float ``[num_decisions]``: 1 where every ancestor's mask covers the decision."""
        act: list[tf.Tensor] = []
        for d in self.decisions:
            if d.parent is None:
                act.append(tf.ones([], tf.float32))
                continue
            m = sample.masks[d.parent]
            cover = tf.reduce_sum(tf.gather(m, list(d.parent_choices)))
            act.append(act[d.parent] * tf.cast(cover > 0, tf.float32))
        return tf.stop_gradient(tf.stack(act))

    def log_prob(self, sample: Sample) -> tf.Tensor:
        """Hierarchical log-probability of the sample (differentiable in the logits)."""
        p = self._tag_probabilities(sample.step)
        act = self.active(sample)
        terms = []
        for j in range(len(self.sizes)):
            lp = tf.nn.log_softmax(self.logits[j])[sample.indices[j]]
            kept = tf.math.log(tf.maximum(1.0 - p[j], _TINY)) + lp
            swapped = tf.math.log(tf.maximum(p[j], _TINY))
            terms.append(tf.where(sample.replaced[j], swapped, kept))
        return tf.reduce_sum(act * tf.stack(terms))

    def entropy(self, sample: Sample | None = None) -> tf.Tensor:
        """Hierarchical entropy (over the decisions the sample activates; all when ``None``)."""
        hs = []
        for v in self.logits:
            lp = tf.nn.log_softmax(v)
            hs.append(-tf.reduce_sum(tf.exp(lp) * lp))
        h = tf.stack(hs)
        if sample is None:
            return tf.reduce_sum(h)
        return tf.reduce_sum(self.active(sample) * h)

    # ------------------------------------------------------------------ update
    def update_baseline(self, mean_reward: Any, step: Any = None) -> tf.Tensor:
        """Fold the replicas' mean reward into the EMA; returns the debiased baseline.

        With ``step``, nothing is folded in during the RL delay (``step < delay_steps``).
        """
        r = tf.cast(mean_reward, tf.float32)
        num = self.momentum * self.baseline_num + (1 - self.momentum) * r
        den = self.momentum * self.baseline_den + (1 - self.momentum)
        if step is not None:
            on = self.rl_active(step)
            num = tf.where(on, num, tf.convert_to_tensor(self.baseline_num))
            den = tf.where(on, den, tf.convert_to_tensor(self.baseline_den))
        self.baseline_num.assign(num)
        self.baseline_den.assign(den)
        return self.baseline()

    def baseline(self) -> tf.Tensor:
        """The current debiased baseline (0 before any update)."""
        return tf.math.divide_no_nan(tf.convert_to_tensor(self.baseline_num),
                                     tf.convert_to_tensor(self.baseline_den))

    def gradients(self, sample: Sample, advantage: Any) -> list[tf.Tensor]:
        """Gradient of ``-stopgrad(advantage) * log pi(sample)`` w.r.t. every logit vector."""
        adv = tf.stop_gradient(tf.cast(advantage, tf.float32))
        with tf.GradientTape() as tape:
            loss = -adv * self.log_prob(sample)
        grads = tape.gradient(loss, self.logits)
        return [tf.zeros_like(v) if g is None else tf.convert_to_tensor(g)
                for g, v in zip(grads, self.logits)]

    def entropy_gradients(self, sample: Sample) -> list[tf.Tensor]:
        """Gradient of ``-entropy_weight * H(sample)`` (zeros when the weight is 0)."""
        if self.entropy_weight == 0:
            return [tf.zeros_like(v) for v in self.logits]
        with tf.GradientTape() as tape:
            loss = -self.entropy_weight * self.entropy(sample)
        grads = tape.gradient(loss, self.logits)
        return [tf.zeros_like(v) if g is None else g for g, v in zip(grads, self.logits)]

    def rl_active(self, step: Any) -> tf.Tensor:
        """bool scalar: is ``step`` past the RL delay (``step >= delay_steps``)."""
        return tf.cast(step, tf.int64) >= self.delay_steps

    def apply_gradients(self, mean_grads: Sequence[Any], mean_sq_grads: Sequence[Any],
                        step: Any, entropy_grads: Sequence[Any] | None = None) -> tf.Tensor:
        """One Adam step (beta1 0) from the replicas' mean gradient and mean squared gradient,
        then the plain SGD entropy step; returns the learning rate used.

        During the RL delay (``step < delay_steps``) nothing changes: no second-moment update,
        no step count (Adam's bias correction starts at the first RL step), no logit move.
        The gate is arithmetic (``tf.where``), so it works eagerly, in a ``tf.function`` and in
        a ``tf.distribute`` cross-replica context alike.
        """
        lr = self.learning_rate(step)
        on = self.rl_active(step)
        self.adam_t.assign_add(tf.cast(on, tf.int64))
        t = tf.maximum(tf.cast(self.adam_t, tf.float32), 1.0)
        lr_t = lr * tf.sqrt(1.0 - tf.pow(ADAM_BETA2, t))  # bias correction; 1 - beta1^t = 1
        for j, v in enumerate(self.logits):
            g = tf.cast(mean_grads[j], tf.float32)
            g2 = tf.cast(mean_sq_grads[j], tf.float32)
            new_v = ADAM_BETA2 * self.adam_v[j] + (1 - ADAM_BETA2) * g2
            self.adam_v[j].assign(tf.where(on, new_v, tf.convert_to_tensor(self.adam_v[j])))
            v.assign_sub(lr_t * g / (tf.sqrt(self.adam_v[j]) + ADAM_EPS))  # lr is 0 when off
            if entropy_grads is not None:
                v.assign_sub(lr * tf.cast(entropy_grads[j], tf.float32))
        return lr

    def reinforce_from_gradients(self, neg_logp_grads: Sequence[Any], rewards: Any, step: Any,
                                 entropy_grads: Sequence[Any] | None = None
                                 ) -> dict[str, tf.Tensor]:
        """The RL update from per-sample gradients of ``-log pi`` (what
        :meth:`reinforce_step` computes; a distributed step computes them on the replicas).

        ``neg_logp_grads[j]``: ``[S, n_j]``, sample ``k``'s gradient of ``-log pi(a_k)`` for
        decision ``j``; ``rewards``: ``[S]``; ``entropy_grads[j]``: ``[S, n_j]`` gradients of
        ``-entropy_weight * H`` (or ``None``). The baseline takes the mean reward, each sample's
        advantage ``R_k - b`` scales its gradient, Adam gets the mean over the samples of those
        and of their squares. Returns ``baseline``, ``advantage`` and ``learning_rate``.
        """
        r = tf.reshape(tf.cast(rewards, tf.float32), [-1])
        b = self.update_baseline(tf.reduce_mean(r), step)
        adv = r - b
        mean_g, mean_g2 = [], []
        for g in neg_logp_grads:
            ag = adv[:, None] * tf.cast(g, tf.float32)
            mean_g.append(tf.reduce_mean(ag, 0))
            mean_g2.append(tf.reduce_mean(ag * ag, 0))
        ent = None
        if entropy_grads is not None and self.entropy_weight:
            ent = [tf.reduce_mean(tf.cast(g, tf.float32), 0) for g in entropy_grads]
        lr = self.apply_gradients(mean_g, mean_g2, step, ent)
        return {"baseline": b, "advantage": adv, "learning_rate": lr}

    def reinforce_step(self, samples: Sequence[Sample], rewards: Any, step: Any
                       ) -> dict[str, tf.Tensor]:
        """The whole RL update for the samples of one step (all replicas' samples, computed
        here): baseline, advantages, Adam on the mean of ``adv_k * grad(-log pi_k)`` with the
        mean of their squares as second moment. During the RL delay it changes nothing (the
        baseline, Adam's moments and step count and the logits stay as they are).

        ``rewards``: one reward per sample. Returns ``baseline``, ``advantage`` (per sample),
        ``log_prob`` (per sample), ``entropy`` (mean) and ``learning_rate``.
        """
        if not samples:
            raise ValueError("reinforce_step needs at least one sample")
        r = tf.reshape(tf.cast(rewards, tf.float32), [-1])
        if r.shape[0] is not None and r.shape[0] != len(samples):
            raise ValueError(f"{len(samples)} samples but {r.shape[0]} rewards")
        batch = Sample(tuple(tf.stack([s.masks[j] for s in samples])
                             for j in range(len(self.sizes))),
                       tf.stack([tf.cast(s.indices, tf.int32) for s in samples]),
                       tf.stack([tf.cast(s.replaced, tf.bool) for s in samples]),
                       tf.cast(step, tf.int64))
        grads = self.neg_log_prob_gradients(batch)
        ent = None
        if self.entropy_weight:
            per_ent = [self.entropy_gradients(s) for s in samples]
            ent = [tf.stack([g[j] for g in per_ent]) for j in range(len(self.sizes))]
        out = self.reinforce_from_gradients(grads, r, step, ent)
        out["log_prob"] = self.log_prob_batch(batch)
        out["entropy"] = tf.reduce_mean(self.entropy_batch(batch))
        return out

    # ------------------------------------------------------------------ result
    def final_indices(self) -> tuple[int, ...]:
        """Argmax of every decision's logits."""
        return tuple(int(np.argmax(v.numpy())) for v in self.logits)

    def final_genotype(self, space: Any = None) -> Any:
        """The final architecture as a :class:`mhzoo.search.Genotype` of ``space`` (default:
        the space the controller was made from)."""
        space = space if space is not None else self._space
        if not hasattr(space, "genotype"):
            raise ValueError("final_genotype needs a Space (the controller was built from a "
                             "list of decisions)")
        return space.genotype(self.final_indices())


def _widest(choices: Sequence[Any]) -> int:
    """Index of the largest numeric choice (the last one when they are not all numbers)."""
    if all(isinstance(c, int | float) and not isinstance(c, bool) for c in choices):
        return int(np.argmax(np.asarray(choices, dtype=float)))
    return len(choices) - 1
