"""The ``mhzoo`` command line: thin click commands over the Python API.

Subcommands load lazily (``mhzoo list`` does not import TensorFlow). Every user error is one
line on stderr with exit code 2, never a traceback: library code raises ``ValueError`` (or
``FileNotFoundError`` / ``PermissionError`` / ``FileExistsError``) and :class:`MhzooGroup` turns it
into ``Error: <message>``. Failures that hostile input provokes below mhzoo's own checks
(``RecursionError``, ``OverflowError``, ``MemoryError``, any ``OSError``, ``sqlite3`` errors,
TensorFlow's ``ResourceExhaustedError``) are one line with exit code 2 too (see
:func:`user_message`); anything else is an internal error: one line with exit code 1, and the
traceback only when ``MHZOO_DEBUG=1``.
"""

from __future__ import annotations

import importlib
import os
import sqlite3
import sys
from typing import Any

import click

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before any subcommand imports TensorFlow

__all__ = ["COMMANDS", "MhzooGroup", "main", "user_message"]

#: command name -> "module:attribute". Other layers (export, benchmarks, weights) add theirs here.
COMMANDS: dict[str, str] = {
    "list": "mhzoo.cli.core:list_cmd",
    "info": "mhzoo.cli.core:info_cmd",
    "export": "mhzoo.export.cli:export_cmd",
    "inspect": "mhzoo.export.cli:inspect_cmd",
    "bench": "mhzoo.benchmarks.cli:bench_cmd",
    "report": "mhzoo.benchmarks.cli:report_cmd",
    "quickstart": "mhzoo.benchmarks.cli:quickstart_cmd",
    "convert": "mhzoo.weights.cli:convert_cmd",
    "fetch": "mhzoo.weights.cli:fetch_cmd",
    "train": "mhzoo.search.cli.train:train_cmd",
    "eval": "mhzoo.search.cli.train:eval_cmd",
    "search": "mhzoo.search.cli:search_cmd",
    "regenerate": "mhzoo.search.cli.regenerate:regenerate_cmd",
}

#: commands that never need TensorFlow
QUIET_COMMANDS = frozenset({"list", "info", "report", "fetch"})
#: commands that check their arguments first and then import TensorFlow themselves (quietly),
#: so that bad input fails in a fraction of a second
SELF_IMPORTING_COMMANDS = frozenset({"export", "inspect", "bench", "convert", "quickstart",
                                     "search", "regenerate"})

USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, PermissionError, IsADirectoryError,
               NotADirectoryError)
_MAX_MESSAGE = 600  # characters of one error line
#: TensorFlow errors that mean "this input is too large / invalid", not "mhzoo is broken"
_TF_USER_ERRORS = {"ResourceExhaustedError": "TensorFlow ran out of memory",
                   "InvalidArgumentError": "TensorFlow refused the input",
                   "OutOfRangeError": "TensorFlow refused the input"}


def _one_line(message: object) -> str:
    text = " ".join(str(message).split())
    return text if len(text) <= _MAX_MESSAGE else text[:_MAX_MESSAGE - 3] + "..."


def fail(message: str, code: int = 2) -> None:
    """Print a one-line error and exit with ``code`` (2: a user error)."""
    click.echo(f"Error: {_one_line(message)}", err=True)
    sys.exit(code)


def user_message(exc: BaseException) -> str | None:
    """The one-line message for an exception that bad input causes, or ``None`` for others.

    ``ValueError`` (mhzoo's user errors) gives its message; ``UnicodeError`` a note that the
    input is not text; ``OSError`` its reason and file; ``RecursionError`` / ``OverflowError`` /
    ``MemoryError`` / ``sqlite3.Error`` / TensorFlow's ``ResourceExhaustedError`` a line saying
    the input is too deep, too large or not a database.
    """
    if isinstance(exc, UnicodeError):
        return f"input is not valid text ({exc})"
    if isinstance(exc, ValueError):
        return str(exc.args[0]) if exc.args else type(exc).__name__
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if getattr(exc, "filename", None) else ""
        return f"{exc.strerror or exc}{where}"
    if isinstance(exc, RecursionError):
        return "input is nested too deeply to process"
    if isinstance(exc, OverflowError):
        return f"a number in the input is too large ({exc})"
    if isinstance(exc, MemoryError):
        return "out of memory: the input is too large (use a smaller width or input size)"
    if isinstance(exc, sqlite3.Error):
        return f"the database cannot be used: {exc}"
    name = type(exc).__name__
    if name in _TF_USER_ERRORS and type(exc).__module__.startswith("tensorflow"):
        first = str(getattr(exc, "message", "") or exc).strip().splitlines()
        return f"{_TF_USER_ERRORS[name]}: {first[0] if first else name} (use a smaller width, " \
            "input size or batch)"
    return None


class MhzooGroup(click.Group):
    """Lazy subcommands, and one-line errors with exit code 2 for user mistakes."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        try:
            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            reason = str(exc)

            @click.command(name=name, help=f"(unavailable: {reason})")
            def unavailable() -> None:
                fail(f"command {name!r} is unavailable: {reason}")

            return unavailable

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        """Like click's, but usage errors are one line (no usage dump) with exit code 2."""
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:
            click.echo(exc.ctx.get_help() if exc.ctx else "")
            rv = 0
        except click.ClickException as exc:
            fail(exc.format_message())
        except click.Abort:
            click.echo("Aborted.", err=True)
            sys.exit(1)
        if not standalone_mode:
            return rv
        sys.exit(rv if isinstance(rv, int) else 0)

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        name, cmd, rest = super().resolve_command(ctx, args)
        if name not in QUIET_COMMANDS | SELF_IMPORTING_COMMANDS and "--help" not in rest \
                and "-h" not in rest:
            from mhzoo._quiet import import_tensorflow_quietly

            import_tensorflow_quietly()
        return name, cmd, rest

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.Abort, click.exceptions.Exit):
            raise
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            sys.exit(130)
        except Exception as exc:
            msg = user_message(exc)
            if msg is not None:
                fail(msg)
            if os.environ.get("MHZOO_DEBUG", "") not in ("", "0"):
                raise
            fail(f"internal error ({type(exc).__name__}: {exc}); please report it with the "
                 "traceback that MHZOO_DEBUG=1 prints", code=1)


@click.group(cls=MhzooGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mhzoo")
def main() -> None:
    """mhzoo: multi-hardware mobile models — build, export, benchmark, convert."""
