"""Re-scoring a finished run from its checkpoint (what `attn eval` does).

A single run writes ``eval-<split>.json`` into its directory (one file per split, so scoring the
test split does not overwrite the validation one). A cross-validation run (``cv.json``, EEG)
scores every fold (or the ones asked for) into ``fold-<i>/eval-<split>.json`` and writes the
pooled result beside ``cv.json``: per-fold metrics, their mean and sample sd, and the NRMSE over
all folds' windows together. :func:`check_request` rejects what cannot work before anything is
evaluated or written.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from attn.errors import UserError
from attn.fileio import atomic_write_json
from attn.inference.load import TrainedModel, is_exported_file, load_trained
from attn.metrics import nrmse
from attn.recipe import Recipe
from attn.tasks import build_task
from attn.tasks.eeg import RegressionTask
from attn.training.device import resolve_runtime
from attn.training.distributed import World

SPLITS = ("val", "test")


def eval_file(run_dir: Path, split: str) -> Path:
    """Where the evaluation of ``split`` is written: ``RUN_DIR/eval-<split>.json``, or
    ``FILE.eval-<split>.json`` beside a model file from ``attn export``."""
    source = Path(run_dir)
    if is_exported_file(source):
        return source.with_name(f"{source.name}.eval-{split}.json")
    return source / f"eval-{split}.json"


def is_cross_validation(run_dir: Path) -> bool:
    return (Path(run_dir) / "cv.json").is_file()


def fold_dirs(run_dir: Path, folds: list[int] | None = None) -> list[Path]:
    """The fold directories of a cross-validation run (all, or those numbered in ``folds``)."""
    found = sorted(
        (p for p in Path(run_dir).glob("fold-*") if p.is_dir() and p.name[5:].isdigit()), key=lambda p: int(p.name[5:])
    )
    if folds is None:
        if not found:
            raise UserError(f"cross-validation run '{run_dir}' has no fold-<i>/ directories yet")
        return found
    by_index = {int(p.name[5:]): p for p in found}
    missing = [k for k in folds if k not in by_index]
    if missing:
        have = ", ".join(str(k) for k in by_index) or "none"
        raise UserError(f"'{run_dir}' has no fold {missing[0]} (folds: {have})")
    return [by_index[k] for k in folds]


def check_request(recipe: Recipe, split: str) -> None:
    """Whether ``split`` can be scored for a run of ``recipe``; a UserError before any work if not."""
    if split not in SPLITS:
        raise UserError(f"--split must be val or test (got {split!r})")
    if recipe.family == "text" and split != "val":
        raise UserError(f"text runs have a val split only (got --split {split}); the corpora are split train/val")
    folds = getattr(recipe.train, "folds", 1)
    if split == "test" and recipe.family == "eeg" and folds == 1 and not recipe.data.test_fraction:
        raise UserError("this run has no test split (its data.test_fraction is 0)")


def evaluate_trained(
    trained: TrainedModel, run_dir: Path, *, split: str = "val", device: str = "auto", full: bool = True
) -> dict[str, Any]:
    """Metrics of ``trained`` on ``split``, written to ``run_dir/eval-<split>.json`` (and returned).

    Regression runs also return their per-window ``y_true`` and ``y_pred`` (not written), for pooling.
    """
    recipe = trained.recipe
    runtime = resolve_runtime(device, recipe.train.precision, False)
    task = build_task(recipe, trained.extras)
    task.setup(runtime, World(), recipe.train.batch_size)
    model = trained.model.to(runtime.device)
    start = time.perf_counter()
    predictions: dict[str, list[float]] = {}
    if isinstance(task, RegressionTask):
        y_pred = task.predict(model, runtime, split)
        metrics = task.split_metrics(split, y_pred)
        y_true = np.asarray(task.dataset.y, dtype=np.float64)[task.split[split]]
        predictions = {"y_true": y_true.tolist(), "y_pred": np.asarray(y_pred).tolist()}
    else:
        metrics = task.evaluate(model, runtime, full=full, split=split)
    result = {
        "run_dir": str(run_dir),
        "checkpoint": str(trained.checkpoint_path),
        "step": trained.step,
        "split": split,
        "full_split": full,
        "device": runtime.describe(),
        "seconds": round(time.perf_counter() - start, 3),
        "metrics": metrics,
    }
    path = eval_file(run_dir, split)
    atomic_write_json(path, result)
    return {**result, "file": str(path), **({"predictions": predictions} if predictions else {})}


def evaluate_run(
    run_dir: Path, *, split: str = "val", checkpoint: str = "best", device: str = "auto", full: bool = True
) -> dict[str, Any]:
    """Recompute the metrics of ``run_dir``'s checkpoint on ``split`` and write ``eval-<split>.json``."""
    trained = load_trained(run_dir, checkpoint, "cpu")
    check_request(trained.recipe, split)
    return evaluate_trained(trained, run_dir, split=split, device=device, full=full)


def evaluate_cross_validation(
    run_dir: Path,
    *,
    split: str = "test",
    checkpoint: str = "best",
    device: str = "auto",
    full: bool = True,
    folds: list[int] | None = None,
) -> dict[str, Any]:
    """Score every fold (or ``folds``) of a cross-validation run; the pooled result is written beside cv.json."""
    run_dir = Path(run_dir)
    dirs = fold_dirs(run_dir, folds)
    trained = [load_trained(d, checkpoint, "cpu") for d in dirs]  # every checkpoint is readable before any work
    for model in trained:
        check_request(model.recipe, split)
    results = []
    for fold_dir, model in zip(dirs, trained):
        result = evaluate_trained(model, fold_dir, split=split, device=device, full=full)
        results.append({"fold": int(fold_dir.name[5:]), **result})
    pooled = pooled_result(run_dir, split, results)
    if folds is None:
        path = eval_file(run_dir, split)
        atomic_write_json(path, pooled)
        pooled["file"] = str(path)
    return pooled


def pooled_result(run_dir: Path, split: str, results: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-fold metrics, their mean and sample sd (ddof 1), and the NRMSE over every fold's windows together."""
    names = [k for k in results[0]["metrics"] if all(isinstance(r["metrics"].get(k), (int, float)) for r in results)]
    values = {k: np.array([float(r["metrics"][k]) for r in results]) for k in names}
    pooled: dict[str, Any] = {}
    if all("predictions" in r for r in results):
        y_true = np.concatenate([r["predictions"]["y_true"] for r in results])
        y_pred = np.concatenate([r["predictions"]["y_pred"] for r in results])
        pooled[f"{split}_nrmse"] = nrmse(y_true, y_pred)
        pooled["windows"] = int(len(y_true))
    return {
        "run_dir": str(run_dir),
        "kind": "cross_validation",
        "split": split,
        "folds": [{k: v for k, v in r.items() if k != "predictions"} for r in results],
        "mean": {k: float(v.mean()) for k, v in values.items()},
        "sd": {k: float(v.std(ddof=1)) if len(v) > 1 else None for k, v in values.items()},
        "pooled": pooled,
    }
