"""mhzoo.search.training: the input pipeline, the paper's recipe and one resumable training loop.

* :mod:`.sources` — ImageNet-schema TFRecord shards, image-folder trees, TFDS; seeded held-out
  split.
* :mod:`.data` — ResNet-style and small-image preprocessing, batching, per-replica sharding.
* :mod:`.recipes` — :class:`Recipe` (it builds its optimizer), presets ``imagenet`` and
  ``cifar10-proxy``, the LR schedule, stride plans for small inputs.
* :mod:`.request` — :class:`TrainRequest`, a training run's options, checked once.
* :mod:`.step` — :class:`TrainStep`, the compiled distributed step (EMA, L2).
* :mod:`.loop` — :func:`train` (checkpoints / resume, TensorBoard, the final checkpoint).
* :mod:`.modeling`, :mod:`.strategy`, :mod:`.evaluate` — models for training, tf.distribute
  strategies, top-1 / top-5 of a checkpoint or a ``.tflite``.

The commands are in :mod:`mhzoo.search.cli.train`. Modules import TensorFlow lazily; import
them by full path.
"""
