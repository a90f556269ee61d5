"""Silence the native chatter of TensorFlow's converter and LiteRT's interpreter.

``TFLiteConverter.convert`` prints through absl and C++ logging straight to file descriptors
1 and 2 ("fully_quantize: 0, inference_type: 6, ...", tensor listings, the trackable_obj
warning) and the LiteRT interpreter announces "Created TensorFlow Lite XNNPACK delegate";
``TF_CPP_MIN_LOG_LEVEL`` does not reach all of it. :func:`captured_output` points both
descriptors at a temporary file for the duration of a block. Used by the exporter and by the
benchmark harness (which imports it from here: the export layer does not import benchmarks).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["QUIET_LOGGERS", "captured_output"]

#: Python loggers that the converter writes warnings through
QUIET_LOGGERS = ("absl", "tensorflow")


@contextlib.contextmanager
def captured_output() -> Iterator[Path]:
    """Send file descriptors 1 and 2 (Python and native output) to a temp file for the block.

    Yields the temp file's path (readable inside the block; removed afterwards). The ``absl``
    and ``tensorflow`` Python loggers are held at ERROR meanwhile (their handlers may write to
    a ``sys.stderr`` that is not descriptor 2). Exceptions raised in the block pass through
    unchanged, and the descriptors and logger levels are always restored.
    """
    loggers = [logging.getLogger(n) for n in QUIET_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    sys.stdout.flush()
    sys.stderr.flush()
    fd, name = tempfile.mkstemp(prefix="mhzoo-quiet-", suffix=".log")
    saved = [os.dup(1), os.dup(2)]
    try:
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        yield Path(name)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for s in saved:
            os.close(s)
        os.close(fd)
        Path(name).unlink(missing_ok=True)
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)
