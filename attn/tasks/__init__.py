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


__all__ = ["Task", "build_task"]
