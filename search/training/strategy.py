"""tf.distribute strategies and mixed precision for training, chosen by name.

``default`` (one device), ``mirrored`` (every local GPU, or the CPU), ``multi_worker``
(``MultiWorkerMirroredStrategy`` configured by ``TF_CONFIG``) and ``tpu`` (``TPUStrategy``
through a ``TPUClusterResolver``). The global batch is split across
``strategy.num_replicas_in_sync`` replicas and the learning rate follows the global batch.
"""

from __future__ import annotations

import json
import os
from typing import Any

__all__ = ["STRATEGIES", "make_strategy", "mixed_precision_policy"]

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")


def make_strategy(name: str = "default", *, tpu: str | None = None) -> Any:
    """The ``tf.distribute.Strategy`` called ``name`` (see :data:`STRATEGIES`)."""
    import tensorflow as tf  # lazy: no TensorFlow at import time

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        raw = os.environ.get("TF_CONFIG")
        if not raw:
            raise ValueError("strategy multi_worker needs TF_CONFIG (cluster and task of this "
                             "worker) in the environment")
        try:
            json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValueError(f"TF_CONFIG is not valid JSON: {exc}") from None
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or "")
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
        except (ValueError, tf.errors.OpError) as exc:
            raise ValueError(f"no TPU reachable ({tpu or 'local'}): "
                             f"{' '.join(str(exc).split())[:200]}") from None
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(f"unknown strategy {name!r}; expected one of {', '.join(STRATEGIES)}")


def mixed_precision_policy(mode: str, strategy: Any) -> str:
    """The Keras dtype policy for ``mode`` (``auto`` / ``on`` / ``off``) on this hardware.

    ``auto``: ``mixed_bfloat16`` on TPUs and on GPUs with bfloat16 tensor cores (compute
    capability >= 8.0), ``mixed_float16`` (with loss scaling) on older GPUs, ``float32`` on
    CPUs. ``on`` forces mixed precision (bfloat16 on CPU), ``off`` float32.
    """
    import tensorflow as tf  # lazy: no TensorFlow at import time

    if mode not in ("auto", "on", "off"):
        raise ValueError(f"mixed precision must be auto, on or off, got {mode!r}")
    if mode == "off":
        return "float32"
    if isinstance(strategy, tf.distribute.TPUStrategy):
        return "mixed_bfloat16"
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "mixed_bfloat16" if mode == "on" else "float32"
    details = tf.config.experimental.get_device_details(gpus[0])
    cc = details.get("compute_capability") or (0, 0)
    return "mixed_bfloat16" if tuple(cc) >= (8, 0) else "mixed_float16"
