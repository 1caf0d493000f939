"""What a training run shows while it works: a rich progress bar, or plain log lines.

On a terminal the bar shows step, loss, throughput and time left. When the output is not a
terminal (CI, a pipe, a log file) it prints one line per log interval instead. ``quiet`` shows
nothing but warnings.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from attn.formatting import format_value


class TrainingDisplay:
    """Progress for one training run (a context manager)."""

    def __init__(
        self,
        console: Console,
        total_steps: int | None,
        *,
        quiet: bool = False,
        label: str = "train",
        items: str = "tok",
        every: int = 1,
    ):
        self.console = console
        self.total = total_steps
        self.quiet = quiet
        self.items = items
        self.label = label
        self.every = every
        self._lines_printed = 0
        self._progress: Progress | None = None
        self._task: Any = None

    def __enter__(self) -> TrainingDisplay:
        if not self.quiet and self.console.is_terminal:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]}"),
                TextColumn("{task.fields[rate]}"),
                TextColumn("{task.fields[extra]}"),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                console=self.console,
                transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task(self.label, total=self.total, loss="-", rate="", extra="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def start_at(self, step: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=step)

    def update(self, step: int, loss: float, rate: float, extra: str = "", total: int | None = None) -> None:
        """Show the state after ``step``; ``rate`` in items per second."""
        rate_text = f"{_si(rate)} {self.items}/s" if rate > 0 else ""
        if self._progress is not None:
            self._progress.update(
                self._task,
                completed=step,
                total=total or self.total,
                loss=f"{loss:.4f}",
                rate=rate_text,
                extra=extra,
            )
        elif not self.quiet:
            total_text = f"/{total or self.total}" if (total or self.total) else ""
            self.console.print(f"{self.label} step {step}{total_text}  loss {loss:.4f}  {rate_text}  {extra}".rstrip())

    def note(self, message: str) -> None:
        """A line above the bar (an evaluation result, a new best checkpoint...)."""
        if not self.quiet:
            self.console.print(message)


def _si(value: float) -> str:
    for unit, scale in (("M", 1e6), ("k", 1e3)):
        if value >= scale:
            return f"{value / scale:.2f}{unit}"
    return f"{value:.1f}"


def summary_table(title: str, rows: list[tuple[str, Any]]) -> Table:
    """A two-column table of a run's results."""
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("metric", style="bold")
    table.add_column("value")
    for key, value in rows:
        table.add_row(key, format_value(value))
    return table
