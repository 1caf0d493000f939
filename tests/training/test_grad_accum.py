"""train.grad_accum_steps: k micro-batches give the loss and gradient of the whole batch, in float64.

The reference is plain autograd on the whole batch (a copy of the model, before the trainer's
optimizer step changes it); the trainer's gradients are read after its accumulated backward.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import torch
from rich.console import Console
from torch import nn

from attn.errors import UserError
from attn.models import build_model
from attn.recipe import parse_recipe
from attn.tasks import build_task
from attn.training.distributed import World
from attn.training.progress import TrainingDisplay
from attn.training.task import Task
from attn.training.trainer import Trainer
from tests.helpers import text_recipe
from tests.training.test_trainer import CPU, BlockNet, LineTask, config, trainer


class Float64LineTask(LineTask):
    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = super().next_batch()
        return x.double(), y.double()


def whole_batch(model: nn.Module, task: Task, batch: Any) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Loss and gradients of the whole batch at once."""
    loss = task.loss(model, batch)
    return loss.detach(), list(torch.autograd.grad(loss, list(model.parameters())))


def accumulated(run: Trainer, batch: Any) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The trainer's loss and gradients for ``batch`` (it then steps, which the gradients do not see)."""
    loss = run._update(batch, clear_grads=False)
    return loss, [p.grad.clone() for p in run.raw_model.parameters()]


@pytest.mark.parametrize("k", [2, 3, 8])  # 8 examples: 4+4, 3+3+2 (unequal, weighted by size), 8 x 1
def test_micro_batches_give_the_loss_and_gradient_of_the_whole_batch(tmp_path: Path, k: int) -> None:
    run = trainer(tmp_path, Float64LineTask(), config(grad_accum_steps=k, batch_size=8), BlockNet)
    run.raw_model.double()
    batch = run.task.next_batch()
    reference = whole_batch(copy.deepcopy(run.raw_model), run.task, batch)
    loss, grads = accumulated(run, batch)
    torch.testing.assert_close(loss, reference[0], rtol=1e-13, atol=0)
    for ours, theirs in zip(grads, reference[1]):
        torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-15)


def test_the_char_transformer_on_text_accumulates_exactly(tmp_path: Path, corpus: Path) -> None:
    raw = text_recipe(corpus, batch_size=8, grad_accum_steps=4, grad_clip=None)  # clipping would change grads
    raw["model"].update(position="rope", norm="rmsnorm", mlp="swiglu", qk_norm=True, dropout=0.0)
    recipe = parse_recipe(raw, "tiny")
    task = build_task(recipe)
    task.setup(CPU, World(), 8)
    torch.manual_seed(0)
    model = build_model(recipe.model_name, recipe.model, **task.model_info()).double()
    run = Trainer(
        model=model,
        task=task,
        cfg=recipe.train,
        runtime=CPU,
        run_dir=tmp_path,
        world=World(),
        display=TrainingDisplay(Console(quiet=True), 20, quiet=True),
        total_steps=20,
        checkpoint_payload={},
    )
    batch = task.next_batch()
    reference = whole_batch(copy.deepcopy(model), task, batch)
    loss, grads = accumulated(run, batch)
    torch.testing.assert_close(loss, reference[0], rtol=1e-13, atol=0)
    for ours, theirs in zip(grads, reference[1]):
        torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-14)


def test_split_batch_keeps_every_example_in_order() -> None:
    x, y = torch.arange(5.0)[:, None], torch.arange(5)
    parts = LineTask().split_batch((x, y), 3)
    assert [len(p[0]) for p in parts] == [2, 3]  # 2, 2, 1: a last example alone joins the one before
    assert torch.equal(torch.cat([p[0] for p in parts]), x) and torch.equal(torch.cat([p[1] for p in parts]), y)
    assert [len(p[0]) for p in LineTask().split_batch((x, y), 2)] == [3, 2]
    assert [len(p[0]) for p in LineTask().split_batch((x[:4], y[:4]), 4)] == [1, 1, 1, 1]


def test_more_micro_batches_than_examples_per_process_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="grad_accum_steps 5 is more than the 4 examples"):
        Trainer(
            model=nn.Linear(1, 1),
            task=LineTask(),
            cfg=config(batch_size=8, grad_accum_steps=5),
            runtime=CPU,
            run_dir=tmp_path,
            world=World(rank=0, size=2),
            display=TrainingDisplay(Console(quiet=True), 12, quiet=True),
            total_steps=12,
            checkpoint_payload={},
        )
