"""k-fold cross-validation by subject for EEG recipes (``train.folds: k`` with k > 1).

Fold ``i`` holds out the subjects of :func:`attn.datasets.eeg.subject_kfold`'s fold ``i`` as its
TEST set. The remaining subjects are split into train and an inner validation set
(``data.val_fraction``, ``data.split_seed``; ``data.test_fraction`` is not used) that picks the
best checkpoint and drives early stopping, so each fold's test number is a held-out number.

Layout: every fold is a complete run directory ``RUN_DIR/fold-<i>/`` trained by
:func:`attn.runs.single.train_in_dir`; the parent ``RUN_DIR`` holds ``recipe.yaml``,
``env.json``, ``cv.json`` (the subjects of every fold, written first), and at the end
``summary.json`` (per-fold test NRMSE with the mean predictor and the oracle floor, mean ± sample
sd, pooled NRMSE, wall time), ``cv_summary.md`` and ``cv_folds.png``. The dataset is loaded once.

Resuming: ``attn train --resume RUN_DIR`` continues a whole CV run (:func:`resume_cross_validation`):
folds whose ``summary.json`` says they finished are kept as they are, a fold with
``checkpoints/last.pt`` is resumed from it, the rest are trained from scratch; then the parent
summary is rewritten. ``attn train --resume RUN_DIR/fold-<i>`` continues one fold like any run.
"""

from __future__ import annotations

import contextlib
import csv
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.markup import escape
from rich.table import Table

from attn.datasets.eeg import EEGDataset, fold_splits, load_dataset_once, split_from_subjects, subjects_by_split
from attn.errors import CheckpointError, UserError
from attn.fileio import atomic_write_json, atomic_write_text, read_json
from attn.formatting import format_value
from attn.metrics import nrmse
from attn.recipe import Recipe, load_run_recipe, recipe_changes, reconcile_run_recipe, stored_recipe
from attn.runs.single import (
    RunOptions,
    RunOutcome,
    check_resume_overrides,
    prepare_runtime,
    record_recipe_changes,
    run_recipe_file,
    train_in_dir,
    write_run_files,
)
from attn.tasks.eeg import regression_task
from attn.tasks.eeg import report as eeg_report
from attn.training.checkpoint import check_checkpoint, load_checkpoint
from attn.training.device import Runtime
from attn.training.distributed import World, broadcast_flags, shutdown_world
from attn.training.rundir import create_run_dir, run_lock, runs_root
from attn.training.trainer import STOP

FINISHED = ("completed", "early_stopped", "time_budget")


def run_cross_validation(
    recipe: Recipe, options: RunOptions, runtime: Runtime, world: World, run_dir: Path | None = None
) -> RunOutcome:
    """Train every fold of ``recipe`` (a new CV run, or the one in ``run_dir`` when resuming)."""
    wall_start = time.perf_counter()
    k = recipe.train.folds
    data = recipe.data
    dataset = load_dataset_once(data, progress=None if options.quiet else options.console.print)
    resuming = run_dir is not None
    if resuming:
        stored = read_json(Path(run_dir) / "cv.json")
        folds = [split_from_subjects(dataset, f) for f in stored["fold_subjects"]]
        previous_wall = float(
            (read_json(Path(run_dir) / "summary.json") if (Path(run_dir) / "summary.json").exists() else {}).get(
                "wall_time_s"
            )
            or 0.0
        )
    else:
        folds = fold_splits(dataset, k, data.val_fraction, data.split_seed)
        previous_wall = 0.0
        run_dir = create_run_dir(runs_root(options.runs_dir), recipe.name) if world.is_main else Path("/nonexistent")
    run_dir = Path(run_dir)
    with run_lock(run_dir) if world.is_main else contextlib.nullcontext(), STOP:
        if not resuming:
            write_run_files(run_dir, recipe, runtime, world, options.init, folds=k)
            if world.is_main:
                atomic_write_json(
                    run_dir / "cv.json",
                    {
                        "folds": k,
                        "split_seed": data.split_seed,
                        "val_fraction": data.val_fraction,
                        "fold_subjects": [subjects_by_split(dataset, f) for f in folds],
                    },
                )
        return _run_folds(recipe, dataset, folds, run_dir, runtime, world, options, resuming, previous_wall, wall_start)


def _run_folds(
    recipe: Recipe,
    dataset: EEGDataset,
    folds: list[dict[str, np.ndarray]],
    run_dir: Path,
    runtime: Runtime,
    world: World,
    options: RunOptions,
    resuming: bool,
    previous_wall: float,
    wall_start: float,
) -> RunOutcome:
    """Train (or keep, or resume) every fold, then write the parent's summary, table and plot."""
    k = recipe.train.folds
    if world.is_main and not options.quiet:
        options.console.print(
            f"[bold]{k}-fold cross-validation by subject[/] of {recipe.name} "
            f"({dataset.n_subjects} subjects, {len(dataset)} windows) -> {escape(str(run_dir))}",
            highlight=False,
        )
    results = []
    for i, split in enumerate(folds):
        fold_summary = _train_fold(
            recipe, dataset, split, i, len(folds), run_dir / f"fold-{i}", runtime, world, options, resuming
        )
        results.append(_fold_result(i, run_dir / f"fold-{i}", split, dataset, fold_summary))
        (stopped,) = broadcast_flags(world, [fold_summary.get("status") not in FINISHED], runtime.device)
        if stopped:  # interrupted (or diverged): rank 0 decides, every rank stops
            break
    summary = cv_summary(recipe, results, len(folds), previous_wall + time.perf_counter() - wall_start)
    if world.is_main:
        atomic_write_json(run_dir / "summary.json", summary)
        atomic_write_text(run_dir / "cv_summary.md", eeg_report.cv_markdown(summary))
        eeg_report.plot_cv_folds(
            run_dir / "cv_folds.png", summary["per_fold"], title=f"{recipe.name}: test NRMSE per fold"
        )
        if not options.quiet:
            options.console.print(cv_table(summary))
        if summary["status"] not in FINISHED:
            options.console.print(
                f"[yellow]cross-validation stopped[/] ({summary['status']}) in fold-{len(results) - 1}; "
                f"attn train --resume {run_dir} continues every fold"
            )
    return RunOutcome(run_dir, summary)


def _train_fold(
    recipe: Recipe,
    dataset: EEGDataset,
    split: dict[str, np.ndarray],
    i: int,
    k: int,
    fold_dir: Path,
    runtime: Runtime,
    world: World,
    options: RunOptions,
    resuming: bool,
) -> dict[str, Any]:
    if resuming and (fold_dir / "summary.json").is_file():
        done = read_json(fold_dir / "summary.json")
        if done.get("status") in FINISHED:
            if world.is_main and not options.quiet:
                options.console.print(f"fold {i}: already {done['status']}, kept")
            return done
    last = fold_dir / "checkpoints" / "last.pt"
    checkpoint = load_checkpoint(last) if resuming and last.is_file() else None
    changes = None
    if checkpoint is not None:
        changes = recipe_changes(stored_recipe(checkpoint["recipe"], last, recipe.name), recipe)
    if checkpoint is None and world.is_main:
        (fold_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        (fold_dir / "metrics.jsonl").unlink(missing_ok=True)  # a fold restarted from scratch
    stats = None
    if checkpoint is not None:
        extras = checkpoint.get("extras", {})
        stats = (float(extras["target_mean"]), float(extras["target_std"]))
    task = regression_task(recipe, dataset, split, target_stats=stats, fold={"index": i, "folds": k})
    outcome = train_in_dir(
        recipe,
        task,
        fold_dir,
        runtime,
        world,
        options,
        checkpoint=checkpoint,
        label=f"{recipe.name} fold-{i} ({i + 1}/{k})",
        runs_left=k - i,
        changes=changes,
    )
    return outcome.summary


def _fold_result(
    i: int, fold_dir: Path, split: dict[str, np.ndarray], dataset: EEGDataset, summary: dict[str, Any]
) -> dict[str, Any]:
    report = summary.get("best_checkpoint_eval", {})
    result: dict[str, Any] = {
        "fold": i,
        "run_dir": str(fold_dir),
        "status": summary.get("status"),
        "test_subjects": subjects_by_split(dataset, {"test": split["test"]})["test"],
        "n_train_windows": int(len(split["train"])),
        "n_val_windows": int(len(split["val"])),
        "n_test_windows": int(len(split["test"])),
        "best_step": summary.get("best", {}).get("step"),
        "wall_time_s": summary.get("wall_time_s"),
    }
    for key in (
        "val_nrmse",
        "test_nrmse",
        "test_rmse",
        "test_r2",
        "test_pearson_r",
        "test_mean_predictor_nrmse",
        "test_oracle_floor",
    ):
        result[key] = report.get(key)
    return result


def _pooled_test_nrmse(results: list[dict[str, Any]]) -> float | None:
    """NRMSE over the held-out windows of every fold together (each window predicted once)."""
    y_true, y_pred = [], []
    for result in results:
        path = Path(result["run_dir"]) / "predictions_test.csv"
        if not path.is_file():
            return None
        with open(path, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                y_true.append(float(row["y_true"]))
                y_pred.append(float(row["y_pred"]))
    return nrmse(np.array(y_true), np.array(y_pred)) if y_true else None


def _mean(values: list[Any]) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def cv_summary(recipe: Recipe, results: list[dict[str, Any]], k: int, wall_time_s: float) -> dict[str, Any]:
    """The parent ``summary.json``: per-fold results and their mean ± sample sd (ddof 1)."""
    stopped = next((r["status"] for r in results if r["status"] not in FINISHED), None)
    status = stopped or ("completed" if len(results) == k else "incomplete")
    scores = [r["test_nrmse"] for r in results if r["test_nrmse"] is not None]
    complete = status == "completed" and len(scores) == k
    return {
        "recipe": recipe.name,
        "model": recipe.model_name,
        "kind": "cross_validation",
        "folds": k,
        "status": status,
        "metric": "test_nrmse",
        "per_fold": results,
        "test_nrmse_mean": float(np.mean(scores)) if scores else None,
        "test_nrmse_sd": float(np.std(scores, ddof=1)) if len(scores) > 1 else None,
        "test_nrmse_pooled": _pooled_test_nrmse(results) if complete else None,
        "test_mean_predictor_nrmse_mean": _mean([r["test_mean_predictor_nrmse"] for r in results]),
        "test_oracle_floor_mean": _mean([r["test_oracle_floor"] for r in results]),
        "val_nrmse_mean": _mean([r["val_nrmse"] for r in results]),
        "wall_time_s": wall_time_s,
    }


def cv_table(summary: dict[str, Any]) -> Table:
    """The end-of-run table: one row per fold, then the mean ± sd."""
    table = Table(
        title=f"{summary['recipe']}: {summary['folds']}-fold CV by subject ({summary['status']})", title_justify="left"
    )
    for column in ("fold", "subjects", "windows", "test NRMSE", "mean pred.", "floor", "val NRMSE", "best step"):
        table.add_column(column, justify="right")
    for r in summary["per_fold"]:
        table.add_row(
            str(r["fold"]),
            str(len(r["test_subjects"])),
            str(r["n_test_windows"]),
            *(
                format_value(r[k]) if r[k] is not None else "-"
                for k in ("test_nrmse", "test_mean_predictor_nrmse", "test_oracle_floor", "val_nrmse", "best_step")
            ),
        )
    if summary["test_nrmse_mean"] is not None:
        sd = summary["test_nrmse_sd"]
        table.add_row(
            "mean",
            "",
            "",
            format_value(summary["test_nrmse_mean"]) + (f" ± {format_value(sd)}" if sd is not None else ""),
            *(
                format_value(summary[k]) if summary[k] is not None else "-"
                for k in ("test_mean_predictor_nrmse_mean", "test_oracle_floor_mean", "val_nrmse_mean")
            ),
            "",
        )
    if summary.get("test_nrmse_pooled") is not None:
        table.caption = f"pooled test NRMSE over all held-out windows: {format_value(summary['test_nrmse_pooled'])}"
    return table


def resume_cross_validation(run_dir: Path, overrides: list[str], options: RunOptions) -> RunOutcome:
    """Continue the cross-validation run in ``run_dir`` (see the module docstring).

    The parent's recipe.yaml is used (with ``overrides`` on top). Every fold checkpoint is checked
    against it before anything is written; what changed is recorded in the parent's recipe.yaml and,
    as each fold resumes, in the fold's.
    """
    run_dir = Path(run_dir)
    if not (run_dir / "cv.json").is_file():
        raise UserError(f"'{run_dir}' is not a cross-validation run directory (it has no cv.json)")
    check_resume_overrides(overrides, frozen=("train.folds",))
    with run_lock(run_dir):
        written = load_run_recipe(run_recipe_file(run_dir), run_dir.parent.name)
        recipe = written.replace(overrides) if overrides else written
        _check_fold_checkpoints(run_dir, recipe, options)
        runtime, world = prepare_runtime(recipe, options)
        try:
            changes = recipe_changes(written, recipe)
            if changes and world.is_main:
                record_recipe_changes(run_dir, recipe, changes, None, options.console)
            return run_cross_validation(recipe, options, runtime, world, run_dir=run_dir)
        finally:
            shutdown_world(world)


def _check_fold_checkpoints(run_dir: Path, recipe: Recipe, options: RunOptions) -> None:
    """Refuse to resume when a fold's checkpoint has another model or data than ``recipe`` (the parent's)."""
    for last in sorted(run_dir.glob("fold-*/checkpoints/last.pt")):
        fold_dir = last.parent.parent
        checkpoint = load_checkpoint(last)
        check_checkpoint(checkpoint, last, resumable=True)
        trained = stored_recipe(checkpoint["recipe"], last, recipe.name)
        fold_recipe = reconcile_run_recipe(trained, run_recipe_file(fold_dir))  # the fold's recipe.yaml fits it
        fixed = [key for key in recipe_changes(trained, recipe) if not key.startswith("train.")]
        if fixed:
            raise CheckpointError(
                f"'{run_dir / 'recipe.yaml'}' does not match the checkpoint {last}: {fixed[0]} differs. "
                f"A resumed run can only change train.* keys: undo that edit, or train a new run"
            )
        edited = sorted(recipe_changes(fold_recipe, recipe))
        if edited:
            options.console.print(
                f"[yellow]note:[/] {fold_dir.name}/recipe.yaml differs from the cross-validation's recipe.yaml in "
                f"{', '.join(edited)}; the cross-validation's is used (edit {run_dir / 'recipe.yaml'} instead)",
                highlight=False,
            )
