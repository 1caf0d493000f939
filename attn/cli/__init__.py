"""The `attn` command line (Typer + rich).

Every command is a thin layer over the library: it parses options, calls one function and
prints. Errors that are the user's to fix (:class:`attn.errors.UserError`) print one line and
exit with code 2; ``--debug`` or ``ATTN_DEBUG=1`` shows the traceback instead.
"""

from __future__ import annotations

import sys

from attn.cli import bench, cache, evaluate, export, generate, recipes, train  # noqa: F401  (each registers its commands)
from attn.cli.app import app, console, err_console, user_errors


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    app(args=argv if argv is not None else sys.argv[1:], prog_name="attn")


__all__ = ["app", "console", "err_console", "main", "user_errors"]
