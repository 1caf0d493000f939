"""The `attn` Typer application, its consoles and the user-error handling every command shares.

Every command is a thin layer over the library: it parses options, calls one function and
prints. Errors that are the user's to fix print one line and exit with code 2 (:mod:`attn.cli.errors`);
``--debug`` or ``ATTN_DEBUG=1`` shows the traceback instead.
"""

from __future__ import annotations

import typer
from rich.console import Console

from attn.cli.errors import STATE as _state
from attn.cli.errors import OneLineErrorsGroup, user_errors

app = typer.Typer(
    name="attn",
    cls=OneLineErrorsGroup,
    help="Train, sample and benchmark attention models on text and EEG.\n\n"
    "Start with: attn recipes list, then attn train shakespeare_char_cpu.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
console = Console()
err_console = Console(stderr=True)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks for errors (also ATTN_DEBUG=1)."),
) -> None:
    """Train, sample and benchmark attention models on text and EEG."""
    if debug:
        _state["debug"] = True


__all__ = ["app", "console", "err_console", "user_errors"]
