"""The `attn` Typer application, its consoles and the user-error handling every command shares.

Every command is a thin layer over the library: it parses options, calls one function and
prints. Errors that are the user's to fix (:class:`attn.errors.UserError`) print one line and
exit with code 2; ``--debug`` or ``ATTN_DEBUG=1`` shows the traceback instead.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

import typer
from rich.text import Text

from attn.cli.output import console, err_console
from attn.errors import UserError

CONTEXT = {"help_option_names": ["-h", "--help"]}  # inherited by every command and group

app = typer.Typer(
    name="attn",
    help="Train, sample and benchmark attention models on text and EEG.\n\n"
    "Start with: attn recipes list, then attn train shakespeare_char_cpu.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings=CONTEXT,
)
_state = {"debug": bool(os.environ.get("ATTN_DEBUG"))}


def _print_version(value: bool) -> None:
    if value:
        import attn

        typer.echo(f"attn {attn.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks for errors (also ATTN_DEBUG=1)."),
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the attn version and exit."
    ),
) -> None:
    """Train, sample and benchmark attention models on text and EEG."""
    if debug:
        _state["debug"] = True


def user_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a UserError raised by a command into one red line and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except UserError as err:
            if _state["debug"]:
                raise
            err_console.print(Text.assemble(("error: ", "bold red"), str(err)), highlight=False, soft_wrap=True)
            raise typer.Exit(err.exit_code) from None

    return wrapper


__all__ = ["app", "console", "err_console", "user_errors"]
