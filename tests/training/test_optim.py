"""train.optimizer: which parameters Muon gets, one schedule for both optimizers, and their checkpoints.

The reference for an update is torch's own ``torch.optim.Muon`` and ``torch.optim.AdamW`` stepped by
hand on a copy of the model with the parameter split written out here.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from torch import nn

from attn.errors import CheckpointError
from attn.models import build_model
from attn.models.char_transformer import CharTransformerConfig
from attn.models.registry import HasBlocks, has_blocks
from attn.training.checkpoint import load_checkpoint
from attn.training.optim import build_optimizers
from attn.training.schedule import learning_rate, step_progress
from tests.training.test_trainer import BlockNet, LineTask, config, trainer


def test_muon_gets_exactly_the_matrices_inside_the_transformer_blocks() -> None:
    cfg = CharTransformerConfig(n_layer=2, n_head=2, d_model=16, block_size=8, mlp="swiglu", bias=True)
    model = build_model("char-transformer", cfg, vocab_size=11)
    optimizers = build_optimizers(model, config(optimizer="muon"), torch.device("cpu"))
    names = {id(p): name for name, p in model.named_parameters()}
    muon = {names[id(p)] for g in optimizers.optimizers["muon"].param_groups for p in g["params"]}
    adamw = [names[id(p)] for g in optimizers.optimizers["adamw"].param_groups for p in g["params"]]
    expected = {n for n, p in model.named_parameters() if n.startswith("blocks.") and p.ndim == 2}
    assert muon == expected and len(expected) == 2 * 7  # q, k, v, out; fc1, gate, fc2 per block
    assert set(adamw) == set(names.values()) - expected and len(adamw) == len(set(adamw))
    assert "tok_emb.weight" in adamw and any(n.endswith(".bias") and n.startswith("blocks.") for n in adamw)
    assert optimizers.notice is None


def test_repeated_blocks_are_found_on_every_python() -> None:
    """From Python 3.12 isinstance() on a protocol looks attributes up statically and never sees a module's
    submodules: Muon was silently off there. HasBlocks is asked through has_blocks(), never isinstance()."""
    assert has_blocks(BlockNet()) and not has_blocks(nn.LSTM(3, 4)) and not has_blocks(nn.Linear(2, 2))
    with pytest.raises(TypeError):
        isinstance(BlockNet(), HasBlocks)  # not runtime-checkable, so a misuse fails on every Python


def test_a_model_without_blocks_trains_with_adamw_alone_and_says_so() -> None:
    optimizers = build_optimizers(nn.LSTM(3, 4), config(optimizer="muon"), torch.device("cpu"))
    assert list(optimizers.optimizers) == ["adamw"]
    assert "no weight matrices inside repeated blocks" in optimizers.notice and "AdamW" in optimizers.notice


def test_a_run_that_could_not_use_muon_says_so_in_its_summary(tmp_path: Path) -> None:
    """The notice is printed only without --quiet; the summary (and so every bench report) always carries it."""
    result = trainer(tmp_path, LineTask(), config(optimizer="muon", max_steps=2)).run()
    assert result.training["optimizer"].startswith("adamw (lr 0.05, 2 parameters) [train.optimizer=muon: Linear ")
    blocks = trainer(tmp_path / "blocks", LineTask(), config(optimizer="muon", max_steps=2), BlockNet).run()
    assert "muon (lr" in blocks.training["optimizer"] and "[" not in blocks.training["optimizer"]


def test_an_adamw_run_keeps_the_optimizer_groups_of_older_checkpoints() -> None:
    model = BlockNet()
    (adamw,) = build_optimizers(model, config(weight_decay=0.1), torch.device("cpu")).optimizers.values()
    decay, no_decay = adamw.param_groups
    assert decay["params"] == [p for p in model.parameters() if p.dim() >= 2] and decay["weight_decay"] == 0.1
    assert no_decay["params"] == [p for p in model.parameters() if p.dim() < 2] and no_decay["weight_decay"] == 0


def test_trainer_steps_equal_torch_muon_and_adamw_on_one_schedule(tmp_path: Path) -> None:
    cfg = config(
        optimizer="muon",
        muon_lr=0.03,
        muon_momentum=0.9,
        muon_weight_decay=0.2,
        muon_ns_steps=3,
        weight_decay=0.1,
        warmup_steps=1,
    )
    run = trainer(tmp_path, LineTask(), cfg, BlockNet)
    model = copy.deepcopy(run.raw_model)
    batches = copy.deepcopy(run.task)
    matrices = [p for block in model.blocks for p in block.parameters() if p.ndim == 2]
    rest = [p for p in model.parameters() if all(p is not m for m in matrices)]
    muon = torch.optim.Muon(matrices, lr=0.03, momentum=0.9, weight_decay=0.2, ns_steps=3)
    adamw = torch.optim.AdamW(
        [
            {"params": [p for p in rest if p.ndim >= 2], "weight_decay": 0.1},
            {"params": [p for p in rest if p.ndim < 2], "weight_decay": 0.0},
        ],
        betas=(cfg.beta1, cfg.beta2),
    )
    for step in range(4):
        progress = step_progress(cfg, step, cfg.max_steps)
        lr = learning_rate(cfg, step, progress)
        run._train_step(step, progress)
        for group in adamw.param_groups:
            group["lr"] = lr
        for group in muon.param_groups:
            group["lr"] = 0.03 * lr / cfg.lr  # Muon follows the schedule relative to its own peak
        x, y = batches.next_batch()
        nn.functional.mse_loss(model(x), y).backward()
        muon.step()
        adamw.step()
        muon.zero_grad()
        adamw.zero_grad()
        for ours, theirs in zip(run.raw_model.parameters(), model.parameters()):
            torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
    assert run._other_lrs() == {"muon_lr": pytest.approx(0.03 * run.last_lr / cfg.lr)}


def test_checkpoints_from_before_muon_resume_and_the_optimizer_cannot_change(tmp_path: Path) -> None:
    run = trainer(tmp_path / "old", LineTask(), config(max_steps=3))
    run.run()
    checkpoint = load_checkpoint(tmp_path / "old" / "checkpoints" / "last.pt")
    assert set(checkpoint["optimizer"]) == {"adamw"}
    checkpoint["optimizer"] = checkpoint["optimizer"]["adamw"]  # the layout attn 0.1.0 wrote: one AdamW state dict
    resumed = trainer(tmp_path / "old", LineTask(), config(max_steps=6))
    resumed.restore(checkpoint, tmp_path / "old" / "last.pt")
    ours = resumed.optimizer.optimizers["adamw"].state_dict()
    assert [float(s["step"]) for s in ours["state"].values()] == [3.0, 3.0]  # weight and bias, 3 steps each

    with pytest.raises(CheckpointError, match="train.optimizer cannot change"):
        trainer(tmp_path / "old", LineTask(), config(optimizer="muon"), BlockNet).optimizer.load_state_dict(
            {"adamw": ours}, "last.pt"
        )
