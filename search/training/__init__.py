"""mhzoo.search.training: the input pipeline, the paper's recipe and one resumable training loop.

* :mod:`.data` — ImageNet-schema TFRecord shards, image-folder trees, TFDS; seeded held-out
  split; ResNet-style and small-image preprocessing; per-replica sharding.
* :mod:`.recipes` — :class:`Recipe`, presets ``imagenet`` and ``cifar10-proxy``, the LR
  schedule, stride plans for small inputs.
* :mod:`.loop` — :func:`train` (custom ``tf.distribute`` step, EMA, checkpoints / resume,
  TensorBoard) and :class:`TrainStep`, the step the supernet reuses.
* :mod:`.evaluate` — top-1 / top-5 of a checkpoint or a ``.tflite``.
* :mod:`.cli` — ``mhzoo train`` and ``mhzoo eval``.

Modules import TensorFlow lazily; import them by full path.
"""
