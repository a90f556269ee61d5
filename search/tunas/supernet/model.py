"""The weight-sharing supernet (Keras 3 / TF) of any :mod:`mhzoo.search` space.

``Supernet(space, num_classes=10)`` builds, from the space's slots (see
:mod:`mhzoo.search.tunas.supernet.plan`), one Keras layer per slot whose weights are shared by every
architecture: widths are prefixes of the widest weights (channel masks), each kernel size has its
own kernel-sized weights, regular and fused inverted bottlenecks are separate branches, a skipped
layer is the identity, and batch norm is stateless (batch statistics, then the channel mask) in
training and inference alike (search-algorithm.md section 3).

``supernet(images, masks, training=True)`` takes RGB in [0, 255] (the normalization is inside,
as in every mhzoo model) and one mask per decision (or their concatenation); it returns logits.

**Only the sampled path computes.** Every branch of a slot runs under ``tf.cond(weight > 0)``,
where its weight is the product of the mask values of its choices. The path is selected in the
graph, not in Python, because each replica samples its own architecture inside one compiled
``strategy.run`` step and a space has ~10^20 architectures: a Python-level choice would retrace
every step. One-hot masks therefore run exactly one branch per slot; op warm-up masks (uniform)
run all branches and sum them with their weights. Widths are masks, so a path computes at the
widest widths, as in TuNAS.

:meth:`Supernet.child_weights` gives a genotype's weights in mhzoo's variable names
(:mod:`mhzoo.variables`), so ``mhzoo.build(space.decode(genotype))`` loaded with them (see
:meth:`Supernet.build_child`) computes the supernet path's logits: a warm start for retraining.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # lazy: no TensorFlow at import time
import tensorflow as tf

from mhzoo.layers import hard_sigmoid, hard_swish
from mhzoo.preprocessing import Preprocessing
from mhzoo.search.space import Genotype
from mhzoo.search.tunas.supernet.child import build_child, child_weights
from mhzoo.search.tunas.supernet.plan import (
    BranchPlan,
    ChannelState,
    FamilyPlan,
    SlotPlan,
    SupernetPlan,
    plan_space,
)

__all__ = ["Supernet", "flat_masks"]

_TRUNC = 0.87962566103423978  # stddev of a unit normal truncated at 2 sigma (TF VarianceScaling)


def flat_masks(masks: Any, plan: SupernetPlan) -> tf.Tensor:
    """One float vector: every decision's mask concatenated, then a trailing 1 (the pad)."""
    if isinstance(masks, tf.Tensor | np.ndarray) and len(masks.shape) == 1:
        flat = tf.cast(masks, tf.float32)
        if flat.shape[0] is not None and flat.shape[0] != plan.total:
            raise ValueError(f"flat masks need {plan.total} values, got {flat.shape[0]}")
    else:
        masks = list(masks)
        if len(masks) != len(plan.sizes):
            raise ValueError(f"need one mask per decision ({len(plan.sizes)}), got {len(masks)}")
        parts = []
        for j, (m, n) in enumerate(zip(masks, plan.sizes)):
            m = tf.reshape(tf.cast(m, tf.float32), [-1])
            if m.shape[0] is not None and m.shape[0] != n:
                raise ValueError(f"mask {j} has {m.shape[0]} values; the decision has {n}")
            parts.append(m)
        flat = tf.concat(parts, 0)
    return tf.stop_gradient(tf.concat([flat, tf.ones([1])], 0))


def _act(kind: str, x: tf.Tensor) -> tf.Tensor:
    if kind == "relu":
        return tf.nn.relu(x)
    if kind == "relu6":
        return tf.nn.relu6(x)
    if kind == "hard_swish":
        return hard_swish(x)
    raise ValueError(f"unknown activation {kind!r}")


def _prefix_mask(values: Sequence[int], weights: tf.Tensor, size: int) -> tf.Tensor:
    """``sum_v weights[v] * [channel < values[v]]`` over ``size`` channels."""
    if len(values) == 1:
        return weights[0] * tf.constant(np.arange(size) < values[0], tf.float32)
    table = (np.arange(size)[None, :] < np.asarray(values)[:, None]).astype(np.float32)
    return tf.linalg.matvec(tf.constant(table), weights, transpose_a=True)


def _grouped_mask(values: np.ndarray, coef: tf.Tensor, size: int) -> tf.Tensor:
    """``sum_rows coef[row] * prefix(values[row])``, rows of equal value summed first."""
    vals, ids = np.unique(values, return_inverse=True)
    if len(vals) == 1:
        return _prefix_mask(vals.tolist(), tf.reduce_sum(coef)[None], size)
    return _prefix_mask(vals.tolist(), tf.math.unsorted_segment_sum(
        coef, ids.reshape(-1), len(vals)), size)


def _state_mask(state: ChannelState, flat: tf.Tensor, offsets: Sequence[int]) -> tf.Tensor:
    if state.decision is None:
        return tf.ones([state.max])
    d = state.decision
    return _prefix_mask(state.widths, flat[offsets[d]:offsets[d + 1]], state.max)


def _fit_channels(x: tf.Tensor, size: int) -> tf.Tensor:
    c = x.shape[-1]
    if c == size:
        return x
    if c > size:
        return x[..., :size]
    return tf.pad(x, [[0, 0], [0, 0], [0, 0], [0, size - c]])


class _SlotLayer(keras.layers.Layer):
    """The weights and the masked computation of one slot."""

    def __init__(self, plan: SlotPlan, fields: dict[str, Any], offsets: Sequence[int],
                 fused_bn: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.slot = plan
        self.fused_bn = bool(fused_bn)
        self.eps = float(fields["bn_epsilon"])
        self.padding = fields["padding"]
        self.gate = fields["se_gate"]
        self.offsets = tuple(offsets)
        self.w: dict[str, Any] = {}
        self._make_weights()
        self.built = True

    # ------------------------------------------------------------------ weights
    def _add(self, name: str, shape: Sequence[int], init: Any) -> None:
        self.w[name] = self.add_weight(name=name, shape=tuple(int(s) for s in shape),
                                       initializer=init, trainable=True)

    def _conv_w(self, name: str, k: int, cin: int, cout: int) -> None:
        self._add(name, (k, k, cin, cout), keras.initializers.HeNormal())

    def _dw_w(self, name: str, k: int, c: int) -> None:
        std = math.sqrt(2.0 / (k * k)) / _TRUNC  # TuNAS depthwise_he_normal (fan_in = k*k)
        self._add(name, (k, k, c, 1), keras.initializers.TruncatedNormal(stddev=std))

    def _bn_w(self, name: str, c: int) -> None:
        self._add(f"{name}_gamma", (c,), "ones")
        self._add(f"{name}_beta", (c,), "zeros")

    def _make_weights(self) -> None:
        sp = self.slot
        cin, cout = sp.cin_max, sp.cout_max
        for fam in sp.families:
            n = fam.name
            if fam.kind == "conv":
                for k in fam.kernels:
                    self._conv_w(f"{n}_k{k}_kernel", k, cin, cout)
                    if fam.bias:
                        self._add(f"{n}_k{k}_bias", (cout,), "zeros")
                    if fam.batch_norm:
                        self._bn_w(f"{n}_k{k}_bn", cout)
            elif fam.kind == "ds":
                for k in fam.kernels:
                    self._dw_w(f"{n}_k{k}_dw", k, cin)
                    self._bn_w(f"{n}_k{k}_dw_bn", cin)
                self._conv_w(f"{n}_pw", 1, cin, cout)
                self._bn_w(f"{n}_pw_bn", cout)
            elif fam.kind in ("ib", "fused"):
                inner, g = fam.inner_max, fam.groups
                if fam.has_expand:
                    if fam.kind == "fused":
                        for k in fam.kernels:
                            self._conv_w(f"{n}_k{k}_expand", k, cin, inner)
                            self._bn_w(f"{n}_k{k}_expand_bn", inner)
                    else:
                        self._conv_w(f"{n}_expand", 1, cin // g, inner)
                        self._bn_w(f"{n}_expand_bn", inner)
                if fam.kind == "ib":
                    for k in fam.kernels:
                        self._dw_w(f"{n}_k{k}_dw", k, inner)
                        self._bn_w(f"{n}_k{k}_dw_bn", inner)
                if fam.se:
                    sq = fam.squeeze_max
                    self._add(f"{n}_se_reduce_kernel", (1, 1, inner, sq), "glorot_uniform")
                    self._add(f"{n}_se_reduce_bias", (sq,), "zeros")
                    self._add(f"{n}_se_expand_kernel", (1, 1, sq, inner), "glorot_uniform")
                    self._add(f"{n}_se_expand_bias", (inner,), "zeros")
                self._conv_w(f"{n}_project", 1, inner // g, cout)
                self._bn_w(f"{n}_project_bn", cout)

    # ------------------------------------------------------------------ ops
    def _conv(self, x: tf.Tensor, kernel: Any, stride: int, groups: int = 1) -> tf.Tensor:
        k = int(kernel.shape[0])
        x, pad = self._pad(x, k, stride)
        if groups > 1:
            xs = tf.split(x, groups, axis=-1)
            ks = tf.split(tf.convert_to_tensor(kernel), groups, axis=-1)
            return tf.concat([tf.nn.conv2d(a, b, stride, pad) for a, b in zip(xs, ks)], -1)
        return tf.nn.conv2d(x, kernel, stride, pad)

    def _dwconv(self, x: tf.Tensor, kernel: Any, stride: int) -> tf.Tensor:
        k = int(kernel.shape[0])
        x, pad = self._pad(x, k, stride)
        return tf.nn.depthwise_conv2d(x, kernel, [1, stride, stride, 1], pad)

    def _pad(self, x: tf.Tensor, k: int, stride: int) -> tuple[tf.Tensor, str]:
        if self.padding == "symmetric" and stride > 1 and k > 1:
            p = k // 2
            return tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]]), "VALID"
        return x, "SAME"

    def _bn(self, x: tf.Tensor, name: str, mask: tf.Tensor) -> tf.Tensor:
        """Stateless batch norm (batch statistics), then the channel mask."""
        if self.fused_bn:
            y, _, _ = tf.compat.v1.nn.fused_batch_norm(
                x, self.w[f"{name}_gamma"], self.w[f"{name}_beta"], epsilon=self.eps,
                is_training=True)
        else:  # the arithmetic of Keras' BatchNormalization in training mode
            mean, var = tf.nn.moments(x, [0, 1, 2])
            y = tf.nn.batch_normalization(x, mean, var, self.w[f"{name}_beta"],
                                          self.w[f"{name}_gamma"], self.eps)
        return y * mask

    # ------------------------------------------------------------------ branches
    def _branch(self, br: BranchPlan, x: tf.Tensor, coef: tf.Tensor, in_mask: tf.Tensor,
                out_mask: tf.Tensor) -> tf.Tensor:
        fam: FamilyPlan = self.slot.families[br.family]
        n, s, act = fam.name, fam.stride, fam.activation
        if fam.kind == "conv":
            k = br.kernel
            h = self._conv(x, self.w[f"{n}_k{k}_kernel"], s)
            if fam.bias:
                h = h + self.w[f"{n}_k{k}_bias"]
            h = self._bn(h, f"{n}_k{k}_bn", out_mask) if fam.batch_norm else h * out_mask
            return _act(act, h)
        if fam.kind == "ds":
            k = br.kernel
            h = self._dwconv(x, self.w[f"{n}_k{k}_dw"], s)
            h = _act(act, self._bn(h, f"{n}_k{k}_dw_bn", in_mask))
            h = self._conv(h, self.w[f"{n}_pw"], 1)
            return _act(act, self._bn(h, f"{n}_pw_bn", out_mask))
        # inverted bottleneck, regular or fused
        k = br.kernel
        inner_mask = _grouped_mask(br.inner, coef, fam.inner_max)
        h = x
        if fam.has_expand:
            if fam.kind == "fused":
                h = self._conv(x, self.w[f"{n}_k{k}_expand"], s)
                h = _act(act, self._bn(h, f"{n}_k{k}_expand_bn", inner_mask))
            else:
                h = self._conv(x, self.w[f"{n}_expand"], 1, fam.groups)
                h = _act(act, self._bn(h, f"{n}_expand_bn", inner_mask))
        else:
            h = _fit_channels(h, fam.inner_max)
        if fam.kind == "ib":
            h = self._dwconv(h, self.w[f"{n}_k{k}_dw"], s)
            h = _act(act, self._bn(h, f"{n}_k{k}_dw_bn", inner_mask))
        if br.se_ratio is not None:
            sq_mask = _grouped_mask(br.squeeze, coef, fam.squeeze_max)
            g = tf.reduce_mean(h, [1, 2], keepdims=True)
            g = tf.nn.conv2d(g, self.w[f"{n}_se_reduce_kernel"], 1, "SAME")
            g = tf.nn.relu((g + self.w[f"{n}_se_reduce_bias"]) * sq_mask)
            g = tf.nn.conv2d(g, self.w[f"{n}_se_expand_kernel"], 1, "SAME")
            g = g + self.w[f"{n}_se_expand_bias"]
            g = hard_sigmoid(g) if self.gate == "hard_sigmoid" else tf.sigmoid(g)
            h = h * g
        y = self._conv(h, self.w[f"{n}_project"], 1, fam.groups)
        y = self._bn(y, f"{n}_project_bn", out_mask)
        if br.residual.any():
            r = tf.reduce_sum(coef * tf.constant(br.residual))
            y = y + r * _fit_channels(x, self.slot.cout_max)
        return y

    # ------------------------------------------------------------------ call
    def run(self, x: tf.Tensor, flat: tf.Tensor) -> tf.Tensor:
        """The slot's output for input ``x`` (masked to its width) and the flat masks."""
        sp = self.slot
        leaf_w = tf.reduce_prod(tf.gather(flat, sp.leaf_index), axis=1)
        wm = tf.ones([1])
        for d in sp.width_decisions:
            wm = tf.reshape(wm[:, None] * flat[None, self.offsets[d]:self.offsets[d + 1]], [-1])
        in_mask = _state_mask(sp.in_state, flat, self.offsets)
        out_mask = _state_mask(sp.out_state, flat, self.offsets)
        if len(sp.branches) == 1 and sp.branches[0].kind == "pool":
            return tf.reduce_mean(x, [1, 2], keepdims=True)
        coefs, weights = [], []
        for br in sp.branches:
            e = tf.gather(leaf_w, br.leaf_rows) * tf.gather(wm, br.width_rows)
            total = tf.reduce_sum(e)
            coefs.append(tf.math.divide_no_nan(e, total))
            weights.append(total)
        if len(sp.branches) == 1:
            return self._branch(sp.branches[0], x, coefs[0], in_mask, out_mask)
        acc = None
        skip = [i for i, br in enumerate(sp.branches) if br.kind == "skip"]
        if skip:
            acc = weights[skip[0]] * x
        else:
            shape = tf.shape(x)
            s = sp.stride
            acc = tf.zeros(tf.stack([shape[0], (shape[1] + s - 1) // s, (shape[2] + s - 1) // s,
                                     sp.cout_max]))
        for br, coef, wt in zip(sp.branches, coefs, weights):
            if br.kind == "skip":
                continue

            def taken(acc: tf.Tensor = acc, br: BranchPlan = br, coef: tf.Tensor = coef,
                      wt: tf.Tensor = wt) -> tf.Tensor:
                return acc + wt * self._branch(br, x, coef, in_mask, out_mask)

            acc = tf.cond(wt > 0, taken, lambda acc=acc: acc)
        return acc


class Supernet(keras.Model):
    """Weight-sharing supernet of a search space (see module docstring).

    Args:
        space: a :class:`mhzoo.search.Space` (its input size and stride plan are the proxy's).
        num_classes: classifier size.
        dropout_rate: dropout before the classifier (TuNAS search: 0).
        preprocessing: input normalization (default [-1, 1], as ``mhzoo.build``).
        fused_batch_norm: use the fused batch-norm kernel (faster; the same statistics, float
            rounding differs from Keras' ``BatchNormalization``, which the default reproduces).
    """

    def __init__(self, space: Any, *, num_classes: int, dropout_rate: float = 0.0,
                 preprocessing: Preprocessing | None = None, fused_batch_norm: bool = False,
                 name: str = "supernet") -> None:
        super().__init__(name=name)
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
        if isinstance(dropout_rate, bool) or not isinstance(dropout_rate, int | float) or not (
                0 <= dropout_rate < 1):
            raise ValueError(f"dropout_rate must be in [0, 1), got {dropout_rate!r}")
        self.space = space
        self.plan = plan_space(space)
        self.num_classes = num_classes
        self.preprocessing = preprocessing or Preprocessing()
        self.preprocess = self.preprocessing.layer(keras)
        self.slot_layers = [
            _SlotLayer(sp, self.plan.spec_fields, self.plan.offsets, fused_batch_norm,
                       name=f"slot{sp.index}_" + "".join(ch if ch.isalnum() else "_"
                                                        for ch in sp.name))
            for sp in self.plan.slots]
        self.dropout = keras.layers.Dropout(dropout_rate) if dropout_rate > 0 else None
        self.classifier = keras.layers.Dense(
            num_classes, name="classifier",
            kernel_initializer=keras.initializers.RandomNormal(stddev=0.01))
        self.classifier.build((None, self.plan.last_state.max))

    def call(self, inputs: Any, masks: Any, training: bool | None = None) -> tf.Tensor:
        """Logits of the masked path for RGB ``inputs`` in [0, 255]."""
        flat = flat_masks(masks, self.plan)
        x = self.preprocess(tf.cast(inputs, tf.float32))
        for layer in self.slot_layers:
            x = layer.run(x, flat)
        x = tf.reshape(x, [-1, x.shape[-1]]) if self.plan.pooled else tf.reduce_mean(x, [1, 2])
        if self.dropout is not None:
            x = self.dropout(x, training=training)
        return self.classifier(x)

    # ------------------------------------------------------------------ children
    def _indices(self, genotype: Genotype | str | Sequence[int]) -> tuple[int, ...]:
        if isinstance(genotype, str):
            genotype = Genotype.from_string(genotype)
        if isinstance(genotype, Genotype):
            self.space.decode(genotype)  # validates (space, options, ranges)
            return tuple(genotype.indices)
        return tuple(self.space.genotype(list(genotype)).indices)

    def masks_of(self, genotype: Genotype | str | Sequence[int]) -> list[tf.Tensor]:
        """One-hot masks of a genotype (the supernet path of that architecture)."""
        idx = self._indices(genotype)
        return [tf.one_hot(i, n) for i, n in zip(idx, self.plan.sizes)]

    def child_weights(self, genotype: Genotype | str | Sequence[int]) -> dict[str, np.ndarray]:
        """The genotype's weights in mhzoo's variable names (see
        :func:`mhzoo.search.tunas.supernet.child.child_weights`)."""
        return child_weights(self, self._indices(genotype))

    def build_child(self, genotype: Genotype | str | Sequence[int], *,
                    input_size: int | None = None, calibrate: Any = None,
                    **build_kwargs: Any) -> Any:
        """``mhzoo.build(space.decode(genotype))`` holding the inherited weights (see
        :func:`mhzoo.search.tunas.supernet.child.build_child`)."""
        return build_child(self, self._indices(genotype), input_size=input_size,
                           calibrate=calibrate, **build_kwargs)
