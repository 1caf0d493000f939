"""Where the command line writes: the result to stdout, everything else to stderr.

``console`` (stdout) carries only what a command produces: the run directory of ``attn train``,
the text of ``attn generate``, a listing, or JSON with ``--json``. ``err_console`` (stderr) carries
progress, notes, tables and errors, so ``attn train ... | xargs ls`` or ``attn train ... --json |
jq .best`` see the result alone. Neither wraps lines when it is not a terminal (a path stays
one line in a log file, whatever $COLUMNS says); on a terminal they wrap at its width as usual.
"""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console, ConsoleDimensions
from rich.text import Text

UNWRAPPED_WIDTH = 100_000  # "no wrapping": wider than any line a command prints


class StreamConsole(Console):
    """A rich Console that does not hard-wrap when its stream is not a terminal (a pipe has no width)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._asked_width = kwargs.get("width") is not None  # rich also takes a width from $COLUMNS

    @property
    def size(self) -> ConsoleDimensions:
        dimensions = super().size
        if not self.is_terminal and not self._asked_width:
            return ConsoleDimensions(UNWRAPPED_WIDTH, dimensions.height)
        return dimensions

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)  # type: ignore[attr-defined]


console = StreamConsole(soft_wrap=True)
err_console = StreamConsole(stderr=True, soft_wrap=True)


def notes(quiet: bool) -> Any:
    """``err_console.print`` for tables and notes, or a function that prints nothing under ``--quiet``
    (errors and warnings are printed elsewhere and always)."""
    return (lambda *args, **kwargs: None) if quiet else err_console.print


def plain(text: Any) -> Text:
    """``text`` as a rich Text that is never read as markup (``attn[eegnex]`` stays as written)."""
    return text if isinstance(text, Text) else Text(str(text))


def print_result(text: str) -> None:
    """One result line on stdout, exactly as given (no markup, no wrapping)."""
    sys.stdout.write(f"{text}\n")
    sys.stdout.flush()


def print_json(data: Any) -> None:
    """``data`` as JSON on stdout (NaN/Inf as null), for ``--json``."""
    from attn.fileio import to_json

    print_result(to_json(data))


__all__ = ["StreamConsole", "console", "err_console", "plain", "print_json", "print_result"]
