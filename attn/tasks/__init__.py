"""Tasks: what each model family tells the trainer (batches, loss, metrics)."""

from __future__ import annotations

from typing import Any

from attn.recipe import Recipe
from attn.training.task import Task


def build_task(recipe: Recipe, extras: dict[str, Any] | None = None, quiet: bool = False) -> Task:
    """The task for a recipe; ``extras`` come from a checkpoint when a run is resumed.

    ``quiet`` hides progress messages of slow data preparation (EEG simulation).
    """
    if recipe.family == "text":
        from attn.datasets.text import Vocabulary, load_text_data
        from attn.tasks.text import LanguageModelTask

        vocab = Vocabulary(extras["vocab"]) if extras and "vocab" in extras else None
        data = load_text_data(recipe.data, recipe.model.block_size, vocab)
        return LanguageModelTask(data, recipe.model.block_size, recipe.train.eval_batches, recipe.train.seed)
    if recipe.family == "eeg":
        from attn.tasks.eeg import build_regression_task

        if quiet:
            return build_regression_task(recipe, extras, progress=None)
        return build_regression_task(recipe, extras)
    raise ValueError(f"no task for family {recipe.family!r}")


def check_data(recipe: Recipe) -> str:
    """Check a recipe's data as far as can be done without training; a one-line description of it.

    Text: every corpus exists, is UTF-8 text and is long enough for the model's block size. EEG:
    the recordings exist (HBN) and the subjects allow the recipe's splits or folds.
    """
    if recipe.family == "text":
        from attn.datasets.text import load_text_data

        data = load_text_data(recipe.data, recipe.model.block_size)
        names = ", ".join(c.name for c in data.corpora)
        return (
            f"{names}: {data.train_chars:,} training and {data.val_chars:,} validation characters, "
            f"{len(data.vocab)} distinct"
        )
    if recipe.family == "eeg":
        from attn.datasets.eeg.load import check_eeg_data

        return check_eeg_data(recipe.data, recipe.train.folds)
    raise ValueError(f"no task for family {recipe.family!r}")


__all__ = ["Task", "build_task", "check_data"]
