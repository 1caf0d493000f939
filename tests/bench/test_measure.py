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


def test_time_to_target_is_the_interval_between_the_evaluations_around_it() -> None:
    curve = [
        {"step": 10, "elapsed_s": 3.25, "value": 2.4},
        {"step": 20, "elapsed_s": 7.0, "value": 2.1},
        {"step": 30, "elapsed_s": 9.5, "value": 1.9},
    ]
    reached = sides.time_to_target(curve, 2.0)
    assert reached == {"time_to_target_s": 9.5, "time_to_target_after_s": 7.0, "step_to_target": 30}
    assert sides.target_cell(reached) == "7.0-9.5 (step 30)"
    first = sides.time_to_target(curve, 3.0)  # met at the first evaluation: somewhere in its first 3.25 s
    assert first == {"time_to_target_s": 3.25, "time_to_target_after_s": None, "step_to_target": 10}
    assert sides.target_cell(first) == "<= 3.2 (first evaluation, step 10)"
    never = sides.time_to_target(curve, 1.0)
    assert set(never.values()) == {None} and sides.target_cell(never) == "not reached"


def side_of(**train: object) -> sides.Side:
    from attn.recipe import parse_recipe
    from tests.helpers import text_recipe

    return sides.Side("t", "t", parse_recipe(text_recipe("corpus.txt", **train), "tiny"))


def test_a_budget_sets_a_cadence_of_at_least_eight_evaluations() -> None:
    steps = {"kind": "steps", "steps": 100}
    assert sides.with_evaluation_cadence(side_of(eval_interval=None), steps).recipe.train.eval_interval == 12
    assert sides.with_evaluation_cadence(side_of(eval_interval=50), steps).recipe.train.eval_interval == 12
    assert sides.with_evaluation_cadence(side_of(eval_interval=5), steps).recipe.train.eval_interval == 5  # kept
    assert (
        sides.with_evaluation_cadence(
            side_of(eval_interval=None), {"kind": "steps", "steps": 3}
        ).recipe.train.eval_interval
        == 1
    )
    time = {"kind": "time", "seconds": 40.0}
    timed = sides.with_evaluation_cadence(side_of(eval_interval=None), time).recipe.train
    assert timed.eval_interval_s == 5.0 and timed.eval_interval is None
    assert sides.with_evaluation_cadence(side_of(eval_interval_s=2.0), time).recipe.train.eval_interval_s == 2.0
    # A cadence the user gave with --set is the user's.
    given = sides.with_evaluation_cadence(side_of(eval_interval=50), steps, ["train.eval_interval=50"])
    assert given.recipe.train.eval_interval == 50
    recipe_only = side_of(eval_interval=None)
    assert sides.with_evaluation_cadence(recipe_only, {"kind": "recipe"}) is recipe_only


def test_budget_use_says_how_much_of_the_budget_a_side_took() -> None:
    summary = {"wall_time_s": 47.5, "training_clock_s": 41.26, "steps": 1200}
    timed = sides.budget_use(summary, {"kind": "time", "seconds": 40.0}, 8)
    assert timed["budget_used_text"] == "41.3 s of 40 s of training (evaluations excluded) (103%)"
    assert timed["budget_fraction"] == pytest.approx(41.26 / 40) and timed["evaluations"] == 8
    stepped = sides.budget_use(summary, {"kind": "steps", "steps": 1200}, 9)
    assert stepped["budget_used_text"] == "1,200 of 1,200 optimizer steps (100%)"
    by_epochs = sides.budget_use(summary, {"kind": "recipe", "max_steps": None, "max_time_s": None}, 3)
    assert by_epochs["budget_used_text"] == "1,200 optimizer steps" and by_epochs["budget_fraction"] is None
