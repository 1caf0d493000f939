"""Using a trained run: load its model from a checkpoint and sample text from it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from attn.datasets.text import Vocabulary
from attn.errors import CheckpointError, UserError
from attn.models import build_model
from attn.models.registry import Recurrent
from attn.recipe import Recipe, parse_recipe
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
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"run directory '{run_dir}' does not exist")
    folder = run_dir / "checkpoints"
    order = ["best.pt", "last.pt"] if which == "best" else ["last.pt"]
    for name in order:
        if (folder / name).is_file():
            return folder / name
    raise CheckpointError(f"'{run_dir}' has no {' or '.join(order)} checkpoint")


def load_trained(run_dir: Path, which: str = "best", device: torch.device | str = "cpu") -> TrainedModel:
    """Rebuild the model of a run from its checkpoint (no recipe file needed)."""
    path = checkpoint_path(run_dir, which)
    content = load_checkpoint(path)
    try:
        recipe = parse_recipe(content["recipe"], Path(run_dir).parent.name)
        extras = content.get("extras", {})
        info = content["model_info"]
    except KeyError as err:
        raise CheckpointError(f"checkpoint '{path}' lacks '{err.args[0]}'") from None
    model = build_model(recipe.model_name, recipe.model, **info)
    load_model_weights(model, content["model"], path)
    model.to(device).eval()
    return TrainedModel(recipe, model, extras, path, int(content.get("trainer", {}).get("step", 0)))


@torch.no_grad()
def sample_tokens(
    model: nn.Module,
    prompt: torch.Tensor,
    length: int,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
) -> Iterator[int]:
    """Yield ``length`` sampled token ids continuing ``prompt`` (1-D tensor on the model's device).

    Transformers see at most their last ``block_size`` tokens (longer prompts are cropped);
    an LSTM carries its state, so it reads the prompt once and then one token per step.
    """
    if temperature <= 0:
        raise UserError(f"--temperature must be > 0 (got {temperature})")
    idx = prompt[None, :]
    stateful = isinstance(model, Recurrent)
    state = None
    feed = idx
    for _ in range(length):
        if stateful:
            logits, state = model.forward_with_state(feed, state)
        else:
            logits = model(idx[:, -model.block_size :])
        logits = logits[:, -1, :].float() / temperature
        if top_k is not None:
            k = min(top_k, logits.size(-1))
            kth = torch.topk(logits, k).values[:, -1, None]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        probs = F.softmax(logits, dim=-1)
        next_id = torch.multinomial(probs.cpu(), 1, generator=generator).to(idx.device)
        idx = torch.cat([idx, next_id], dim=1)
        feed = next_id
        yield int(next_id)
