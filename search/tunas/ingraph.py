"""The in-graph cost of the search: every target's linear cost model evaluated on the sampled
masks, on the *deployment* decoding (the cost models' own space options), as one TF op chain;
:meth:`InGraphCost.batch` evaluates many architectures at once (the same features, built with a
leading batch axis: one op chain for all of a step's samples)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from mhzoo.search.cost.features import NumpyOps, features_from_masks, masks_of, slot_features

__all__ = ["InGraphCost"]


class InGraphCost:
    """``masks -> [num_targets]`` latencies (ms) of the deployment decoding, in-graph.

    The features (:func:`mhzoo.search.cost.features_from_masks`, TensorFlow backend) are built
    once per call and multiplied by the stacked kernels of every target's linear model.
    """

    def __init__(self, models: Mapping[str, Any]) -> None:
        if not models:
            raise ValueError("no cost models")
        self.targets = list(models)
        first = next(iter(models.values()))
        self.space = first.space
        self.kernel = np.stack([models[t].weights for t in self.targets], axis=1).astype(
            np.float32)
        self.bias = np.asarray([models[t].bias for t in self.targets], np.float32)

    def __call__(self, masks: Sequence[Any]) -> Any:
        build = tf.autograph.experimental.do_not_convert(features_from_masks)  # plain Python
        f = build(self.space, [tf.cast(m, tf.float32) for m in masks], backend="tf")
        return tf.linalg.matvec(tf.constant(self.kernel), f, transpose_a=True) + \
            tf.constant(self.bias)

    def batch(self, flats: Any) -> Any:
        """``[S, total]`` concatenated masks (one row per architecture, decisions in order) ->
        ``[S, num_targets]`` latencies (ms); equal to :meth:`__call__` row by row."""
        flats = tf.cast(flats, tf.float32)
        sizes = [d.size for d in self.space.decisions]
        masks = tf.split(flats, sizes, axis=-1)
        ops = _BatchOps(tf.shape(flats)[0])
        children: dict[int, list[int]] = {}
        for i, d in enumerate(self.space.decisions):
            if d.parent is not None:
                children.setdefault(d.parent, []).append(i)
        parts = [slot_features(self.space, s, masks, ops, children)
                 for s, n in zip(self.space.slots, self._slot_sizes(children)) if n > 1]
        f = tf.concat(parts, axis=-1)
        return tf.matmul(f, tf.constant(self.kernel)) + tf.constant(self.bias)

    def _slot_sizes(self, children: dict[int, list[int]]) -> list[int]:
        if not hasattr(self, "_sizes"):
            zero = masks_of(self.space, self.space.genotype([0] * len(self.space.decisions)))
            self._sizes = [len(slot_features(self.space, s, zero, NumpyOps, children))
                           for s in self.space.slots]
        return self._sizes


class _BatchOps:
    """:func:`~mhzoo.search.cost.features.slot_features` backend over ``[S, n]`` masks."""

    def __init__(self, rows: Any) -> None:
        self.rows = rows

    def kron(self, a: Any, b: Any) -> Any:
        p, q = int(a.shape[-1]), int(b.shape[-1])
        return tf.reshape(a[:, :, None] * b[:, None, :], [-1, p * q])

    def concat(self, parts: list[Any]) -> Any:
        return tf.concat(parts, axis=-1)

    def ones(self) -> Any:
        return tf.ones(tf.stack([self.rows, 1]), tf.float32)

    def pick(self, mask: Any, c: int) -> Any:
        return mask[:, c:c + 1]
