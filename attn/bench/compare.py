"""The one driver of every side-by-side training comparison (`attn bench vs lstm`, `vs cnn`).

A :class:`Comparison` says what is compared (its sides, what to measure besides training, its
report and tables); :func:`run_comparison` does the rest the same way for every bench: the
budget and the evaluation cadence it implies (at least 8 evaluations per side), the bench
directory, one process per side (:mod:`attn.bench.worker`) with the budget it used, the curves
plot, ``report.json`` / ``report.md`` and the tables printed at the end.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from attn.bench import sides
from attn.bench.report import create_bench_dir, write_report
from attn.errors import UserError


@dataclass
class BenchOptions:
    """What a comparison bench was asked for on the command line."""

    recipe: str | None = None
    device: str | None = None
    budget_s: float | None = None
    steps: int | None = None
    overrides: list[str] = field(default_factory=list)
    runs_dir: str | None = None
    quiet: bool = False
    command: str = "attn bench"


@dataclass
class Trained:
    """What the driver hands a comparison after training: the sides and where each one ran."""

    device: torch.device
    bench_dir: Path
    group: list[sides.Side]
    run_dirs: dict[str, Path]
    budget: dict[str, Any]


class Comparison(ABC):
    """One kind of comparison; subclasses fill in the hooks."""

    name = ""  # the bench directory is runs/bench-<name>/<timestamp>
    metric = ""  # the validation metric plotted against time (lower is better)

    def __init__(self, opts: BenchOptions):
        self.opts = opts

    @abstractmethod
    def sides(self, device: torch.device, budget_keys: list[str]) -> list[sides.Side]:
        """The sides to train, each a resolved recipe (``budget_keys`` are recipe overrides)."""

    def notes(self) -> list[str]:
        """Lines printed before training (e.g. a side that cannot run here)."""
        return []

    def generation(self) -> dict[str, Any] | None:
        """What each side's worker measures after training besides memory (text generation speed)."""
        return None

    def measure(self, trained: Trained) -> dict[str, Any]:
        """Measurements after all sides trained (one-layer timings, split checks...)."""
        return {}

    @abstractmethod
    def report(self, trained: Trained, measured: dict[str, Any]) -> dict[str, Any]:
        """``report.json``: settings and every side's numbers."""

    @abstractmethod
    def markdown(self, report: dict[str, Any]) -> str:
        """``report.md``."""

    @abstractmethod
    def tables(self, report: dict[str, Any]) -> list[Table]:
        """The tables printed at the end."""

    def title(self, report: dict[str, Any]) -> str:
        return self.name

    def target(self, report: dict[str, Any]) -> float | None:
        """A horizontal line on the curves plot (a target the sides race to), if any."""
        return None


def print_budget_use(console: Console, side: sides.Side, run_dir: Path, budget: dict[str, Any], metric: str) -> None:
    """One line on what a side used of the budget, and a note if it was evaluated less often than planned."""
    summary, _ = sides.read_side(run_dir)
    evaluations = len(sides.eval_curve(run_dir, metric))
    use = sides.budget_use(summary, sides.describe_budget(budget, side.recipe), evaluations)
    console.print(f"{escape(side.label)}: {use['budget_used_text']}, {evaluations} evaluations")
    if budget["kind"] != "recipe" and evaluations < sides.MIN_EVALUATIONS:
        console.print(
            f"[yellow]note:[/] {escape(side.label)} was evaluated {evaluations} times, fewer than the "
            f"{sides.MIN_EVALUATIONS} planned (an evaluation took longer than the interval between them, or the "
            "budget is shorter than a few log intervals): time-to-target resolution is coarser"
        )


def run_comparison(bench: Comparison, console: Console) -> tuple[Path, dict[str, Any]]:
    """Train every side of ``bench``, one process each, and write its bench directory."""
    from attn.training.device import resolve_device
    from attn.training.distributed import launched_by_torchrun

    opts = bench.opts
    if launched_by_torchrun():
        raise UserError("attn bench runs each side on one device; start it without torchrun")
    device = resolve_device(opts.device or "auto")
    budget_keys, budget = sides.budget_overrides(opts.budget_s, opts.steps)
    group = [sides.with_evaluation_cadence(s, budget, opts.overrides) for s in bench.sides(device, budget_keys)]
    bench_dir = create_bench_dir(bench.name, opts.runs_dir)
    console.print(f"[bold]attn bench vs {bench.name}[/] -> {bench_dir}")
    for note in bench.notes():
        console.print(f"[yellow]note:[/] {escape(note)}")
    run_dirs = {}
    for side in group:
        console.print(f"[bold]{escape(side.label)}[/]: {side.recipe.name} ({side.recipe.model_name})")
        run_dirs[side.key] = sides.train_side(
            side, bench_dir, str(device), quiet=opts.quiet, generation=bench.generation()
        )
        print_budget_use(console, side, run_dirs[side.key], budget, bench.metric)
    trained = Trained(device, bench_dir, group, run_dirs, budget)
    report = bench.report(trained, bench.measure(trained))
    curves = {report["models"][s.key]["label"]: sides.eval_curve(run_dirs[s.key], bench.metric) for s in group}
    sides.plot_curves(
        curves,
        bench.metric,
        bench_dir / f"{bench.metric}_vs_time.png",
        title=bench.title(report),
        target=bench.target(report),
    )
    write_report(bench_dir, report, bench.markdown(report))
    for table in bench.tables(report):
        console.print(table)
    console.print(f"report: {bench_dir / 'report.md'}")
    return bench_dir, report
