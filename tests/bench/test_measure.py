"""Measuring tools and the comparison helpers, against hand-computed values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from attn.bench import sides
from attn.bench.measure import MIB, cuda_peak_mib, fit_exponent, saved_activation_bytes, time_ms
from attn.errors import UserError


def test_saved_activations_of_a_linear_layer_are_its_input() -> None:
    layer = torch.nn.Linear(8, 3)
    x = torch.randn(5, 8, requires_grad=True)
    # Linear saves its input (the weight is excluded as a parameter); relu saves its output.
    assert saved_activation_bytes(lambda: layer(x), list(layer.parameters())) == 5 * 8 * 4
    assert saved_activation_bytes(lambda: torch.relu(layer(x)), list(layer.parameters())) == 5 * 8 * 4 + 5 * 3 * 4
    assert MIB == 1024 * 1024


def test_time_ms_runs_warmup_then_repeats_and_off_cuda_has_no_peak() -> None:
    calls = []
    times = time_ms(lambda: calls.append(1), torch.device("cpu"), repeats=3, warmup=2)
    assert len(calls) == 5 and len(times) == 3 and all(t >= 0 for t in times)
    assert cuda_peak_mib(lambda: None, torch.device("cpu")) is None
    with pytest.raises(ValueError):
        time_ms(lambda: None, torch.device("cpu"), repeats=0, warmup=0)


def test_fit_exponent_recovers_a_power_law() -> None:
    lengths = [64, 128, 256, 512]
    assert fit_exponent(lengths, [3.0 * n**1.5 for n in lengths]) == pytest.approx(1.5)
    assert fit_exponent(lengths, [None, 2.0, None, None]) is None


def write_metrics(path: Path, records: list[dict]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_eval_curve_times_each_evaluation_by_the_training_record_of_its_step(tmp_path: Path) -> None:
    run = write_metrics(
        tmp_path / "run",
        [
            {"kind": "train", "step": 5, "train_loss": 3.0, "elapsed_s": 1.5},
            {"kind": "train", "step": 10, "train_loss": 2.5, "elapsed_s": 3.25},
            {"kind": "eval", "step": 10, "val_loss": 2.4},
            {"kind": "train", "step": 20, "train_loss": 2.0, "elapsed_s": 7.0},
            {"kind": "eval", "step": 20, "val_loss": 2.1},
            {"kind": "eval", "step": 30, "val_loss": 1.9, "elapsed_s": 9.5},  # its own clock wins
        ],
    )
    curve = sides.eval_curve(run, "val_loss")
    assert curve == [
        {"step": 10, "elapsed_s": 3.25, "value": 2.4},
        {"step": 20, "elapsed_s": 7.0, "value": 2.1},
        {"step": 30, "elapsed_s": 9.5, "value": 1.9},
    ]
    assert sides.first_reaching(curve, 2.1) == curve[1]  # at or below, no interpolation
    assert sides.first_reaching(curve, 2.15) == curve[1]
    assert sides.first_reaching(curve, 1.0) is None
    assert sides.first_reaching(curve, None) is None


def test_budget_overrides() -> None:
    keys, budget = sides.budget_overrides(30.0, None)
    assert (
        "train.max_time_s=30.0" in keys
        and "train.max_steps=null" in keys
        and budget == {"kind": "time", "seconds": 30.0}
    )
    keys, budget = sides.budget_overrides(None, 12)
    assert "train.max_steps=12" in keys and "train.max_time_s=null" in keys and budget["steps"] == 12
    assert sides.budget_overrides(None, None) == ([], {"kind": "recipe"})
    for bad in ((10.0, 5), (0.0, None), (None, 0)):
        with pytest.raises(UserError):
            sides.budget_overrides(*bad)
