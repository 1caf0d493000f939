"""The EEG regression task, its batches, augmentation and reports."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from attn.datasets.eeg import EEGDataset, load_dataset_once, split_from_subjects, subject_split
from attn.recipe import Recipe
from attn.tasks.eeg.task import RegressionTask


def _print_progress(message: str) -> None:
    from rich.console import Console

    Console(stderr=True, soft_wrap=True).print(message, style="dim", highlight=False, markup=False)


def build_regression_task(
    recipe: Recipe, extras: dict[str, Any] | None = None, progress: Callable[[str], None] | None = _print_progress
) -> RegressionTask:
    """The task of an EEG recipe; ``extras`` (from a checkpoint) pin the split and target scaling."""
    dataset = load_dataset_once(recipe.data, progress=progress)
    data = recipe.data
    if extras and "split" in extras:
        split = split_from_subjects(dataset, extras["split"])
        stats = (float(extras["target_mean"]), float(extras["target_std"]))
    else:
        split = subject_split(dataset.subjects, data.val_fraction, data.test_fraction, data.split_seed)
        stats = None
    return regression_task(recipe, dataset, split, target_stats=stats, fold=(extras or {}).get("fold"))


def regression_task(
    recipe: Recipe,
    dataset: EEGDataset,
    split: dict[str, np.ndarray],
    *,
    target_stats: tuple[float, float] | None = None,
    fold: dict[str, Any] | None = None,
) -> RegressionTask:
    """The task of ``recipe``'s train settings on ``split`` of ``dataset`` (target statistics from a
    checkpoint when resuming; ``fold`` for a cross-validation fold)."""
    train = recipe.train
    return RegressionTask(
        dataset,
        split,
        loss=train.loss,
        seed=train.seed,
        augmentation=train.augmentation_mode,
        target_stats=target_stats,
        fold=fold,
        normalize=recipe.data.normalize,
        time_shift_s=train.time_shift_s,
    )


__all__ = ["RegressionTask", "build_regression_task", "regression_task"]
