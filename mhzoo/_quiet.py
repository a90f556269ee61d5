"""Import TensorFlow without its start-up chatter on stderr (for the CLI).

TensorFlow's native libraries print oneDNN / CUDA-probe lines through absl before logging is
configured, which ``TF_CPP_MIN_LOG_LEVEL`` cannot silence. The CLI imports TensorFlow once with
file descriptor 2 pointed at /dev/null; real import errors are still raised.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
from collections.abc import Iterator

__all__ = ["import_tensorflow_quietly", "native_stderr_held", "native_stderr_muted"]


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


@contextlib.contextmanager
def native_stderr_held() -> Iterator[None]:
    """For a CLI command's long job: native libraries' stderr lines (file descriptor 2) are held
    in a temporary file while Python's ``sys.stderr`` (progress bars, messages) still reaches the
    terminal. When the block ends normally or with an unexpected exception, the held lines are
    written out after it; when it ends with a ``ValueError`` (a one-line error the CLI prints,
    e.g. "image X does not decode"), they are dropped, so the error stays one line instead of
    following libjpeg's own "Input file read error". A no-op when ``sys.stderr`` is not the
    process's fd 2 (e.g. under click's test runner)."""
    try:
        real = sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        real = False
    if not real:
        yield
        return
    with tempfile.TemporaryFile() as held:
        sys.stderr.flush()
        saved = os.dup(2)
        previous = sys.stderr
        sys.stderr = io.TextIOWrapper(os.fdopen(os.dup(saved), "wb", buffering=0),
                                      encoding=previous.encoding or "utf-8",
                                      errors="backslashreplace", line_buffering=True,
                                      write_through=True)
        os.dup2(held.fileno(), 2)
        drop = False
        try:
            yield
        except ValueError:
            drop = True
            raise
        finally:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.flush()
            ours, sys.stderr = sys.stderr, previous
            os.dup2(saved, 2)
            os.close(saved)
            with contextlib.suppress(OSError, ValueError):
                ours.close()
            if not drop:
                held.seek(0)
                data = held.read()
                if data:
                    os.write(2, data)
