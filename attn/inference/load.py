"""A trained run back as a model: checkpoint -> nn.Module, with its recipe and data facts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from attn.datasets.text import Vocabulary
from attn.errors import CheckpointError, UserError
from attn.fileio import check_folder
from attn.models import build_model
from attn.recipe import Recipe, reconcile_run_recipe, stored_recipe
from attn.training.checkpoint import load_checkpoint, load_model_weights


@dataclass
class TrainedModel:
    """A model restored from a run directory, in eval mode on its device."""

    recipe: Recipe
    model: nn.Module
    extras: dict[str, Any]
    checkpoint_path: Path
    step: int

    @property
    def vocab(self) -> Vocabulary:
        if "vocab" not in self.extras:
            raise UserError(f"run of recipe '{self.recipe.name}' is not a text model")
        return Vocabulary(self.extras["vocab"])


def checkpoint_path(run_dir: Path, which: str = "best") -> Path:
    """``best.pt`` (falling back to ``last.pt`` if no evaluation has run yet) or ``last.pt``."""
    run_dir = check_folder(Path(run_dir), "run directory", CheckpointError)
    folder = run_dir / "checkpoints"
    order = ["best.pt", "last.pt"] if which == "best" else ["last.pt"]
    for name in order:
        if (folder / name).is_file():
            return folder / name
    raise CheckpointError(f"'{run_dir}' has no {' or '.join(order)} checkpoint")


def load_trained(run_dir: Path, which: str = "best", device: torch.device | str = "cpu") -> TrainedModel:
    """Rebuild the model of a run from its checkpoint.

    The run's recipe.yaml, where there is one, is checked against the checkpoint's recipe and used
    (:func:`attn.recipe.reconcile_run_recipe`); without one the checkpoint's recipe is enough.
    """
    path = checkpoint_path(run_dir, which)
    content = load_checkpoint(path)
    try:
        recipe = stored_recipe(content["recipe"], path, Path(run_dir).parent.name)
        extras = content.get("extras", {})
        info = content["model_info"]
    except KeyError as err:
        raise CheckpointError(f"checkpoint '{path}' lacks '{err.args[0]}'") from None
    if (Path(run_dir) / "recipe.yaml").is_file():
        recipe = reconcile_run_recipe(recipe, Path(run_dir) / "recipe.yaml")
    model = build_model(recipe.model_name, recipe.model, **info)
    load_model_weights(model, content["model"], path)
    model.to(device).eval()
    return TrainedModel(recipe, model, extras, path, int(content.get("trainer", {}).get("step", 0)))
