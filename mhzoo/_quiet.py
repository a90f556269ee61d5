"""Import TensorFlow without its start-up chatter on stderr (for the CLI).

TensorFlow's native libraries print oneDNN / CUDA-probe lines through absl before logging is
configured, which ``TF_CPP_MIN_LOG_LEVEL`` cannot silence. The CLI imports TensorFlow once with
file descriptor 2 pointed at /dev/null; real import errors are still raised.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

__all__ = ["import_tensorflow_quietly", "native_stderr_muted"]


@contextlib.contextmanager
def native_stderr_muted() -> Iterator[None]:
    """File descriptor 2 points at /dev/null inside the block (native libraries' own prints,
    e.g. libjpeg's "Input file read error" while a diagnostic decodes a broken image); Python
    exceptions still propagate."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_tensorflow_quietly() -> None:
    """Import TensorFlow (and initialise its CPU device) with native stderr muted."""
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with native_stderr_muted():
        import tensorflow as tf

        tf.config.list_logical_devices("CPU")
        _ = tf.constant(1.0) + 1.0  # initialise the eager context
