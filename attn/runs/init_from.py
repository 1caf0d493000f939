"""A new run that starts from a trained run's weights: ``attn train RECIPE --init-from RUN_DIR``.

Unlike ``--resume`` (the same run continued: its optimizer, schedule and data position), this is
a new run of ``RECIPE`` (new data, new schedule, a fresh optimizer) whose model starts from the
weights of ``RUN_DIR``'s best checkpoint (its last when it has no best). The weights carry over
only to the same model: the same ``model.name`` and the same ``model`` section, except for
:data:`FREE_MODEL_KEYS`, which change neither the parameters nor the function they compute
(regularisation and the attention kernel).

Text: the new run keeps the trained run's vocabulary (each embedding row keeps its character),
so the new corpora must be written in the characters the model knows; a character outside it is
an error that names it. (Extending the vocabulary would add untrained rows; it is not done.)
EEG: the new data get their own subject split and target standardisation; the channel count and
window length must match the trained model's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from attn.errors import CheckpointError, UserError
from attn.inference.load import checkpoint_path
from attn.recipe import Recipe, recipe_from_dict
from attn.schema import section_to_dict
from attn.tasks import build_task
from attn.training.checkpoint import load_checkpoint, load_model_weights
from attn.training.task import Task

FREE_MODEL_KEYS = ("dropout", "attention_dropout", "attention")


@dataclass
class InitialWeights:
    """The weights a new run starts from, and where they came from."""

    run_dir: Path
    checkpoint: Path
    step: int
    recipe_name: str
    model_name: str
    weights: dict[str, Any]
    vocab: list[str] | None

    def describe(self) -> dict[str, Any]:
        """What env.json and summary.json record under ``init_from``."""
        return {
            "run_dir": str(self.run_dir),
            "checkpoint": str(self.checkpoint),
            "step": self.step,
            "recipe": self.recipe_name,
            "model": self.model_name,
        }

    def build_task(self, recipe: Recipe, quiet: bool = False) -> Task:
        """The task of ``recipe``, its text encoded with the trained run's vocabulary."""
        if self.vocab is None:
            return build_task(recipe, quiet=quiet)
        try:
            return build_task(recipe, {"vocab": self.vocab}, quiet=quiet)
        except UserError as err:
            raise type(err)(
                f"{err} (--init-from keeps the {len(self.vocab)}-character vocabulary of {self.run_dir})"
            ) from None

    def load_into(self, model: nn.Module) -> None:
        try:
            load_model_weights(model, self.weights, self.checkpoint)
        except CheckpointError as err:
            raise CheckpointError(
                f"--init-from {self.run_dir}: its weights do not fit the model this recipe builds for its data "
                f"({str(err).split(': ', 1)[-1]})"
            ) from None


def initial_weights(run_dir: Path, recipe: Recipe) -> InitialWeights:
    """The weights of ``run_dir`` for a new run of ``recipe``; a different model is a UserError naming the keys."""
    path = checkpoint_path(Path(run_dir), "best")
    content = load_checkpoint(path)
    try:
        source = recipe_from_dict(content["recipe"])
    except KeyError:
        raise CheckpointError(f"checkpoint '{path}' lacks its recipe") from None
    if source.model_name != recipe.model_name:
        raise UserError(
            f"--init-from {run_dir}: that run trained model {source.model_name}, this recipe's model is "
            f"{recipe.model_name}; weights carry over only to the same model"
        )
    theirs, ours = section_to_dict(source.model), section_to_dict(recipe.model)
    differ = [k for k in sorted(set(theirs) | set(ours)) if k not in FREE_MODEL_KEYS and theirs.get(k) != ours.get(k)]
    if differ:
        shown = ", ".join(f"model.{k} is {theirs.get(k)!r} there, {ours.get(k)!r} here" for k in differ)
        raise UserError(
            f"--init-from {run_dir}: the model differs from this recipe's ({shown}); "
            f"set them as in that run (only {', '.join(FREE_MODEL_KEYS)} may differ)"
        )
    return InitialWeights(
        run_dir=Path(run_dir),
        checkpoint=path,
        step=int(content.get("trainer", {}).get("step", 0)),
        recipe_name=source.name,
        model_name=source.model_name,
        weights=content["model"],
        vocab=content.get("extras", {}).get("vocab"),
    )
