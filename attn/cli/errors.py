"""How errors reach the user: one line each, exit code 2, and output that never breaks a command.

Errors that are the user's to fix print one line ``error: ...`` on stderr and exit with code 2: a
:class:`attn.errors.UserError`, any OS error (permission, read-only or full file system, a name too
long...), running out of memory, and a command line that does not parse (:class:`OneLineErrorsGroup`
is the root command's class). ``--debug`` or ``ATTN_DEBUG=1`` shows the traceback instead. Output
streams whose reader has gone (``| head``, a ``tee`` stopped by the same Ctrl-C) never stop a
command: :func:`closed_output_tolerated` is the one place attn handles broken pipes.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

import typer
import typer.core
from rich.console import Console
from rich.text import Text

from attn.errors import UserError, describe_os_error

_click = getattr(typer.core, "_click", None) or __import__("click")  # typer >= 0.22 vendors click
_ABORT = getattr(_click.exceptions, "Abort", ())  # click's Abort; typer 0.29's vendored click has none


def env_flag(name: str) -> bool:
    """Whether environment variable ``name`` says yes: 1 (or any other non-zero number), true, yes, y or on.

    Empty, a zero (0, 00), false, no, n, off and none are off, and so is any other word: a flag that
    shows tracebacks is better off when the value is unclear.
    """
    value = os.environ.get(name, "").strip().lower()
    if value in ("true", "yes", "y", "on"):
        return True
    try:
        return float(value) != 0
    except ValueError:
        return False


class _TolerantStream:
    """A text stream that drops what is written once writing to it has failed (its reader has gone)."""

    def __init__(self, stream: Any):
        self._stream = stream
        self.broken = False

    def write(self, text: str) -> int:
        if not self.broken:
            try:
                return self._stream.write(text)
            except (OSError, ValueError):
                self._drop()
        return len(text)

    def flush(self) -> None:
        if not self.broken:
            try:
                self._stream.flush()
            except (OSError, ValueError):
                self._drop()

    def _drop(self) -> None:
        """From now on write nothing, and point the file descriptor at /dev/null for Python's own last flush."""
        self.broken = True
        with contextlib.suppress(OSError, ValueError, AttributeError):
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, self._stream.fileno())
            os.close(null)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def closed_output_tolerated() -> Iterator[None]:
    """``sys.stdout`` and ``sys.stderr`` that never raise while the block runs.

    When a stream's reader goes away (``attn ... | head``, or a Ctrl-C that stops ``tee`` too) or
    its disk fills up, what is written to it is dropped instead of raising ``BrokenPipeError``: a
    training run then saves, summarises and exits exactly as it does in a terminal. This is the one
    place attn deals with broken pipes; every console writes through ``sys.stdout``/``sys.stderr``.
    """
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = (_TolerantStream(s) if s is not None else s for s in saved)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


def one_line_error(err: BaseException) -> tuple[str, int] | None:
    """The one-line message and exit code for an error the user can act on; None for a bug (a traceback)."""
    if isinstance(err, UserError):
        return str(err), err.exit_code
    if isinstance(err, OSError):
        return describe_os_error(err), 2
    if isinstance(err, MemoryError) or type(err).__name__ == "OutOfMemoryError":  # torch.OutOfMemoryError
        detail = str(err).strip().splitlines()[0] if str(err).strip() else "the allocation failed"
        return f"out of memory ({detail[:200]}): lower train.batch_size or the model's size", 2
    return None


def print_error(message: str) -> None:
    """``error: message`` on stderr, as one line."""
    line = " ".join(message.splitlines())
    Console(stderr=True).print(Text.assemble(("error: ", "bold red"), line), highlight=False, soft_wrap=True)


class OneLineErrorsGroup(typer.core.TyperGroup):
    """The root command: usage errors print one line like every other error, and broken output never raises."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        with closed_output_tolerated():
            try:
                code = super().main(*args, standalone_mode=False, **kwargs)
            except _click.exceptions.NoArgsIsHelpError:
                code = 2  # the help is already printed
            except _click.exceptions.ClickException as err:
                ctx = getattr(err, "ctx", None)
                where = ctx.command_path if ctx is not None else "attn"
                print_error(f"{err.format_message()} (see `{where} --help`)")
                code = err.exit_code
            except _ABORT:
                print_error("aborted")
                code = 1
            except BaseException as err:  # outside a command (its options, the root callback): same rules
                found = one_line_error(err)
                if found is None or STATE["debug"]:
                    raise
                print_error(found[0])
                code = found[1]
        code = code if isinstance(code, int) else 0
        if standalone_mode:
            sys.exit(code)
        return code


STATE = {"debug": env_flag("ATTN_DEBUG")}  # --debug turns it on for the process


def user_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn an error the user can act on (:func:`one_line_error`) into one red line and its exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except KeyboardInterrupt:
            if STATE["debug"]:
                raise
            print_error("interrupted")
            raise typer.Exit(130) from None
        except Exception as err:
            found = one_line_error(err)
            if found is None or STATE["debug"]:
                raise
            print_error(found[0])
            raise typer.Exit(found[1]) from None

    return wrapper
