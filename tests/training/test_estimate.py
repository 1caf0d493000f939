"""Honest time expectations: the estimate before the first step (training and evaluation), the warning for
a GPU-sized run on a CPU, an ETA from the first second, and a probe that leaves training exactly as it was."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from rich.console import Console

from attn.formatting import format_duration
from attn.training.config import TrainConfig
from attn.training.estimate import RunEstimate, StepCost, estimate_run
from attn.training.progress import TrainingDisplay
from tests.helpers import eeg_recipe, only_run_dir, read_records, run_cli, text_recipe, write_recipe


class CountingTask:
    """What estimate_run asks of a task, with fixed answers."""

    def __init__(self, eval_items: int = 1000, final_items: int = 5000, per_epoch: int | None = None):
        self._eval, self._final, self._per_epoch = eval_items, final_items, per_epoch

    def steps_per_epoch(self) -> int | None:
        return self._per_epoch

    def eval_items(self, full: bool = False) -> int:
        return self._eval

    def final_items(self, full: bool = True) -> int:
        return self._final


def trainer_evaluations(start: int, end: int, every: int | None, total: int | None) -> int:
    """How many times the trainer's loop evaluates between steps start+1 and end (its own rule, restated)."""
    count = 0
    for step in range(start + 1, end + 1):
        last = step == end  # the last step, or the step at which the time budget runs out
        if (every is not None and step % every == 0) or last:
            count += 1
    return count


@pytest.mark.parametrize(
    ("train", "start"),
    [
        ({"max_steps": 20, "eval_interval": 10}, 0),
        ({"max_steps": 25, "eval_interval": 10}, 0),
        ({"max_steps": 24, "eval_interval": 8}, 13),  # resumed at step 13
        ({"max_steps": 2, "eval_interval": 250}, 0),  # train.max_steps=2 on a GPU recipe: still one evaluation
        ({"max_steps": None, "max_time_s": 10.0, "eval_interval": 6}, 0),  # a time budget: 20 steps of 0.5 s
    ],
)
def test_estimate_counts_every_step_and_evaluation(train: dict, start: int) -> None:
    cfg = TrainConfig(**train)
    cost = StepCost(step_s=0.5, items_per_step=64, forward_item_s=0.002, passes=2)
    estimate = estimate_run(
        cost, cfg, CountingTask(), device="cpu", start_step=start, total_steps=cfg.max_steps, final_full=True
    )
    end = cfg.max_steps if cfg.max_steps is not None else 20
    assert estimate.steps == end - start
    evaluations = trainer_evaluations(start, end, cfg.eval_interval, cfg.max_steps)
    assert estimate.evaluations == evaluations
    expected = (end - start) * 0.5 + evaluations * 1000 * 0.002 + 5000 * 0.002
    assert estimate.total_s == pytest.approx(expected)
    assert estimate.remaining_s(None, start) == pytest.approx(expected)
    # after the last step: its evaluation (the last step always evaluates) and the final evaluation
    assert estimate.remaining_s(None, end) == pytest.approx(1000 * 0.002 + 5000 * 0.002)


def test_text_task_counts_the_items_an_evaluation_reads(tmp_path: Path, corpus: Path, make_recipe) -> None:
    from attn.recipe import parse_recipe
    from attn.tasks import build_task
    from attn.training.device import resolve_runtime
    from attn.training.distributed import World

    recipe = parse_recipe(make_recipe(corpus, eval_batches=3, batch_size=4), "tiny")
    task = build_task(recipe)
    task.setup(resolve_runtime("cpu", "fp32", False), World(), 4)
    block = recipe.model.block_size
    assert task.eval_items(full=False) == 3 * 4 * block
    assert task.eval_items(full=True) == len(task.data.corpora[0].val) - 1


def test_the_estimate_is_printed_with_the_device_before_the_first_step(tmp_path: Path, recipe_file: Path) -> None:
    result = run_cli("train", recipe_file, "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    estimate = next(i for i, line in enumerate(lines) if line.startswith("estimate: about"))
    first_step = next(i for i, line in enumerate(lines) if " step " in line)
    assert estimate < first_step
    assert "on cpu" in lines[estimate] and "20 steps" in lines[estimate] and "2 evaluations" in lines[estimate]
    assert "eta -:--:--" not in result.stderr and "eta 0:" in lines[first_step]
    summary = json.loads((only_run_dir(tmp_path / "runs") / "summary.json").read_text())
    assert summary["estimate"]["steps"] == 20 and summary["estimate"]["evaluations"] == 2
    assert summary["estimate"]["total_s"] > 0 and summary["final_eval_s"] > 0


def slow_cost(*args: object, **kwargs: object) -> StepCost:
    return StepCost(step_s=200.0, items_per_step=64, forward_item_s=0.01, passes=1)


@pytest.mark.parametrize("quiet", [False, True])
def test_a_gpu_sized_run_on_the_cpu_is_warned_about_with_the_cpu_recipe(
    tmp_path: Path, recipe_file: Path, monkeypatch: pytest.MonkeyPatch, quiet: bool
) -> None:
    import attn.runs.single as single

    monkeypatch.setattr(single, "probe_step_cost", slow_cost)
    result = run_cli("train", recipe_file, "--runs-dir", tmp_path / "runs", *(["-q"] if quiet else []))
    assert result.exit_code == 0, result.output
    warning = next(line for line in result.stderr.splitlines() if line.startswith("warning:"))
    assert "tiny is sized for a GPU" in warning and "`attn train shakespeare_char_cpu`" in warning
    estimate = json.loads((only_run_dir(tmp_path / "runs") / "summary.json").read_text())["estimate"]
    assert estimate["total_s"] > 20 * 200  # 20 steps of 200 s, and the evaluations
    assert f"about {format_duration(estimate['total_s'])} on this CPU" in warning
    assert ("estimate: about" in result.stderr) is not quiet


def test_a_cpu_recipe_that_runs_long_here_is_not_called_gpu_sized(
    tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import attn.runs.single as single

    monkeypatch.setattr(single, "probe_step_cost", slow_cost)
    recipe = {**text_recipe(corpus), "name": "shakespeare_char_cpu"}  # a recipe measured on 2 CPU cores
    result = run_cli("train", write_recipe(tmp_path, recipe), "--runs-dir", tmp_path / "runs", "-q")
    assert result.exit_code == 0, result.output
    warning = next(line for line in result.stderr.splitlines() if line.startswith("warning:"))
    assert "sized for a GPU" not in warning and "slower or busy" in warning and "on 2 CPU cores" in warning


def test_the_eeg_warning_names_the_eeg_cpu_recipe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import attn.runs.single as single

    monkeypatch.setattr(single, "probe_step_cost", slow_cost)
    result = run_cli("train", write_recipe(tmp_path, eeg_recipe()), "--runs-dir", tmp_path / "runs", "-q")
    assert result.exit_code == 0, result.output
    assert "`attn train eeg_latency`" in result.stderr


def test_the_progress_bar_shows_time_left_from_the_start() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=200)
    estimate = RunEstimate(
        device="cpu",
        start_step=0,
        steps=100,
        step_s=30.0,
        items_per_step=10,
        eval_every=50,
        evaluations=2,
        eval_each_s=150.0,
        final_s=0.0,
    )
    display = TrainingDisplay(console, 100, label="demo")
    display.expect(estimate)
    with display:
        assert display.time_left_s(0, 0.0) == pytest.approx(3300.0)
    assert "eta 0:54:" in out.getvalue() or "eta 0:55:00" in out.getvalue()
    # reported after step 50 at a measured 1 item/s (10 s per step): 50 steps and both evaluations are
    # left (the one at step 50 runs right after the report); after step 51 only the one at step 100
    assert display.time_left_s(50, 1.0) == pytest.approx(50 * 10.0 + 2 * 150.0)
    assert display.time_left_s(51, 1.0) == pytest.approx(49 * 10.0 + 150.0)


def run_and_read(recipe: Path, runs: Path) -> tuple[list[dict], dict[str, torch.Tensor]]:
    from attn.training.checkpoint import load_checkpoint

    result = run_cli("train", recipe, "--runs-dir", runs, "-q")
    assert result.exit_code == 0, result.output
    run = only_run_dir(runs)
    timing = ("elapsed_s", "peak_memory_mb", "tok_per_s", "win_per_s")
    records = [
        {k: v for k, v in r.items() if k not in timing} for r in read_records(run, "train") + read_records(run, "eval")
    ]
    return records, load_checkpoint(run / "checkpoints" / "last.pt")["model"]


@pytest.mark.parametrize("family", ["text", "eeg"])
def test_the_probe_leaves_training_exactly_as_it_was(
    tmp_path: Path, recipe_file: Path, monkeypatch: pytest.MonkeyPatch, family: str
) -> None:
    import attn.runs.single as single

    if family == "eeg":  # batch order, BatchNorm statistics, dropout and the augmentation's random state
        recipe_file = write_recipe(tmp_path, eeg_recipe(adaptive_augmentation=True, epochs=2))
    probed, weights_probed = run_and_read(recipe_file, tmp_path / "probed")
    monkeypatch.setattr(single, "probe_step_cost", slow_cost)  # no probe at all
    plain, weights_plain = run_and_read(recipe_file, tmp_path / "plain")
    assert probed == plain
    assert all(torch.equal(weights_probed[k], weights_plain[k]) for k in weights_plain)


@pytest.mark.parametrize("family", ["text", "eeg"])
def test_estimating_from_the_training_speed_leaves_training_exactly_as_it_was(
    tmp_path: Path, recipe_file: Path, monkeypatch: pytest.MonkeyPatch, family: str
) -> None:
    """A compiled run on a GPU looks at one batch for its size instead of probing (attn.training.estimate.batch_items)."""
    import attn.runs.single as single

    if family == "eeg":
        recipe_file = write_recipe(tmp_path, eeg_recipe(adaptive_augmentation=True, epochs=2))
    probed, weights_probed = run_and_read(recipe_file, tmp_path / "probed")
    monkeypatch.setattr(single, "estimates_from_training", lambda runtime: True)
    later, weights_later = run_and_read(recipe_file, tmp_path / "later")
    assert probed == later
    assert all(torch.equal(weights_probed[k], weights_later[k]) for k in weights_later)


def no_probe(*args: object, **kwargs: object) -> StepCost:
    raise AssertionError("a run estimated from its own speed must not probe")


def test_a_compiled_gpu_run_is_estimated_from_its_first_measured_speed(
    tmp_path: Path, recipe_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import attn.runs.single as single

    monkeypatch.setattr(single, "estimates_from_training", lambda runtime: True)
    monkeypatch.setattr(single, "probe_step_cost", no_probe)
    result = run_cli("train", recipe_file, "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    estimate = next(i for i, line in enumerate(lines) if line.startswith("estimate: about"))
    first_speed = next(i for i, line in enumerate(lines) if " step " in line and "tok/s" in line)
    assert estimate < first_speed and not any(" step " in line for line in lines[estimate + 1 : first_speed])
    run = only_run_dir(tmp_path / "runs")
    made = json.loads((run / "summary.json").read_text())["estimate"]
    assert made["basis"] == "training" and made["steps"] == 20 and made["evaluations"] == 2
    assert made["items_per_step"] == 4 * 16  # batch 4 x block 16
    measured = next(r for r in read_records(run, "train") if "tok_per_s" in r)
    assert made["step_s"] == pytest.approx(made["items_per_step"] / measured["tok_per_s"])
    assert "estimated from the first timed steps" in result.stderr


def test_a_run_stopped_within_the_warm_up_steps_has_no_throughput(
    tmp_path: Path, recipe_file: Path, monkeypatch: pytest.MonkeyPatch, interrupt_after
) -> None:
    interrupt_after(3, monkeypatch)
    result = run_cli("train", recipe_file, "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 130, result.output
    summary = json.loads((only_run_dir(tmp_path / "runs") / "summary.json").read_text())
    assert summary["steps"] == 3 and summary["tok_per_s"] is None
    row = next(line for line in result.stderr.splitlines() if "tok/s" in line and "│" in line)
    assert "n/a (only warm-up steps: the first 5 are not timed)" in row and " 0 " not in row


def tiny_text_probe(corpus: Path, make_recipe: Any) -> tuple[Any, Any, Any, torch.nn.Module]:
    """A tiny text recipe, its task set up on the CPU, the runtime and a fresh model: what the probe times."""
    from attn.models import build_model
    from attn.recipe import parse_recipe
    from attn.tasks import build_task
    from attn.training.device import resolve_runtime
    from attn.training.distributed import World

    recipe = parse_recipe(make_recipe(corpus, batch_size=4), "tiny")
    task = build_task(recipe)
    runtime = resolve_runtime("cpu", "fp32", False)
    task.setup(runtime, World(), 4)
    return recipe, task, runtime, build_model(recipe.model_name, recipe.model, **task.model_info())


def test_with_gradient_accumulation_the_probe_times_one_micro_batch(corpus: Path, make_recipe) -> None:
    from attn.training.estimate import probe_step_cost

    recipe, task, runtime, model = tiny_text_probe(corpus, make_recipe)
    seen: list[int] = []
    loss = task.loss
    task.loss = lambda m, batch: seen.append(batch[0].shape[0]) or loss(m, batch)  # type: ignore[method-assign]

    def halves(batch: tuple[torch.Tensor, ...], k: int) -> list[tuple[torch.Tensor, ...]]:
        return [tuple(t[i * len(t) // k : (i + 1) * len(t) // k] for t in batch) for i in range(k)]

    cost = probe_step_cost(model, task, runtime, micro_batches=2, split=halves)
    assert seen and set(seen) == {2}  # micro-batches of 2 sequences, as training runs them
    assert cost.items_per_step == 4 * recipe.model.block_size  # a step still trains the whole batch


def test_the_probe_times_the_optimizer_update_once_per_step(corpus: Path, make_recipe) -> None:
    import time

    from attn.training.estimate import probe_step_cost

    recipe, task, runtime, model = tiny_text_probe(corpus, make_recipe)
    probes: list[torch.nn.Module] = []

    class SlowUpdate:
        def __init__(self, probe: torch.nn.Module) -> None:
            probes.append(probe)

        def step(self) -> None:
            assert all(p.grad is not None for p in probes[0].parameters())  # after backward, before zeroing
            time.sleep(0.2)

    plain = probe_step_cost(model, task, runtime, max_passes=2, budget_s=10)
    slow = probe_step_cost(model, task, runtime, max_passes=2, budget_s=10, optimizer=SlowUpdate)
    assert len(probes) == 1 and probes[0] is not model  # the update runs on the copy, never on the model
    assert slow.step_s >= plain.step_s + 0.15


@pytest.mark.parametrize("min_passes", [1, 2])
def test_a_slow_first_pass_counts_only_when_it_is_the_only_one(corpus: Path, make_recipe, min_passes: int) -> None:
    """A GPU's first pass starts its kernels (seconds, for a step of milliseconds): with ``min_passes=2`` a second
    pass is timed even after the budget ran out, and the estimate is the second pass's cost, not the first's."""
    import time

    from attn.training.estimate import probe_step_cost

    _, task, runtime, model = tiny_text_probe(corpus, make_recipe)
    calls: list[bool] = []
    loss = task.loss

    def first_call_slow(m: torch.nn.Module, batch: Any) -> torch.Tensor:
        if not calls:
            time.sleep(0.5)
        calls.append(m.training)
        return loss(m, batch)

    task.loss = first_call_slow  # type: ignore[method-assign]
    cost = probe_step_cost(model, task, runtime, budget_s=0.1, min_passes=min_passes)
    assert cost.passes == min_passes
    if min_passes == 1:  # out of budget after one pass: no evaluation forward, a third of the training pass
        assert calls == [True] and cost.step_s >= 0.5
        assert cost.forward_item_s == pytest.approx(cost.step_s / 3 / cost.items_per_step)
    else:  # each pass with its evaluation forward, although the budget ran out in the first
        assert calls == [True, False, True, False] and cost.step_s < 0.4
