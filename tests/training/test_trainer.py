"""The Trainer on its own, with a tiny fake task: cadence, best checkpoint, early stopping, NaN stop, resume.

The fake task regresses y = 3x - 1 with a linear model (or :class:`BlockNet`, a model with
repeated blocks) on fixed batches drawn from a seeded generator; its "validation metric" is a
scripted sequence, so which evaluation is best is known.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from rich.console import Console
from torch import nn

from attn.training.checkpoint import load_checkpoint
from attn.training.config import TrainConfig
from attn.training.device import resolve_runtime
from attn.training.distributed import World
from attn.training.progress import TrainingDisplay
from attn.training.rundir import MetricsLog
from attn.training.task import Task
from attn.training.trainer import Trainer

CPU = resolve_runtime("cpu", "fp32", False)


class LineTask(Task):
    """Batches of (x, 3x - 1); ``scores`` are the validation metrics returned evaluation by evaluation."""

    metric = "val_loss"
    items = "items"

    def __init__(self, scores: list[float] | None = None, poison_at: int | None = None):
        self.scores = list(scores or [])
        self.evaluations = 0
        self.poison_at = poison_at
        self.drawn = 0

    def model_info(self) -> dict[str, Any]:
        return {}

    def setup(self, runtime: Any, world: World, batch_size: int) -> None:
        self.generator = torch.Generator().manual_seed(11)
        self.batch_size = batch_size

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        self.drawn += 1
        x = torch.randn(self.batch_size, 1, generator=self.generator)
        y = 3 * x - 1
        if self.poison_at is not None and self.drawn >= self.poison_at:
            y = y * float("nan")
        return x, y

    def loss(self, model: nn.Module, batch: Any) -> torch.Tensor:
        x, y = batch
        return nn.functional.mse_loss(model(x), y)

    def items_in(self, batch: Any) -> int:
        return int(batch[0].shape[0])

    def evaluate(self, model: nn.Module, runtime: Any, full: bool = False, split: str = "val") -> dict[str, float]:
        self.evaluations += 1
        if self.scores:
            return {"val_loss": self.scores[self.evaluations - 1]}
        with torch.no_grad():
            x = torch.linspace(-2, 2, 9, device=next(model.parameters()).device)[:, None]
            return {"val_loss": float(nn.functional.mse_loss(model(x), 3 * x - 1))}

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state(), "drawn": self.drawn}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
        self.drawn = state["drawn"]


class BlockNet(nn.Module):
    """x (B, 1) -> (B, 1) through two repeated blocks of Linear(4, 4) and tanh (``HasBlocks``)."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Linear(1, 4)
        self.blocks = nn.ModuleList(nn.Sequential(nn.Linear(4, 4), nn.Tanh()) for _ in range(2))
        self.head = nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.embed(x)
        for block in self.blocks:
            x = x + block(x)
        return self.head(x)


def config(**changes: Any) -> TrainConfig:
    base = TrainConfig(
        batch_size=8,
        max_steps=12,
        lr=0.05,
        min_lr=0.005,
        warmup_steps=0,
        eval_interval=3,
        log_interval=1,
        grad_clip=None,
        weight_decay=0.0,
        device="cpu",
        compile=False,
    )
    return replace(base, **changes)


def trainer(
    run_dir: Path, task: Task, cfg: TrainConfig, model: type[nn.Module] | None = None, runtime: Any = CPU
) -> Trainer:
    """A trainer of ``model`` (a class; default ``nn.Linear(1, 1)``) built from seed 0, on ``runtime``'s device."""
    (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    task.setup(runtime, World(), cfg.batch_size)
    return Trainer(
        model=(model() if model is not None else nn.Linear(1, 1)).to(runtime.device),
        task=task,
        cfg=cfg,
        runtime=runtime,
        run_dir=run_dir,
        world=World(),
        display=TrainingDisplay(Console(quiet=True), cfg.max_steps, quiet=True),
        total_steps=cfg.max_steps,
        checkpoint_payload={"recipe": {}},
    )


def evaluated_steps(run_dir: Path) -> list[int]:
    return [r["step"] for r in MetricsLog(run_dir / "metrics.jsonl").read() if r["kind"] == "eval"]


def test_evaluates_every_interval_and_keeps_the_best(tmp_path: Path) -> None:
    task = LineTask(scores=[5.0, 2.0, 3.0, 4.0])
    result = trainer(tmp_path, task, config()).run()
    assert result.status == "completed" and result.state.step == 12
    assert evaluated_steps(tmp_path) == [3, 6, 9, 12]
    assert (result.state.best_step, result.state.best_metric) == (6, 2.0)
    assert load_checkpoint(tmp_path / "checkpoints" / "best.pt")["trainer"]["step"] == 6
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["trainer"]["step"] == 12


def test_early_stopping_after_patience_evaluations_without_improvement(tmp_path: Path) -> None:
    task = LineTask(scores=[5.0, 2.0, 3.0, 4.0, 1.0])
    result = trainer(tmp_path, task, config(max_steps=30, early_stopping_patience=2)).run()
    assert result.status == "early_stopped" and result.state.step == 12  # evals at 9 and 12 did not beat 6
    assert result.state.best_step == 6


def test_a_nan_loss_stops_the_run_as_diverged(tmp_path: Path) -> None:
    task = LineTask(poison_at=5)
    result = trainer(tmp_path, task, config()).run()
    assert result.status == "diverged" and "NaN" in result.message
    records = MetricsLog(tmp_path / "metrics.jsonl").read()
    assert all(math.isfinite(r["train_loss"]) for r in records if r["kind"] == "train")


def test_no_evaluation_cadence_and_a_time_budget_still_checkpoint_at_the_end(tmp_path: Path) -> None:
    task = LineTask()
    cfg = config(max_steps=None, max_time_s=0.3, eval_interval=None)
    run = trainer(tmp_path, task, cfg)
    run.total_steps = None
    result = run.run()
    assert result.status == "time_budget"
    assert evaluated_steps(tmp_path) == [result.state.step]  # one evaluation, when the budget ran out
    assert (tmp_path / "checkpoints" / "last.pt").is_file()


EVERY_OPTION = {"optimizer": "muon", "ema_decay": 0.8, "schedule": "wsd", "decay_fraction": 0.5, "grad_accum_steps": 3}


@pytest.mark.parametrize(
    ("model", "options"), [(None, {}), (BlockNet, EVERY_OPTION)], ids=["adamw", "muon-ema-wsd-accumulation"]
)
def test_a_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(
    tmp_path: Path, interrupt_after: Any, monkeypatch: Any, model: Any, options: dict[str, Any]
) -> None:
    cfg = config(**options)
    straight = trainer(tmp_path / "straight", LineTask(), cfg, model)
    straight.run()

    with monkeypatch.context() as patch:
        interrupt_after(5, patch)  # a real SIGINT after step 5: the trainer saves last.pt at step 5 and stops
        assert trainer(tmp_path / "split", LineTask(), cfg, model).run().status == "interrupted"
    checkpoint = load_checkpoint(tmp_path / "split" / "checkpoints" / "last.pt")
    resumed = trainer(tmp_path / "split", LineTask(), cfg, model)
    resumed.restore(checkpoint, tmp_path / "split" / "checkpoints" / "last.pt")
    resumed.run()
    for a, b in zip(straight.raw_model.parameters(), resumed.raw_model.parameters()):
        assert torch.equal(a, b)
    if straight.ema is not None:  # the average too, bit for bit, and so every evaluation
        assert straight.ema.updates == resumed.ema.updates == 12
        for a, b in zip(straight.ema.model.state_dict().values(), resumed.ema.model.state_dict().values()):
            assert torch.equal(a, b)
    assert evaluated_steps(tmp_path / "split") == evaluated_steps(tmp_path / "straight") == [3, 6, 9, 12]
    assert eval_losses(tmp_path / "split") == eval_losses(tmp_path / "straight")


def eval_losses(run_dir: Path) -> list[float]:
    return [r["val_loss"] for r in MetricsLog(run_dir / "metrics.jsonl").read() if r["kind"] == "eval"]


def test_training_fits_the_line(tmp_path: Path) -> None:
    first = LineTask().evaluate(nn.Linear(1, 1), CPU)["val_loss"]
    result = trainer(tmp_path, LineTask(), config(max_steps=60, lr=0.2, min_lr=0.02, eval_interval=20)).run()
    assert result.state.best_metric < 0.01 * first


class TickingTask(LineTask):
    """Each batch takes exactly one second of a fake clock (the trainer's ``time.perf_counter``)."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        self.now += 1.0
        return super().next_batch()


def test_a_time_cadence_evaluates_at_the_first_log_point_past_each_multiple(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import attn.training.trainer as trainer_module

    task = TickingTask()
    monkeypatch.setattr(trainer_module, "time", SimpleNamespace(perf_counter=task.clock))
    cfg = config(max_steps=None, max_time_s=10.0, eval_interval=None, eval_interval_s=2.5, log_interval=1)
    run = trainer(tmp_path, task, cfg)
    run.total_steps = None
    result = run.run()
    # Step n ends at n seconds: 2.5, 5 and 7.5 are first passed at steps 3, 5 and 8; the budget ends at 10.
    assert result.status == "time_budget" and result.state.step == 10
    evals = [r for r in MetricsLog(tmp_path / "metrics.jsonl").read() if r["kind"] == "eval"]
    assert [r["step"] for r in evals] == [3, 5, 8, 10]
    assert [r["elapsed_s"] for r in evals] == [3.0, 5.0, 8.0, 10.0]  # the clock when the evaluated weights existed
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["trainer"]["step"] == 10


class SlowEvaluationTask(LineTask):
    def evaluate(self, model: nn.Module, runtime: Any, full: bool = False, split: str = "val") -> dict[str, float]:
        time.sleep(0.3)
        return super().evaluate(model, runtime, full, split)


def test_the_training_clock_stops_while_the_run_evaluates(tmp_path: Path) -> None:
    """Time budgets and time cadences count training alone: four 0.3 s evaluations are on their own clock."""
    result = trainer(tmp_path, SlowEvaluationTask(), config()).run()
    assert evaluated_steps(tmp_path) == [3, 6, 9, 12]
    assert result.state.eval_s >= 4 * 0.3 and result.state.elapsed_s < 0.6
    evals = [r for r in MetricsLog(tmp_path / "metrics.jsonl").read() if r["kind"] == "eval"]
    assert evals[-1]["elapsed_s"] < 0.6  # the training clock when the evaluated weights existed


class CudaLineTask(LineTask):
    """LineTask with its batches on the GPU (the CUDA graph reads device tensors)."""

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = super().next_batch()
        return x.cuda(), y.cuda()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU")
@pytest.mark.parametrize("optimizer", ["adamw", "muon"])
def test_a_cuda_graph_step_trains_like_the_eager_step(tmp_path: Path, optimizer: str) -> None:
    """Muon is not captured but runs after each replay; the weights must follow the eager run's."""
    gpu = resolve_runtime("cuda", "fp32", False)
    weights = []
    for graphs in (False, True):
        cfg = config(optimizer=optimizer, schedule="wsd", decay_fraction=0.5, grad_clip=1.0, device="cuda")
        run = trainer(tmp_path / str(graphs), CudaLineTask(), replace(cfg, cuda_graphs=graphs), BlockNet, gpu)
        assert (run.graph_step is not None) == graphs
        run.run()
        weights.append([p.detach().double().cpu() for p in run.raw_model.parameters()])
    for eager, graphed in zip(*weights):
        torch.testing.assert_close(graphed, eager, rtol=1e-4, atol=1e-5)
