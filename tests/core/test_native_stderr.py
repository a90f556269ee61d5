"""Native stderr lines (fd 2, e.g. libjpeg's "Input file read error") are held during a CLI
job: dropped when it ends in a one-line error (ValueError), written out after it otherwise;
Python's own stderr messages reach the terminal at once either way."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import os, sys
    from mhzoo._quiet import native_stderr_held
    try:
        with native_stderr_held():
            os.write(2, b"native noise\\n")
            print("python message", file=sys.stderr, flush=True)
            raise ValueError("one line")
    except ValueError:
        pass
    with native_stderr_held():
        os.write(2, b"kept native\\n")
        print("python two", file=sys.stderr, flush=True)
    try:
        with native_stderr_held():
            os.write(2, b"native before a crash\\n")
            raise RuntimeError("unexpected")
    except RuntimeError:
        pass
    print("end", file=sys.stderr, flush=True)
""")


def test_native_lines_dropped_before_a_one_line_error_kept_otherwise():
    res = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stderr.splitlines() == ["python message", "python two", "kept native",
                                       "native before a crash", "end"]
