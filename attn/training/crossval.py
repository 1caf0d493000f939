"""k-fold cross-validation by subject for EEG recipes (``train.folds: k`` with k > 1).

Fold ``i`` holds out the subjects of :func:`attn.datasets.eeg.subject_kfold`'s fold ``i`` as its
TEST set. The remaining subjects are split into train and an inner validation set
(``data.val_fraction``, ``data.split_seed``; ``data.test_fraction`` is not used) that picks the
best checkpoint and drives early stopping, so each fold's test number is a held-out number.

Layout: every fold is a complete run directory ``RUN_DIR/fold-<i>/`` trained by
:func:`attn.training.run.train_in_dir`; the parent ``RUN_DIR`` holds ``recipe.yaml``,
``env.json``, ``cv.json`` (the subjects of every fold, written first), and at the end
``summary.json`` (per-fold test NRMSE with the mean predictor and the oracle floor, mean ± sample
sd, pooled NRMSE, wall time), ``cv_summary.md`` and ``cv_folds.png``. The dataset is loaded once.

Resuming: ``attn train --resume RUN_DIR/fold-<i>`` continues one fold like any run (its split
is in the checkpoint). :func:`resume_cross_validation` continues a whole CV run: folds whose
``summary.json`` says they finished are kept as they are, a fold with ``checkpoints/last.pt``
is resumed from it, the rest are trained from scratch; then the parent summary is rewritten.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from rich.table import Table

from attn.datasets.eeg import EEGDataset, subject_kfold, subject_split
from attn.errors import DataError, UserError
from attn.recipe import Recipe, parse_recipe
from attn.training import eeg_report
from attn.training.checkpoint import load_checkpoint
from attn.training.device import Runtime
from attn.training.distributed import World, broadcast_flags
from attn.training.metrics import nrmse
from attn.training.progress import format_value
from attn.training.rundir import (
    atomic_write_json,
    atomic_write_text,
    create_run_dir,
    environment_info,
    read_json,
    runs_root,
)
from attn.training.tasks.regression import (
    RegressionTask,
    load_dataset_once,
    split_from_subjects,
    subjects_by_split,
)

FINISHED = ("completed", "early_stopped", "time_budget")


def fold_splits(dataset: EEGDataset, k: int, val_fraction: float, seed: int) -> list[dict[str, np.ndarray]]:
    """Window indices ``{"train", "val", "test"}`` of each of ``k`` subject folds."""
    n = dataset.n_subjects
    if k > n:
        raise DataError(
            f"train.folds={k} is more than the {n} subjects in the data: every fold needs "
            f"at least one held-out subject (lower train.folds or add subjects)"
        )
    if val_fraction <= 0:
        raise DataError(
            "cross-validation needs data.val_fraction > 0: an inner validation split of each "
            "fold's training subjects picks its best checkpoint"
        )
    if n - -(-n // k) < 2:
        raise DataError(
            f"train.folds={k} with {n} subjects leaves fewer than 2 subjects per fold for "
            f"training and validation (lower train.folds or add subjects)"
        )
    subjects = np.asarray(dataset.subjects)
    folds = []
    for rest, held in subject_kfold(subjects, k, seed):
        inner = subject_split(subjects[rest], val_fraction, 0.0, seed)
        folds.append({"train": rest[inner["train"]], "val": rest[inner["val"]], "test": held})
    return folds


def run_cross_validation(
    recipe: Recipe, options: Any, runtime: Runtime, world: World, run_dir: Path | None = None
) -> Any:
    """Train every fold of ``recipe`` (a new CV run, or the one in ``run_dir`` when resuming)."""
    from attn.training.run import RunOutcome

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
        if world.is_main:
            atomic_write_text(run_dir / "recipe.yaml", recipe.to_yaml())
            atomic_write_json(
                run_dir / "env.json",
                {
                    **environment_info(runtime.device),
                    "family": recipe.family,
                    "runtime": runtime.describe(),
                    "world_size": world.size,
                    "folds": k,
                },
            )
            atomic_write_json(
                run_dir / "cv.json",
                {
                    "folds": k,
                    "split_seed": data.split_seed,
                    "val_fraction": data.val_fraction,
                    "fold_subjects": [subjects_by_split(dataset, f) for f in folds],
                },
            )
    run_dir = Path(run_dir)
    if world.is_main and not options.quiet:
        options.console.print(
            f"[bold]{k}-fold cross-validation by subject[/] of {recipe.name} "
            f"({dataset.n_subjects} subjects, {len(dataset)} windows) -> {run_dir}"
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
                f"attn.training.crossval.resume_cross_validation('{run_dir}') continues every fold"
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
    options: Any,
    resuming: bool,
) -> dict[str, Any]:
    from attn.training.run import train_in_dir

    if resuming and (fold_dir / "summary.json").is_file():
        done = read_json(fold_dir / "summary.json")
        if done.get("status") in FINISHED:
            if world.is_main and not options.quiet:
                options.console.print(f"fold {i}: already {done['status']}, kept")
            return done
    last = fold_dir / "checkpoints" / "last.pt"
    checkpoint = load_checkpoint(last) if resuming and last.is_file() else None
    if checkpoint is None and world.is_main:
        (fold_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        (fold_dir / "metrics.jsonl").unlink(missing_ok=True)  # a fold restarted from scratch
    stats = None
    if checkpoint is not None:
        extras = checkpoint.get("extras", {})
        stats = (float(extras["target_mean"]), float(extras["target_std"]))
    task = RegressionTask(
        dataset,
        split,
        loss=recipe.train.loss,
        seed=recipe.train.seed,
        adaptive_augmentation=recipe.train.adaptive_augmentation,
        target_stats=stats,
        fold={"index": i, "folds": k},
    )
    outcome = train_in_dir(
        recipe,
        task,
        fold_dir,
        runtime,
        world,
        options,
        checkpoint=checkpoint,
        label=f"{recipe.name} fold-{i} ({i + 1}/{k})",
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
            f"{summary['test_nrmse_mean']:.4f}" + (f" ± {sd:.4f}" if sd is not None else ""),
            *(
                format_value(summary[k]) if summary[k] is not None else "-"
                for k in ("test_mean_predictor_nrmse_mean", "test_oracle_floor_mean", "val_nrmse_mean")
            ),
            "",
        )
    if summary.get("test_nrmse_pooled") is not None:
        table.caption = f"pooled test NRMSE over all held-out windows: {summary['test_nrmse_pooled']:.4f}"
    return table


def resume_cross_validation(run_dir: Path, overrides: list[str], options: Any) -> Any:
    """Continue the cross-validation run in ``run_dir`` (see the module docstring)."""
    from attn.training.distributed import shutdown_world
    from attn.training.run import prepare_runtime

    run_dir = Path(run_dir)
    if not (run_dir / "cv.json").is_file() or not (run_dir / "recipe.yaml").is_file():
        raise UserError(f"'{run_dir}' is not a cross-validation run directory (it has no cv.json and recipe.yaml)")
    for item in overrides:
        if not item.startswith("train.") or item.startswith("train.folds"):
            raise UserError(
                f"override '{item}': a resumed cross-validation can only change train.* keys other than train.folds"
            )
    recipe = parse_recipe(yaml.safe_load((run_dir / "recipe.yaml").read_text(encoding="utf-8")), run_dir.parent.name)
    if overrides:
        recipe = recipe.replace(overrides)
    runtime, world = prepare_runtime(recipe, options)
    try:
        return run_cross_validation(recipe, options, runtime, world, run_dir=run_dir)
    finally:
        shutdown_world(world)
