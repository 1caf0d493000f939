"""train.ema_decay: the average against float64 arithmetic, and which weights are evaluated and saved."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from attn.training.checkpoint import evaluation_weights, load_checkpoint
from attn.training.ema import WeightAverage
from attn.training.rundir import MetricsLog
from tests.training.test_trainer import LineTask, config, trainer


class WithBuffers(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(3, dtype=torch.float64))
        self.register_buffer("running", torch.zeros(2, dtype=torch.float64))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))


def reference_average(values: list[float], decay: float) -> float:
    """sum_s (1 - d) d^(n - s) w_s / (1 - d^n): the bias-corrected EMA written out."""
    n = len(values)
    return sum((1 - decay) * decay ** (n - s) * w for s, w in enumerate(values, start=1)) / (1 - decay**n)


@pytest.mark.parametrize("decay", [0.5, 0.9, 0.999])
def test_the_average_is_the_bias_corrected_ema_of_the_weights_seen(decay: float) -> None:
    model = WithBuffers()
    average = WeightAverage(model, decay)
    seen = [0.3, -1.2, 2.5, 0.7, 4.0, -0.5]
    for i, value in enumerate(seen, start=1):
        with torch.no_grad():
            model.weight.fill_(value)
            model.running.fill_(2 * value)
            model.count.fill_(i)
        average.update()
        expected = reference_average(seen[:i], decay)
        torch.testing.assert_close(average.model.weight, torch.full((3,), expected, dtype=torch.float64))
        torch.testing.assert_close(average.model.running, torch.full((2,), 2 * expected, dtype=torch.float64))
        assert int(average.model.count) == i  # integer buffers are copied, not averaged
    assert average.updates == len(seen) and not average.model.weight.requires_grad
    assert torch.equal(model.weight, torch.full((3,), -0.5, dtype=torch.float64)), "the live weights are untouched"


def test_evaluation_and_best_checkpoint_use_the_average(tmp_path: Path) -> None:
    run = trainer(tmp_path, LineTask(), config(ema_decay=0.7))
    result = run.run()
    assert result.training["evaluated_weights"].startswith("exponential moving average")
    last = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    best = load_checkpoint(tmp_path / "checkpoints" / "best.pt")
    assert last["ema"]["updates"] == 12 and last["ema"]["decay"] == 0.7
    final_eval = [r for r in MetricsLog(tmp_path / "metrics.jsonl").read() if r["kind"] == "eval"][-1]

    def val_loss(weights: dict[str, torch.Tensor]) -> float:
        model = nn.Linear(1, 1)
        model.load_state_dict(weights)
        return LineTask().evaluate(model, None)["val_loss"]

    assert final_eval["val_loss"] == val_loss(last["ema"]["weights"]) != val_loss(last["model"])
    assert same(evaluation_weights(last), last["ema"]["weights"])  # what attn generate / eval load from last.pt
    assert result.state.best_step == 12  # the line is fitted better at every evaluation, so best.pt is step 12's
    assert best["model_weights"] == "ema" and "ema" not in best
    assert same(best["model"], last["ema"]["weights"])
    assert same(evaluation_weights(best), best["model"])


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_resume_without_a_saved_average_starts_one(tmp_path: Path) -> None:
    run = trainer(tmp_path, LineTask(), config(max_steps=3))
    run.run()
    resumed = trainer(tmp_path, LineTask(), config(max_steps=6, ema_decay=0.9))
    resumed.restore(load_checkpoint(tmp_path / "checkpoints" / "last.pt"), tmp_path / "last.pt")
    resumed.run()
    assert resumed.ema is not None and resumed.ema.updates == 3  # steps 4 to 6
