"""Atomic file output: write to a temp name in the same folder, then rename.

A killed process leaves each destination either absent or complete, never partial:

* temporaries are hidden files ``.<name>.<pid>.<random>.partial`` next to the destination;
* SIGTERM, SIGHUP and (where Python does not already turn it into ``KeyboardInterrupt``)
  SIGINT remove this process's temporaries before the process dies with the signal's usual
  status; ``KeyboardInterrupt`` and other exceptions remove them on the way out;
* SIGKILL cannot be caught: the temporaries of writers that no longer exist are swept from the
  *whole* output folder by the next writer (or :func:`check_output_path`) in that folder;
* :func:`atomic_group` commits several files (a model and its sidecar reports) together: all
  are written to temporaries first, a journal is written, then all are renamed; a writer
  killed between two renames leaves the journal, and the next writer in the folder finishes
  the renames, so the group appears together or not at all.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import stat
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

__all__ = ["atomic_dir", "atomic_group", "atomic_path", "atomic_write_bytes",
           "atomic_write_text", "check_output_path", "check_output_paths",
           "remove_stale_partials", "sweep_stale"]

#: hidden temporaries of this module: ``.<name>.<pid>.<random>.<kind>`` (``tempfile`` makes the
#: random part of 8 characters from a-z, 0-9 and _; anything else is not ours and is never swept)
_TEMP_RE = re.compile(
    r"^\.(?P<name>.+)\.(?P<pid>\d+)\.(?P<rand>[a-z0-9_]{6,8})\.(?P<kind>partial|old|group)"
    r"(?P<side>-wal|-shm|-journal)?$")
#: files SQLite keeps beside a database (a results store written to a temporary has them too)
_SQLITE_SIDECARS = ("-wal", "-shm", "-journal")
#: open :func:`_signals_deferred` regions, and the signals noted meanwhile (main thread only)
_defer_depth = 0
_pending_signals: list[int] = []
_CLEANUP_SIGNALS = tuple(getattr(signal, s) for s in ("SIGTERM", "SIGHUP", "SIGINT")
                         if hasattr(signal, s))

_live: dict[Path, None] = {}  # temporaries this process is writing (an ordered set)
_live_lock = threading.Lock()
_guard_depth = 0
_saved_handlers: dict[int, Any] = {}


# ----------------------------------------------------------------------------- validation
def check_output_path(path: str | os.PathLike, *, force: bool = False,
                      directory: bool = False) -> Path:
    """Validate an output path before long work starts; ``ValueError`` with the reason.

    What is never replaced (a symlink, a device node, FIFO or socket, a folder by a file or a
    file by a folder) is refused first, whatever ``force`` says; leftovers of dead writers in
    the output folder are then swept (an interrupted group commit is completed), so what is
    checked is what a finished write would have left; an existing output is refused unless
    ``force``.

    Args:
        path: the file (or, with ``directory=True``, the folder) to be written.
        force: allow replacing an existing output (the command's ``--force``).
        directory: the output is a folder (checkpoints, SavedModels).
    """
    p = Path(path)
    parent = _parent(p)
    _replaceable(p, directory=directory)
    if parent.is_dir() and os.access(parent, os.W_OK):
        sweep_stale(parent)
    if _replaceable(p, directory=directory) is not None and not force:
        raise ValueError(f"output exists: {p} (use --force / force=True to overwrite)")
    if not parent.is_dir():
        raise ValueError(f"output folder does not exist: {parent}")
    if not os.access(parent, os.W_OK):
        raise ValueError(f"output folder is not writable: {parent}")
    return p


def check_output_paths(paths: Sequence[str | os.PathLike | None], *, force: bool = False
                       ) -> list[Path]:
    """:func:`check_output_path` for each of a command's output files (``None``: option not
    given, skipped), and no two of them on the same file. Returns the given paths."""
    checked: list[Path] = []
    seen: dict[Path, Path] = {}
    for path in paths:
        if path is None:
            continue
        p = check_output_path(path, force=force)
        key = _parent(p).resolve() / p.name
        if key in seen:
            raise ValueError(f"two outputs go to the same file: {seen[key]} and {p}")
        seen[key] = p
        checked.append(p)
    return checked


_SPECIAL_KINDS = ((stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
                  (stat.S_ISFIFO, "named pipe (FIFO)"), (stat.S_ISSOCK, "socket"))


def _replaceable(p: Path, *, directory: bool = False) -> os.stat_result | None:
    """What is at ``p`` now (``None``: nothing), if an output may replace it; else ``ValueError``.

    The final component is not followed: a symlink is refused as a symlink. A file output may
    replace a regular file, a folder output a real folder; nothing else.
    """
    try:
        st = os.lstat(p)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise ValueError(f"cannot inspect output path {p}: {exc.strerror or exc}") from None
    mode = st.st_mode
    if stat.S_ISLNK(mode):
        try:
            where = os.readlink(p)
        except OSError:
            where = "?"
        raise ValueError(f"output path is a symbolic link: {p} -> {where} (outputs never "
                         "replace links; give the path of the file itself, or remove the link)")
    for test, kind in _SPECIAL_KINDS:
        if test(mode):
            raise ValueError(f"output path is a {kind}: {p} (outputs are written as regular "
                             "files and never replace special files; give a file name)")
    if directory:
        if not stat.S_ISDIR(mode):
            raise ValueError(f"output path is a file, expected a folder: {p}")
    elif stat.S_ISDIR(mode):
        raise ValueError(f"output path is a directory: {p} (give a file name)")
    elif not stat.S_ISREG(mode):
        raise ValueError(f"output path is not a regular file: {p}")
    return st


def _parent(p: Path) -> Path:
    return p.parent if str(p.parent) else Path(".")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


# ----------------------------------------------------------------------------- signals
def _register(tmp: Path) -> None:
    with _live_lock:
        _live[tmp] = None


def _unregister(tmp: Path) -> None:
    with _live_lock:
        _live.pop(tmp, None)


def _remove(path: Path) -> None:
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
            for side in _SQLITE_SIDECARS:  # a results store written to a temporary
                Path(f"{path}{side}").unlink(missing_ok=True)
    except OSError:
        pass


def _remove_live() -> None:
    with _live_lock:
        paths = list(_live)
        _live.clear()
    for p in paths:
        _remove(p)


def _on_signal(signum: int, frame: Any) -> None:
    """Remove this process's temporaries, then die of the signal as if it had no handler; inside
    :func:`_signals_deferred`, only note the signal (it is acted on when the region ends)."""
    if _defer_depth:
        _pending_signals.append(signum)
        return
    _remove_live()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


@contextlib.contextmanager
def _signal_cleanup() -> Iterator[None]:
    """While a temporary exists: signals that would kill the process (default disposition)
    first remove the temporaries. Only in the main thread (Python delivers signals there);
    handlers set by the application are left alone; the previous handlers come back after."""
    global _guard_depth
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if _guard_depth == 0:
        for sig in _CLEANUP_SIGNALS:
            try:
                if signal.getsignal(sig) == signal.SIG_DFL:
                    _saved_handlers[sig] = signal.signal(sig, _on_signal)
            except (ValueError, OSError):  # not settable here
                continue
    _guard_depth += 1
    try:
        yield
    finally:
        _guard_depth -= 1
        if _guard_depth == 0:
            for sig, prev in list(_saved_handlers.items()):
                with contextlib.suppress(ValueError, OSError):
                    if signal.getsignal(sig) is _on_signal:
                        signal.signal(sig, prev)
            _saved_handlers.clear()


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGTERM / SIGHUP / SIGINT back while renames that belong together run.

    Blocking the signals in this thread is not enough in a process with other threads
    (TensorFlow's): the kernel hands a process-directed signal to any thread that does not
    block it, and Python then runs the handler in the main thread at its next bytecode, in the
    middle of the renames. So :func:`_on_signal` also defers while this region is open, and the
    signal it noted is acted on when the region ends."""
    global _defer_depth
    old = (signal.pthread_sigmask(signal.SIG_BLOCK, _CLEANUP_SIGNALS)
           if hasattr(signal, "pthread_sigmask") else None)
    _defer_depth += 1
    try:
        yield
    finally:
        _defer_depth -= 1
        if old is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
        if _defer_depth == 0 and _pending_signals:
            signum = _pending_signals[0]
            _pending_signals.clear()
            if threading.current_thread() is threading.main_thread():
                _on_signal(signum, None)
            else:  # signal.signal works in the main thread only: deliver it again
                os.kill(os.getpid(), signum)


# ----------------------------------------------------------------------------- sweeping
def sweep_stale(folder: str | os.PathLike) -> list[Path]:
    """Clean up after writers that died (SIGKILL, power loss) in ``folder``.

    An interrupted group commit (its journal left behind) is completed first; then the
    temporaries and replaced-folder leftovers of dead processes are removed (a replaced
    checkpoint folder whose successor never arrived is put back). Files of live writers are
    left alone. Returns the paths removed or repaired.
    """
    d = Path(folder)
    try:
        entries = [e for e in os.scandir(d) if e.name.startswith(".")]
    except OSError:
        return []
    stale = []
    for e in entries:
        m = _TEMP_RE.match(e.name)
        if m and not _pid_alive(int(m.group("pid"))):
            kind = m.group("kind") if not m.group("side") else "side"
            stale.append((kind, m.group("name"), d / e.name))
    done: list[Path] = []
    for kind, _name, path in stale:  # groups first: they need their temporaries
        if kind == "group" and path.is_file():
            _recover_group(path)
            done.append(path)
    for kind, name, path in stale:
        if kind == "old" and path.is_dir() and not path.is_symlink():
            final, kept = d / name, path / "x"
            if not final.exists() and kept.exists():
                with contextlib.suppress(OSError):
                    os.replace(kept, final)
            _remove(path)
            done.append(path)
        elif kind in ("partial", "side") and (path.exists() or path.is_symlink()):
            _remove(path)
            done.append(path)
    return done


def remove_stale_partials(path: str | os.PathLike) -> list[Path]:
    """Sweep the folder of ``path`` (see :func:`sweep_stale`); kept for older callers."""
    return sweep_stale(_parent(Path(path)))


def glob_escape(name: str) -> str:
    """Escape glob metacharacters in a file name."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def _recover_group(journal: Path) -> None:
    """Finish the renames of a dead writer's group commit, then drop its journal."""
    try:
        entries = json.loads(journal.read_text(encoding="utf-8"))["files"]
        pairs = [(str(t), str(f)) for t, f in entries]
    except (OSError, ValueError, KeyError, TypeError):
        pairs = []  # unreadable: written before any rename; its temporaries are swept later
    d = journal.parent
    for tmp_name, final_name in pairs:
        if any(Path(n).name != n or n in ("", ".", "..") for n in (tmp_name, final_name)):
            continue  # names only, never paths
        tmp = d / tmp_name
        if tmp.is_file():
            with contextlib.suppress(OSError):
                os.replace(tmp, d / final_name)
    _remove(journal)


# ----------------------------------------------------------------------------- writers
def _mkstemp(p: Path) -> Path:
    parent = _parent(p)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.{os.getpid()}.", suffix=".partial",
                                   dir=parent)
    except OSError as exc:
        raise ValueError(f"cannot write to {parent}: {exc.strerror or exc}") from None
    os.close(fd)
    tmp_path = Path(tmp)
    _register(tmp_path)
    return tmp_path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` if the block succeeds."""
    p = Path(path)
    _replaceable(p)  # before any temporary exists (as root, /dev is writable)
    sweep_stale(_parent(p))
    with _signal_cleanup():
        tmp_path = _mkstemp(p)
        try:
            yield tmp_path
            os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get normal modes
            _replaceable(p)  # again: something may have appeared there meanwhile
            os.replace(tmp_path, p)
        finally:
            _unregister(tmp_path)
            if tmp_path.exists():  # not renamed: drop it (and a store's -wal / -shm with it)
                _remove(tmp_path)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode())


@contextlib.contextmanager
def atomic_group(paths: Sequence[str | os.PathLike]) -> Iterator[list[Path]]:
    """Write several files of one folder so that they appear together or not at all.

    Yields one temporary path per destination, in order. When the block succeeds, a journal
    naming the renames is written, every temporary is renamed onto its destination (SIGTERM,
    SIGHUP and SIGINT are held back meanwhile) and the journal is removed. If the block raises,
    no destination changes. If the process is killed (SIGKILL) between two renames, the next
    writer in the folder (any ``atomic_*`` call, :func:`check_output_path` or
    :func:`sweep_stale`) reads the journal and finishes the renames.

    Example::

        with atomic_group(["m.tflite", "m.fidelity.json"]) as (model_tmp, report_tmp):
            model_tmp.write_bytes(model_bytes)
            report_tmp.write_text(report_json)

    Raises:
        ValueError: no paths, repeated paths, paths in different folders, a destination that is
            a folder, or a folder that cannot be written.
    """
    ps = [Path(p) for p in paths]
    if not ps:
        raise ValueError("atomic_group needs at least one path")
    parents = {_parent(p).resolve() for p in ps}
    if len(parents) != 1:
        raise ValueError("atomic_group writes files of one folder; got "
                         + ", ".join(str(p) for p in ps))
    if len({p.name for p in ps}) != len(ps):
        raise ValueError("atomic_group got the same path twice: " + ", ".join(map(str, ps)))
    parent = _parent(ps[0])
    if not parent.is_dir():
        raise ValueError(f"output folder does not exist: {parent}")
    for p in ps:
        _replaceable(p)
    sweep_stale(parent)
    with _signal_cleanup():
        temps: list[Path] = []
        try:
            for p in ps:
                temps.append(_mkstemp(p))
            yield list(temps)
            mode = 0o666 & ~_umask()
            for t in temps:
                os.chmod(t, mode)
            for p in ps:
                _replaceable(p)
            _commit_group(parent, ps, temps)
        finally:
            for t in temps:
                _unregister(t)
                if t.exists():
                    _remove(t)


def _commit_group(parent: Path, finals: list[Path], temps: list[Path]) -> None:
    with _signals_deferred():
        fd, journal = tempfile.mkstemp(prefix=f".{finals[0].name}.{os.getpid()}.",
                                       suffix=".group", dir=parent)
        journal_path = Path(journal)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({"files": [[t.name, f.name] for t, f in zip(temps, finals,
                                                                         strict=True)]}, fh)
                fh.flush()
                os.fsync(fh.fileno())
            done: list[Path] = []
            try:
                for t, f in zip(temps, finals, strict=True):
                    os.replace(t, f)
                    done.append(f)
            except BaseException:
                for f in done:  # not all could be renamed: none of the group appears
                    with contextlib.suppress(OSError):
                        f.unlink()
                raise
        finally:
            journal_path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces ``path`` (an older folder is removed)."""
    p = Path(path)
    parent = _parent(p)
    if not parent.is_dir():
        raise ValueError(f"output folder does not exist: {parent}")
    _replaceable(p, directory=True)
    sweep_stale(parent)
    with _signal_cleanup():
        try:
            tmp = Path(tempfile.mkdtemp(prefix=f".{p.name}.{os.getpid()}.", suffix=".partial",
                                        dir=parent))
        except OSError as exc:
            raise ValueError(f"cannot write to {parent}: {exc.strerror or exc}") from None
        _register(tmp)
        try:
            yield tmp
            os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700
            with _signals_deferred():
                if _replaceable(p, directory=True) is not None:
                    old = Path(tempfile.mkdtemp(prefix=f".{p.name}.{os.getpid()}.",
                                                suffix=".old", dir=parent))
                    os.replace(p, old / "x")
                    os.replace(tmp, p)
                    shutil.rmtree(old, ignore_errors=True)
                else:
                    os.replace(tmp, p)
        finally:
            _unregister(tmp)
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
