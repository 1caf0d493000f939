"""The `attn` Typer application, its consoles and the user-error handling every command shares.

Every command is a thin layer over the library: it parses options, calls one function and
prints. Errors that are the user's to fix print one line and exit with code 2 (:mod:`attn.cli.errors`);
``--debug`` or ``ATTN_DEBUG=1`` shows the traceback instead.
"""

from __future__ import annotations

import typer

from attn.cli.errors import STATE as _state
from attn.cli.errors import OneLineErrorsGroup, user_errors
from attn.cli.output import console, err_console

CONTEXT = {"help_option_names": ["-h", "--help"]}  # inherited by every command and group

app = typer.Typer(
    name="attn",
    cls=OneLineErrorsGroup,
    help="Train, sample and benchmark attention models on text and EEG.\n\n"
    "Start with: attn recipes list, then attn train shakespeare_char_cpu.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings=CONTEXT,
)


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


__all__ = ["app", "console", "err_console", "user_errors"]
