"""A training run from start to finish: run directory, task, model, trainer, summary, plots.

:func:`start_run` trains a recipe in a new run directory; :func:`resume_run` continues one
from its ``last.pt``. Both end with ``summary.json``, a loss-curve PNG and a summary table.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml
from rich.console import Console

from attn.errors import CheckpointError, UserError
from attn.models import build_model
from attn.models.registry import CountsFlops
from attn.recipe import Recipe, parse_recipe
from attn.training.checkpoint import load_checkpoint, load_model_weights
from attn.training.device import Runtime, resolve_runtime
from attn.training.distributed import World, init_world, shutdown_world
from attn.training.plots import plot_loss_curve
from attn.training.progress import TrainingDisplay, summary_table
from attn.training.rundir import (
    MetricsLog,
    atomic_write_json,
    atomic_write_text,
    create_run_dir,
    environment_info,
    process_age_s,
    read_json,
    runs_root,
)
from attn.training.tasks import build_task
from attn.training.tasks.base import Task
from attn.training.trainer import Trainer, raise_if_diverged

# Peak dense bf16/fp16 tensor throughput, for model-FLOPs utilisation (datasheet figures).
PEAK_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L4": 121e12, "A10": 125e12}


@dataclass
class RunOptions:
    """How to run, as opposed to what to train (that is the recipe)."""

    device: str | None = None
    runs_dir: str | None = None
    quiet: bool = False
    console: Console = field(default_factory=Console)


@dataclass
class RunOutcome:
    run_dir: Path
    summary: dict[str, Any]


def start_run(recipe: Recipe, options: RunOptions) -> RunOutcome:
    """Train ``recipe`` in a new run directory."""
    runtime, world = prepare_runtime(recipe, options)
    try:
        if recipe.family == "eeg" and recipe.train.folds > 1:
            from attn.training.crossval import run_cross_validation

            return run_cross_validation(recipe, options, runtime, world)
        task = build_task(recipe, quiet=options.quiet)  # before the run directory: bad data leaves no empty run behind
        run_dir = create_run_dir(runs_root(options.runs_dir), recipe.name) if world.is_main else Path("/nonexistent")
        return train_in_dir(recipe, task, run_dir, runtime, world, options)
    finally:
        shutdown_world(world)


def resume_run(run_dir: Path, overrides: list[str], options: RunOptions) -> RunOutcome:
    """Continue an interrupted or killed run from ``run_dir/checkpoints/last.pt``."""
    run_dir = Path(run_dir)
    if (run_dir / "cv.json").is_file():
        from attn.training.crossval import resume_cross_validation

        return resume_cross_validation(run_dir, overrides, options)
    last = run_dir / "checkpoints" / "last.pt"
    if not (run_dir / "recipe.yaml").is_file():
        raise UserError(f"'{run_dir}' is not a run directory (it has no recipe.yaml)")
    if not last.is_file():
        raise CheckpointError(f"'{run_dir}' has no checkpoints/last.pt to resume from")
    checkpoint = load_checkpoint(last)
    recipe = parse_recipe(checkpoint["recipe"], run_dir.parent.name)
    for item in overrides:
        if not item.startswith("train."):
            raise UserError(f"override '{item}': a resumed run can only change train.* keys")
    if overrides:
        recipe = recipe.replace(overrides)
    runtime, world = prepare_runtime(recipe, options)
    try:
        task = build_task(recipe, checkpoint.get("extras"), quiet=options.quiet)
        return train_in_dir(recipe, task, run_dir, runtime, world, options, checkpoint=checkpoint)
    finally:
        shutdown_world(world)


def prepare_runtime(recipe: Recipe, options: RunOptions) -> tuple[Runtime, World]:
    """Device, precision and compilation for a recipe, and this process's place under torchrun."""
    cfg = recipe.train
    runtime = resolve_runtime(options.device or cfg.device, cfg.precision, cfg.compile)
    world = init_world(runtime.device)
    if world.distributed and cfg.batch_size % world.size:
        raise UserError(f"train.batch_size {cfg.batch_size} must be divisible by the {world.size} processes")
    if world.is_main:
        for notice in runtime.notices:
            options.console.print(f"[yellow]note:[/] {notice}")
    return runtime, world


def train_in_dir(
    recipe: Recipe,
    task: Task,
    run_dir: Path,
    runtime: Runtime,
    world: World,
    options: RunOptions,
    checkpoint: dict[str, Any] | None = None,
    label: str | None = None,
) -> RunOutcome:
    """Train ``task`` with ``recipe`` in ``run_dir`` (new, or resumed from ``checkpoint``)."""
    cfg = recipe.train
    console = options.console
    torch.manual_seed(cfg.seed)
    model = build_model(recipe.model_name, recipe.model, **task.model_info()).to(runtime.device)
    if world.distributed:  # same initial weights everywhere, different dropout per process
        torch.manual_seed(cfg.seed + 104729 * world.rank)
    task.setup(runtime, world.rank, cfg.batch_size // world.size)
    total_steps = _total_steps(cfg, task)
    if world.is_main and checkpoint is None:
        atomic_write_text(run_dir / "recipe.yaml", recipe.to_yaml())
        atomic_write_json(
            run_dir / "env.json",
            {
                **environment_info(runtime.device),
                "family": recipe.family,
                "runtime": runtime.describe(),
                "world_size": world.size,
            },
        )
    n_params = sum(p.numel() for p in model.parameters())
    if world.is_main:
        action = "resuming" if checkpoint else "training"
        console.print(
            f"[bold]{action}[/] {recipe.name} ({recipe.model_name}, {n_params:,} parameters) "
            f"on {runtime.describe()}{f' x{world.size}' if world.distributed else ''} -> {run_dir}"
        )
    payload = {"recipe": recipe.to_dict(), "extras": task.checkpoint_extras(), "model_info": task.model_info()}
    display = TrainingDisplay(
        console, total_steps, quiet=options.quiet or not world.is_main, label=label or recipe.name, items=task.items
    )
    trainer = Trainer(
        model=model,
        task=task,
        cfg=cfg,
        runtime=runtime,
        run_dir=run_dir,
        world=world,
        display=display,
        total_steps=total_steps,
        checkpoint_payload=payload,
    )
    if checkpoint is not None:
        trainer.restore(checkpoint, run_dir / "checkpoints" / "last.pt")
        if total_steps is not None and trainer.state.step >= total_steps:
            console.print(f"run already finished its {total_steps} steps; extend it with train.max_steps=N")
    wall_start = time.perf_counter()
    with display:
        result = trainer.run()
    summary: dict[str, Any] = {}
    if world.is_main:
        summary = _finish(
            recipe, task, model, runtime, run_dir, result, n_params, time.perf_counter() - wall_start, options
        )
        if result.status == "interrupted":
            console.print(
                f"[yellow]interrupted[/] at step {result.state.step}; last.pt saved. Continue with: "
                f"attn train --resume {run_dir}"
            )
    raise_if_diverged(result)
    return RunOutcome(run_dir, summary)


def _total_steps(cfg: Any, task: Task) -> int | None:
    if cfg.epochs is not None:
        per_epoch = task.steps_per_epoch()
        if per_epoch is None:
            raise UserError("train.epochs needs a task with epochs (EEG); use train.max_steps")
        return cfg.epochs * per_epoch
    return cfg.max_steps


def _finish(
    recipe: Recipe,
    task: Task,
    model: torch.nn.Module,
    runtime: Runtime,
    run_dir: Path,
    result: Any,
    n_params: int,
    session_s: float,
    options: RunOptions,
) -> dict[str, Any]:
    """Final evaluation of the best checkpoint, summary.json, plots and the summary table."""
    state = result.state
    summary: dict[str, Any] = {
        "recipe": recipe.name,
        "model": recipe.model_name,
        "status": result.status,
        "message": result.message,
        "steps": state.step,
        "parameters": n_params,
        "device": runtime.describe(),
        "metric": task.metric,
        "best": {"step": state.best_step, **state.best_metrics},
        "final": state.last_metrics,
        f"{task.items}_per_s": result.items_per_s,
        "train_time_s": result.train_time_s,
        "eval_time_s": result.eval_time_s,
        "warmup_s": result.warmup_s,
        "setup_s": result.setup_s,
        "wall_time_s": state.elapsed_s,
        "session_wall_time_s": session_s,
        "peak_memory_mb": result.peak_memory_mb,
    }
    mfu = model_flops_utilisation(model, result.items_per_s, runtime)
    if mfu is not None:
        summary["mfu"] = mfu
    best = run_dir / "checkpoints" / "best.pt"
    if recipe.train.final_eval != "none" and best.exists() and result.status != "diverged":
        load_model_weights(model, load_checkpoint(best)["model"], best)
        full = recipe.train.final_eval == "full"
        summary["best_checkpoint_eval"] = {
            "split": "val",
            "full_split": full,
            **task.final_report(model, runtime, run_dir, full=full),
        }
    summary["process_wall_s"] = process_age_s()
    atomic_write_json(run_dir / "summary.json", summary)
    plot_loss_curve(
        MetricsLog(run_dir / "metrics.jsonl").read(),
        run_dir / "loss_curve.png",
        title=f"{recipe.name} ({recipe.model_name})",
        metric=task.metric,
    )
    if not options.quiet:
        options.console.print(summary_table(f"{recipe.name}: {result.status}", summary_rows(summary, task)))
    return summary


def summary_rows(summary: dict[str, Any], task: Task) -> list[tuple[str, Any]]:
    """The rows of the end-of-run table."""
    rows: list[tuple[str, Any]] = [
        ("status", summary["status"]),
        ("steps", summary["steps"]),
        ("parameters", summary["parameters"]),
    ]
    metric = summary["metric"]
    if summary["best"].get(metric) is not None:
        rows.append((f"best {metric} (step {summary['best']['step']})", summary["best"][metric]))
    if summary["final"].get(metric) is not None:
        rows.append((f"final {metric}", summary["final"][metric]))
    full = summary.get("best_checkpoint_eval", {})
    if full.get(metric) is not None:
        what = "whole val split" if full.get("full_split") else "sampled"
        rows.append((f"best checkpoint {metric} ({what})", full[metric]))
    rows += task.summary_rows(full)
    rows += [
        (f"{task.items}/s", summary[f"{task.items}_per_s"]),
        ("wall time (s)", summary["wall_time_s"]),
        ("peak memory (MiB)", summary["peak_memory_mb"]),
        ("device", summary["device"]),
    ]
    if "mfu" in summary:
        rows.append(("model FLOPs utilisation", f"{100 * summary['mfu']:.1f}%"))
    return rows


def model_flops_utilisation(model: torch.nn.Module, tokens_per_s: float, runtime: Runtime) -> float | None:
    """Achieved over peak FLOP/s, on GPUs whose peak we know and models that count their FLOPs."""
    if runtime.device.type != "cuda" or not isinstance(model, CountsFlops) or runtime.precision == "fp32":
        return None
    name = torch.cuda.get_device_name(runtime.device)
    peak = next((v for k, v in PEAK_FLOPS.items() if k in name), None)
    return model.flops_per_token() * tokens_per_s / peak if peak else None


def load_run(run_dir: Path) -> tuple[Recipe, dict[str, Any]]:
    """The recipe and summary of a run directory (summary may be empty for a running run)."""
    run_dir = Path(run_dir)
    if not (run_dir / "recipe.yaml").is_file():
        raise UserError(f"'{run_dir}' is not a run directory (it has no recipe.yaml)")
    raw = yaml.safe_load((run_dir / "recipe.yaml").read_text(encoding="utf-8"))
    recipe = parse_recipe(raw, run_dir.parent.name)
    summary = read_json(run_dir / "summary.json") if (run_dir / "summary.json").exists() else {}
    return recipe, summary
