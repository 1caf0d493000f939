"""Runs: the one entry point for training a recipe or continuing a run directory.

``attn train``, ``attn train --resume`` and the bench worker all come through here.
:func:`start_run` trains a recipe (k-fold cross-validation when its ``train.folds`` is above 1);
:func:`resume_run` continues a run directory (a single run from ``checkpoints/last.pt``, a
cross-validation run fold by fold).
"""

from __future__ import annotations

from pathlib import Path

from attn.errors import UserError
from attn.recipe import Recipe
from attn.runs.crossval import resume_cross_validation, run_cross_validation
from attn.runs.single import (
    RunHooks,
    RunOptions,
    RunOutcome,
    prepare_runtime,
    resume_single,
    run_recipe_file,
    start_single,
    train_in_dir,
)
from attn.tasks import build_task
from attn.training.distributed import shutdown_world
from attn.training.rundir import run_lock


def start_run(recipe: Recipe, options: RunOptions, run_dir: Path | None = None) -> RunOutcome:
    """Train ``recipe`` in a new run directory (or in ``run_dir``, which must be new and empty)."""
    runtime, world = prepare_runtime(recipe, options)
    try:
        if getattr(recipe.train, "folds", 1) > 1:
            if run_dir is not None:
                raise UserError(
                    f"recipe {recipe.name}: a cross-validation run (train.folds {recipe.train.folds}) makes its own run "
                    "directory with one folder per fold; it cannot train into a given one"
                )
            return run_cross_validation(recipe, options, runtime, world)
        return start_single(recipe, options, runtime, world, run_dir)
    finally:
        shutdown_world(world)


def resume_run(run_dir: Path, overrides: list[str], options: RunOptions) -> RunOutcome:
    """Continue an interrupted or killed run (see the module docstring).

    The run directory is locked first, so a second writer fails before reading anything.
    """
    run_dir = Path(run_dir)
    run_recipe_file(run_dir)
    with run_lock(run_dir):
        if (run_dir / "cv.json").is_file():
            return resume_cross_validation(run_dir, overrides, options)
        recipe, checkpoint, changes = resume_single(run_dir, overrides)
        runtime, world = prepare_runtime(recipe, options)
        try:
            task = build_task(recipe, checkpoint.get("extras"), quiet=options.quiet)
            return train_in_dir(recipe, task, run_dir, runtime, world, options, checkpoint=checkpoint, changes=changes)
        finally:
            shutdown_world(world)


__all__ = ["RunHooks", "RunOptions", "RunOutcome", "resume_run", "start_run"]
