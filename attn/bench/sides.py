"""The pieces every side-by-side training comparison shares.

Each side is a resolved recipe trained in its own process (:mod:`attn.bench.worker`), one after
the other, with its run directory inside the bench directory. Afterwards the parent reads each
run's ``summary.json``, ``metrics.jsonl`` and ``bench_side.json``.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from attn.bench.report import fmt
from attn.bench.worker import SIDE_FILE, SPEC_FILE
from attn.errors import UserError
from attn.fileio import atomic_write_json, read_json
from attn.recipe import Recipe
from attn.training.plots import new_figure, save_figure
from attn.training.rundir import MetricsLog, create_run_dir

# What `train.max_time_s` counts (attn/training/trainer.py implements it; tests/bench check it).
BUDGET_RULE = (
    "The time budget is train.max_time_s on the trainer's training clock: wall time from the first "
    "training step, counting training steps, checkpoint saves and (with torch.compile or CUDA "
    "graphs) compilation and capture in the first steps, but not the periodic evaluations (so a "
    "side that evaluates slowly gets the same training time and is still evaluated at the planned "
    "cadence). It does not count process start, imports, data loading, model construction "
    "(setup_s) or the final evaluation of the best checkpoint either. The budget is checked at "
    "every log point (train.log_interval steps), so a run trains up to one log interval past it "
    "(training_clock_s shows exactly how long; wall_time_s adds the evaluations). Both sides are "
    "timed the same way."
)
# Under a budget every side is evaluated at least this often (the cadence is set from the budget).
MIN_EVALUATIONS = 8


def throughput_rule(warmup_steps: int | None) -> str:
    """What the throughput column counts (``warmup_steps`` from the sides' summary.json)."""
    return (
        f"Throughput counts training steps only: it leaves out the first {warmup_steps} steps (warm-up: allocator, "
        "cuDNN autotuning, compilation; reported as warmup_s) and the time spent in evaluations and "
        "checkpoints. GPU time is taken after torch.cuda.synchronize at log points."
    )


@dataclass
class Side:
    """One model in a comparison: a short key, a label for tables and its resolved recipe."""

    key: str
    label: str
    recipe: Recipe


def budget_overrides(budget_s: float | None, steps: int | None) -> tuple[list[str], dict[str, Any]]:
    """Recipe overrides for a ``--budget-s`` or ``--steps`` budget, and its description."""
    if budget_s is not None and steps is not None:
        raise UserError("give either --budget-s or --steps, not both")
    if budget_s is not None:
        if not budget_s > 0:
            raise UserError(f"--budget-s must be > 0 (got {budget_s})")
        return (
            [f"train.max_time_s={budget_s}", "train.max_steps=null", "train.epochs=null"],
            {"kind": "time", "seconds": budget_s},
        )
    if steps is not None:
        if steps < 1:
            raise UserError(f"--steps must be >= 1 (got {steps})")
        return (
            [f"train.max_steps={steps}", "train.max_time_s=null", "train.epochs=null"],
            {"kind": "steps", "steps": steps},
        )
    return [], {"kind": "recipe"}


def with_evaluation_cadence(side: Side, budget: dict[str, Any], overrides: list[str] = ()) -> Side:
    """``side`` with its evaluations made frequent enough for :data:`MIN_EVALUATIONS` within the budget.

    A step budget of N evaluates every N // 8 steps at most (``train.eval_interval``); a time
    budget of S seconds at every multiple of S / 8 seconds of the trainer clock at most
    (``train.eval_interval_s``), besides the recipe's own step cadence and the last evaluation.
    A recipe that already evaluates more often keeps its cadence, and so does a key the user set
    with ``--set`` (``overrides``); without a budget nothing changes.
    """
    cfg = side.recipe.train
    given = {item.split("=", 1)[0].strip() for item in overrides}
    change = None
    if budget["kind"] == "steps" and "train.eval_interval" not in given:
        every = max(1, budget["steps"] // MIN_EVALUATIONS)
        if cfg.eval_interval is None or cfg.eval_interval > every:
            change = f"train.eval_interval={every}"
    elif budget["kind"] == "time" and "train.eval_interval_s" not in given:
        every_s = budget["seconds"] / MIN_EVALUATIONS
        if cfg.eval_interval_s is None or cfg.eval_interval_s > every_s:
            change = f"train.eval_interval_s={every_s!r}"
    return dataclasses.replace(side, recipe=side.recipe.replace([change])) if change else side


def evaluation_text(recipe: Recipe, budget: dict[str, Any]) -> str:
    """When a side is evaluated during training, in words."""
    cfg = recipe.train
    cadence = [f"every {cfg.eval_interval} steps"] if cfg.eval_interval else []
    if cfg.eval_interval_s:
        cadence.append(f"at each multiple of {cfg.eval_interval_s:g} s of the trainer clock (at the next log point)")
    text = f"evaluated {' and '.join(cadence) or 'once per epoch (or at the end)'}, and at the end"
    if budget["kind"] != "recipe":
        text += (
            f" (the bench sets the cadence from the budget for at least {MIN_EVALUATIONS} evaluations per side, "
            "unless --set gives one)"
        )
    return text


def describe_budget(budget: dict[str, Any], recipe: Recipe) -> dict[str, Any]:
    """The budget as both sides run it: the recipe's stopping keys and evaluation cadence filled in."""
    cfg = recipe.train
    return {
        **budget,
        "max_steps": cfg.max_steps,
        "epochs": cfg.epochs,
        "max_time_s": cfg.max_time_s,
        "eval_interval": cfg.eval_interval,
        "eval_interval_s": cfg.eval_interval_s,
        "evaluation": evaluation_text(recipe, budget),
        "rule": BUDGET_RULE
        if cfg.max_time_s is not None
        else "Every side runs the same number of optimizer steps (or epochs) on batches of the same size.",
    }


def budget_text(budget: dict[str, Any]) -> str:
    """The budget of :func:`describe_budget` in words."""
    if budget["kind"] == "time":
        return f"{budget['seconds']:g} s of training wall time (train.max_time_s)"
    if budget["kind"] == "steps":
        return f"{budget['steps']} optimizer steps"
    keys = ", ".join(f"{k} {budget[k]}" for k in ("max_steps", "epochs", "max_time_s") if budget.get(k) is not None)
    return f"the recipe's own length ({keys})"


def child_environment() -> dict[str, str]:
    """This process's environment for a worker (torchrun's variables removed: one process per side)."""
    env = dict(os.environ)
    for key in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    return env


def train_side(
    side: Side, bench_dir: Path, device: str | None, *, quiet: bool = False, generation: dict[str, Any] | None = None
) -> Path:
    """Train ``side`` in a new process; its run directory (``bench_dir/<recipe name>/<timestamp>``)."""
    run_dir = create_run_dir(bench_dir, side.recipe.name)
    spec = {
        "label": side.label,
        "recipe": side.recipe.to_dict(),
        "run_dir": str(run_dir),
        "device": device,
        "quiet": quiet,
        "threads": torch.get_num_threads(),
        "generation": generation,
    }
    atomic_write_json(run_dir / SPEC_FILE, spec)
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "attn.bench.worker", str(run_dir / SPEC_FILE)], env=child_environment(), check=False
    )
    elapsed = time.perf_counter() - start
    if result.returncode != 0 or not (run_dir / SIDE_FILE).is_file():
        raise UserError(
            f"training the {side.label} side failed (exit code {result.returncode}); "
            f"see the messages above and its run directory {run_dir}"
        )
    side_info = read_json(run_dir / SIDE_FILE)
    side_info["subprocess_wall_s"] = elapsed
    atomic_write_json(run_dir / SIDE_FILE, side_info)
    return run_dir


def eval_curve(run_dir: Path, metric: str) -> list[dict[str, float]]:
    """``{step, elapsed_s, value}`` of every evaluation in ``metrics.jsonl``, in order.

    An evaluation's ``elapsed_s`` is the trainer's clock when the evaluated weights existed: the
    eval record's own ``elapsed_s`` if it has one, else that of the training record the trainer
    logs at the same step just before evaluating (it counts all earlier evaluations, not this one).
    """
    records = MetricsLog(Path(run_dir) / "metrics.jsonl").read()
    train_elapsed = {r["step"]: r["elapsed_s"] for r in records if r.get("kind") == "train" and "elapsed_s" in r}
    curve = []
    for record in records:
        if record.get("kind") != "eval" or record.get(metric) is None:
            continue
        elapsed = record.get("elapsed_s", train_elapsed.get(record["step"]))
        curve.append({"step": record["step"], "elapsed_s": elapsed, "value": record[metric]})
    return curve


def first_reaching(curve: list[dict[str, float]], target: float | None) -> dict[str, float] | None:
    """The first evaluation at or below ``target`` (no interpolation); None if none reaches it."""
    if target is None:
        return None
    return next((point for point in curve if point["value"] <= target), None)


def time_to_target(curve: list[dict[str, float]], target: float | None) -> dict[str, Any]:
    """When ``target`` was reached, as the interval between two evaluations (all None if never).

    ``time_to_target_s`` and ``step_to_target``: the first evaluation at or below the target;
    ``time_to_target_after_s``: the evaluation before it, which was above (None when the first
    evaluation already reached it: then the target was reached somewhere in the first interval).
    """
    reached = first_reaching(curve, target)
    if reached is None:
        return {"time_to_target_s": None, "time_to_target_after_s": None, "step_to_target": None}
    before = curve[curve.index(reached) - 1] if curve.index(reached) > 0 else None
    return {
        "time_to_target_s": reached["elapsed_s"],
        "time_to_target_after_s": before["elapsed_s"] if before else None,
        "step_to_target": reached["step"],
    }


def target_cell(model: dict[str, Any]) -> str:
    """A table cell for :func:`time_to_target`: ``24.1-28.0 (step 120)`` or ``<= 3.5 (first evaluation, step 10)``."""
    at, after, step = model.get("time_to_target_s"), model.get("time_to_target_after_s"), model.get("step_to_target")
    if at is None:
        return "not reached"
    if after is None:
        return f"<= {at:.1f} (first evaluation, step {step})"
    return f"{after:.1f}-{at:.1f} (step {step})"


def budget_use(summary: dict[str, Any], budget: dict[str, Any], evaluations: int) -> dict[str, Any]:
    """How much of the budget (:func:`describe_budget`) a side used, and how often it was evaluated."""
    timed = budget["kind"] == "time" or (
        budget["kind"] == "recipe" and budget.get("max_time_s") is not None and budget.get("max_steps") is None
    )
    if timed:
        used = summary.get("training_clock_s", summary.get("wall_time_s"))
        of = budget.get("seconds") or budget.get("max_time_s")
        text = f"{fmt(used, '.1f')} s" + (f" of {of:g} s" if of else "") + " of training (evaluations excluded)"
    else:
        used, of = summary.get("steps"), budget.get("steps") or budget.get("max_steps")
        text = f"{fmt(used, ',')}" + (f" of {of:,}" if of else "") + " optimizer steps"
    fraction = used / of if used is not None and of else None
    if fraction is not None:
        text += f" ({100 * fraction:.0f}%)"
    return {"budget_used": used, "budget_fraction": fraction, "budget_used_text": text, "evaluations": evaluations}


def memory_fields(summary: dict[str, Any], side_info: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """Peak memory of a side, with what it measures."""
    if device.type == "cuda":
        return {
            "peak_memory_mb": summary.get("peak_memory_mb"),
            "memory_kind": "cuda_max_allocated",
            "memory_note": "torch.cuda.max_memory_allocated over training and periodic evaluations",
        }
    before, peak = side_info.get("rss_before_model_mb"), side_info.get("training_peak_rss_mb")
    fields = {"rss_before_model_mb": before, "process_peak_rss_mb": side_info.get("process_peak_rss_mb")}
    if peak is None:  # no peak reset on this OS: the whole process's peak, start-up included
        return {
            **fields,
            "peak_memory_mb": fields["process_peak_rss_mb"],
            "memory_kind": "process_peak_rss",
            "training_rss_increase_mb": None,
            "memory_note": "peak resident set size of the side's own process, start-up included",
        }
    return {
        **fields,
        "peak_memory_mb": peak,
        "memory_kind": "peak_rss_from_model_build",
        "training_rss_increase_mb": None if before is None else peak - before,
        "memory_note": "peak resident set size of the side's own process from just before the model was built "
        "(after imports and data loading) to the end of the final evaluation; the increase is "
        "that peak minus the resident set size at that point",
    }


def common_fields(
    run_dir: Path,
    bench_dir: Path,
    summary: dict[str, Any],
    side_info: dict[str, Any],
    items: str,
    budget: dict[str, Any],
    curve: list[dict[str, float]],
) -> dict[str, Any]:
    """Fields every side reports, from its summary.json, bench_side.json and evaluation curve."""
    return {
        "run_dir": str(run_dir.relative_to(bench_dir)),
        "recipe": summary.get("recipe"),
        "model": summary.get("model"),
        "status": summary.get("status"),
        "stop_reason": summary.get("message"),
        "parameters": summary.get("parameters"),
        "steps": summary.get("steps"),
        f"{items}_per_s": summary.get(f"{items}_per_s"),
        "setup_s": summary.get("setup_s"),
        "warmup_s": summary.get("warmup_s"),
        "warmup_steps": summary.get("warmup_steps"),
        "train_time_s": summary.get("train_time_s"),
        "eval_time_s": summary.get("eval_time_s"),
        "wall_time_s": summary.get("wall_time_s"),
        "subprocess_wall_s": side_info.get("subprocess_wall_s"),
        "runtime": side_info.get("runtime"),
        "torch_threads": side_info.get("torch_threads"),
        "training": summary.get("training", {}),
        **budget_use(summary, budget, len(curve)),
    }


def read_side(run_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """A trained side's summary.json and bench_side.json."""
    return read_json(run_dir / "summary.json"), read_json(run_dir / SIDE_FILE)


def plot_curves(
    curves: dict[str, list[dict[str, float]]], metric: str, path: Path, title: str, target: float | None = None
) -> Path | None:
    """The validation metric of every side against the trainer's wall time and against steps."""
    if not any(curves.values()):
        return None
    fig = new_figure(11.0, 4.2)
    for i, (x_key, x_label) in enumerate((("elapsed_s", "training wall time (s)"), ("step", "optimizer step"))):
        ax = fig.add_subplot(1, 2, i + 1)
        for label, curve in curves.items():
            points = [(p[x_key], p["value"]) for p in curve if p[x_key] is not None]
            if points:
                ax.plot(*zip(*points), marker="o", markersize=3, label=label)
        if target is not None:
            ax.axhline(target, color="grey", linestyle=":", linewidth=1, label="target")
        ax.set_xlabel(x_label)
        ax.set_ylabel(metric.replace("_", " "))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


def model_row(
    models: list[dict[str, Any]], label: str, key: str, spec: str = ".4g", step_key: str | None = None
) -> list[str]:
    """A table row: ``label`` and each side's ``key`` (with ``(step N)`` from ``step_key``)."""
    cells = []
    for model in models:
        text = fmt(model.get(key), spec)
        if step_key and model.get(step_key) is not None:
            text += f" (step {model[step_key]})"
        cells.append(text)
    return [label, *cells]


def training_settings(recipe: Recipe, summary: dict[str, Any]) -> dict[str, Any]:
    """What a side trained with: optimizer (as the run describes it), schedule, average of the weights, dropout."""
    cfg = recipe.train
    schedule = cfg.schedule + (f", decay over the last {cfg.decay_fraction:g}" if cfg.schedule == "wsd" else "")
    return {
        "optimizer": summary.get("training", {}).get("optimizer") or f"{cfg.optimizer} (lr {cfg.lr:g})",
        "schedule": f"{schedule}, warmup {cfg.warmup_steps}, min_lr {cfg.min_lr:g}",
        "weight_decay": cfg.weight_decay,
        "ema_decay": cfg.ema_decay,
        "grad_accum_steps": cfg.grad_accum_steps,
        "dropout": getattr(recipe.model, "dropout", None),
    }


SETTING_LABELS = {
    "optimizer": "optimizer",
    "schedule": "schedule",
    "ema_decay": "average of the weights (ema_decay)",
    "dropout": "dropout",
}


def settings_rows(models: list[dict[str, Any]]) -> list[list[str]]:
    """Rows with each side's :func:`training_settings`."""
    return [[label, *(fmt(m["settings"].get(key)) for m in models)] for key, label in SETTING_LABELS.items()]


def speed_and_memory_rows(models: list[dict[str, Any]], items: str, items_label: str) -> list[list[str]]:
    """Rows every comparison shows: size, status, throughput, times and peak memory."""
    cuda = models[0]["memory_kind"] == "cuda_max_allocated"
    rows: list[list[str]] = [
        model_row(models, "parameters", "parameters"),
        model_row(models, "status", "status"),
        model_row(models, "optimizer steps", "steps"),
        model_row(models, "budget used", "budget_used_text"),
        model_row(models, "evaluations during training", "evaluations"),
        model_row(models, f"training {items_label}/s (warm-up excluded)", f"{items}_per_s", ",.0f"),
        model_row(models, "set-up before training: start, imports, data, model (s)", "setup_s", ".1f"),
        model_row(models, f"warm-up, first {models[0].get('warmup_steps')} steps (s)", "warmup_s", ".2f"),
        model_row(models, "trainer wall time (s)", "wall_time_s", ".1f"),
        model_row(models, "  of which evaluation (s)", "eval_time_s", ".1f"),
        model_row(models, "whole process wall time (s)", "subprocess_wall_s", ".1f"),
    ]
    if cuda:
        rows.append(model_row(models, "peak memory (MiB, CUDA max allocated)", "peak_memory_mb", ",.1f"))
    elif models[0]["memory_kind"] == "process_peak_rss":
        rows.append(model_row(models, "peak memory (MiB, process peak RSS incl. start-up)", "peak_memory_mb", ",.1f"))
    else:
        rows += [
            model_row(models, "peak RSS from model build to the end (MiB)", "peak_memory_mb", ",.1f"),
            model_row(models, "  increase over RSS before the model (MiB)", "training_rss_increase_mb", ",.1f"),
        ]
    return rows
