"""The experiment trackers of a run (``train.loggers``), from its recipe; rank 0 only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from attn.loggers import Trackers, check_trackers, open_trackers
from attn.recipe import Recipe
from attn.training.distributed import World


def check_run_trackers(recipe: Recipe, world: World) -> None:
    """A tracker whose package is missing stops the run before its directory is made (rank 0 only tracks)."""
    if world.is_main:
        check_trackers(recipe.train.loggers)


def start_trackers(
    recipe: Recipe, metric: str, run_dir: Path, world: World, checkpoint: dict[str, Any] | None, console: Console
) -> Trackers:
    """The trackers of ``run_dir`` (continued from ``checkpoint``'s step when resuming); none off rank 0."""
    names = recipe.train.loggers if world.is_main else []
    name = tracker_run_name(Path(run_dir))
    return open_trackers(
        names,
        run_dir,
        name=name,
        group=name.rsplit("/", 1)[0] if Path(run_dir).name.startswith("fold-") else None,
        hyperparameters=recipe.to_dict(),
        metric=metric,
        resume_step=int(checkpoint["trainer"]["step"]) if checkpoint else None,
        warn=lambda message: console.print(Text.assemble(("warning:", "yellow"), f" {message}")),
    )


def tracker_run_name(run_dir: Path) -> str:
    """``<recipe>/<timestamp>``, and ``<recipe>/<timestamp>/fold-<i>`` for a cross-validation fold."""
    parts = run_dir.resolve().parts
    return "/".join(parts[-3:] if run_dir.name.startswith("fold-") else parts[-2:])
