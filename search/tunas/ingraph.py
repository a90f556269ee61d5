"""The in-graph cost of the search: every target's linear cost model evaluated on the sampled
masks, on the *deployment* decoding (the cost models' own space options), as one TF op chain."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from mhzoo.search.cost.features import features_from_masks

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
