"""Atomic file output: write to a temp name in the same folder, then rename.

A killed process (even SIGKILL) leaves the destination either absent or complete, never partial.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_dir", "atomic_path", "atomic_write_bytes", "atomic_write_text",
           "check_output_path", "remove_stale_partials"]


def check_output_path(path: str | os.PathLike, *, force: bool = False,
                      directory: bool = False) -> Path:
    """Validate an output path before long work starts; ``ValueError`` with the reason.

    Args:
        path: the file (or, with ``directory=True``, the folder) to be written.
        force: allow replacing an existing output.
        directory: the output is a folder (checkpoints, SavedModels).
    """
    p = Path(path)
    if not directory and p.is_dir():
        raise ValueError(f"output path is a directory: {p} (give a file name)")
    if directory and p.exists() and not p.is_dir():
        raise ValueError(f"output path is a file, expected a folder: {p}")
    if p.exists() and not force:
        raise ValueError(f"output exists: {p} (use --force / force=True to overwrite)")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise ValueError(f"output folder does not exist: {parent}")
    if not os.access(parent, os.W_OK):
        raise ValueError(f"output folder is not writable: {parent}")
    return p


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_partials(path: str | os.PathLike) -> list[Path]:
    """Delete temporaries of ``path`` left by writers that died (e.g. SIGKILL) mid-write.

    Temporaries are named ``.<name>.<pid>.<random>.partial``; only those whose process no longer
    exists are removed, so concurrent writers are left alone.
    """
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    removed = []
    for cand in parent.glob(f".{glob_escape(p.name)}.*.partial"):
        pid_part = cand.name[len(p.name) + 2:].split(".", 1)[0]
        if pid_part.isdigit() and not _pid_alive(int(pid_part)):
            if cand.is_dir():
                shutil.rmtree(cand, ignore_errors=True)
            else:
                cand.unlink(missing_ok=True)
            removed.append(cand)
    return removed


def glob_escape(name: str) -> str:
    """Escape glob metacharacters in a file name."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` if the block succeeds."""
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    remove_stale_partials(p)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.{os.getpid()}.", suffix=".partial",
                                   dir=parent)
    except OSError as exc:
        raise ValueError(f"cannot write to {parent}: {exc.strerror or exc}") from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get normal modes
        os.replace(tmp_path, p)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode())


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces ``path`` (an older folder is removed)."""
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise ValueError(f"output folder does not exist: {parent}")
    remove_stale_partials(p)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{p.name}.{os.getpid()}.", suffix=".partial",
                                    dir=parent))
    except OSError as exc:
        raise ValueError(f"cannot write to {parent}: {exc.strerror or exc}") from None
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700
        if p.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{p.name}.", suffix=".old", dir=parent))
            os.replace(p, old / "x")
            os.replace(tmp, p)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, p)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
