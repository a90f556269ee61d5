"""The ``mhzoo`` command line: thin click commands over the Python API.

Subcommands load lazily (``mhzoo list`` does not import TensorFlow). Every user error is one
line on stderr with exit code 2, never a traceback: library code raises ``ValueError`` (or
``FileNotFoundError`` / ``PermissionError`` / ``FileExistsError``) and :class:`MhzooGroup` turns it
into ``Error: <message>``.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before any subcommand imports TensorFlow

__all__ = ["COMMANDS", "MhzooGroup", "main"]

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
}

#: commands that never need TensorFlow
QUIET_COMMANDS = frozenset({"list", "info", "report"})

USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, PermissionError, IsADirectoryError,
               NotADirectoryError)


def fail(message: str) -> None:
    """Print a one-line error and exit with code 2."""
    click.echo(f"Error: {' '.join(str(message).split())}", err=True)
    sys.exit(2)


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
        if name not in QUIET_COMMANDS and "--help" not in rest and "-h" not in rest:
            from mhzoo._quiet import import_tensorflow_quietly

            import_tensorflow_quietly()
        return name, cmd, rest

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except USER_ERRORS as exc:
            plain = isinstance(exc, ValueError) and not isinstance(exc, UnicodeError)
            msg = exc.args[0] if plain and exc.args else str(exc)
            fail(str(msg))
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            sys.exit(130)


@click.group(cls=MhzooGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mhzoo")
def main() -> None:
    """mhzoo: multi-hardware mobile models — build, export, benchmark, convert."""
