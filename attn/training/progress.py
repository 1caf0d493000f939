"""What a training run shows while it works: a rich progress bar, or plain log lines.

On a terminal the bar shows step, loss, throughput and time left. When the output is not a
terminal (CI, a pipe, a log file) it prints one line per log interval instead. ``quiet`` shows
nothing but warnings.

Time left comes from the run's :class:`~attn.training.estimate.RunEstimate` (timed before the
first step, so it shows from the first second; for a compiled run on a GPU made from the first
measured speed instead) and, once training has measured its own throughput, from that: the steps
left at the measured speed plus the evaluations still to come.
Between updates the bar counts down.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from attn.formatting import format_clock, format_duration, format_value
from attn.training.estimate import RunEstimate

REESTIMATE_AT = 0.25  # a measured step time this far (relative) from the estimate's is reported


class TimeLeftColumn(ProgressColumn):
    """``eta h:mm:ss`` counting down to the task's ``finish_at`` field (a ``time.monotonic`` instant)."""

    def render(self, task: Any) -> Text:
        finish_at = task.fields.get("finish_at")
        left = None if finish_at is None else max(finish_at - time.monotonic(), 0.0)
        return Text(f"eta {format_clock(left)}", style="progress.remaining")


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
        self.estimate: RunEstimate | None = None
        self._measured = False
        self._plan: Callable[[float], RunEstimate] | None = None
        self._finish_at: float | None = None
        self._progress: Progress | None = None
        self._task: Any = None

    def expect(self, estimate: RunEstimate) -> None:
        """The run's estimate: time left shows from now on."""
        self.estimate = estimate
        self._finish_at = time.monotonic() + estimate.total_s

    def expect_from_speed(self, plan: Callable[[float], RunEstimate]) -> None:
        """No estimate before training: ``plan(items_per_s)`` makes one from the first measured speed."""
        self._plan = plan

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
                TimeLeftColumn(),
                console=self.console,
                transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task(
                escape(self.label), total=self.total, loss="-", rate="", extra="", finish_at=self._finish_at
            )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def start_at(self, step: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=step)

    def time_left_s(self, step: int, rate: float) -> float | None:
        """Seconds left after ``step`` at ``rate`` items/s (0: not measured yet, the estimate's speed)."""
        if self.estimate is None:
            return None
        step_s = self.estimate.items_per_step / rate if rate > 0 else None
        return self.estimate.remaining_s(step_s, step)

    def update(self, step: int, loss: float, rate: float, extra: str = "", total: int | None = None) -> None:
        """Show the state after ``step``; ``rate`` in items per second (0: not measured yet)."""
        rate_text = f"{_si(rate)} {self.items}/s" if rate > 0 else ""
        if rate > 0 and self.estimate is None and self._plan is not None:
            self._measured = True  # the estimate is this speed's
            self.expect(self._plan(rate))
        left = self.time_left_s(step, rate)
        if left is not None:
            self._finish_at = time.monotonic() + left
        if rate > 0 and not self._measured and self.estimate is not None:
            self._measured = True  # the first measured speed: say so when it is far from the estimate's
            step_s = self.estimate.items_per_step / rate
            if abs(step_s / self.estimate.step_s - 1) > REESTIMATE_AT:
                self.note(
                    f"estimate at the measured {format_duration(step_s)} per step: about {format_duration(left)} left"
                )
        if self._progress is not None:
            self._progress.update(
                self._task,
                completed=step,
                total=total or self.total,
                loss=format_value(loss),
                rate=rate_text,
                extra=extra,
                finish_at=self._finish_at,
            )
        elif not self.quiet:
            total_text = f"/{total or self.total}" if (total or self.total) else ""
            eta = f"eta {format_clock(left)}" if left is not None else ""
            parts = [f"{self.label} step {step}{total_text}", f"loss {format_value(loss)}", rate_text, extra, eta]
            self.console.print("  ".join(p for p in parts if p), highlight=False, markup=False)

    def note(self, message: str) -> None:
        """A line above the bar (an evaluation result, a new best checkpoint...)."""
        if not self.quiet:
            self.console.print(message, highlight=False)


def _si(value: float) -> str:
    for unit, scale in (("M", 1e6), ("k", 1e3)):
        if value >= scale:
            return f"{value / scale:.2f}{unit}"
    return f"{value:.1f}"


def summary_table(title: str, rows: list[tuple[str, Any]]) -> Table:
    """A two-column table of a run's results (cells are never read as rich markup)."""
    table = Table(title=Text(title), show_header=False, title_justify="left")
    table.add_column("metric", style="bold")
    table.add_column("value")
    for key, value in rows:
        table.add_row(Text(key), Text(format_value(value)))
    return table
