"""One training run from start to finish: task, model, run directory, trainer, summary, plots.

:func:`train_in_dir` is the one place a model is trained, for ``attn train``, each fold of a
cross-validation and each side of a bench. It ends with ``summary.json``, a loss-curve PNG and a
summary table. :class:`RunHooks` lets a caller measure around the phases without copying them.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from attn.errors import CheckpointError, UserError
from attn.fileio import atomic_write_json, atomic_write_text, check_folder, path_kind, remove_stale_temporaries
from attn.formatting import format_duration
from attn.inference.load import check_model_facts
from attn.models import build_model
from attn.models.registry import CountsFlops
from attn.process import bytecode_cached, bytecode_note, describe_phases, process_age_s, process_start, startup
from attn.recipe import Recipe, recipe_changes, reconcile_run_recipe, stored_recipe
from attn.recipes.timings import CPU_RECIPES, expected_time
from attn.runs.init_from import InitialWeights
from attn.runs.preflight import check_run_fits
from attn.runs.preflight import estimate_run as estimate_memory
from attn.runs.tracking import check_run_trackers, start_trackers
from attn.tasks import build_task
from attn.training.checkpoint import check_checkpoint, load_checkpoint, load_model_weights, resumable_errors
from attn.training.device import Runtime, prepare_compiler, resolve_runtime
from attn.training.distributed import World, init_world
from attn.training.estimate import (
    RunEstimate,
    StepCost,
    batch_items,
    estimate_run,
    measured_step_cost,
    probe_step_cost,
)
from attn.training.optim import build_optimizers
from attn.training.plots import plot_loss_curve
from attn.training.progress import TrainingDisplay, summary_table
from attn.training.rundir import MetricsLog, create_run_dir, environment_info, run_lock, runs_root
from attn.training.seeds import dropout_seed
from attn.training.task import Task
from attn.training.trainer import STOP, StopRequested, Trainer, TrainResult, raise_if_diverged, trainer_state_from

Changes = dict[str, tuple[Any, Any]]  # dotted recipe key -> (value in the checkpoint, value now)

# Peak dense bf16/fp16 tensor throughput, for model-FLOPs utilisation (datasheet figures).
PEAK_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L4": 121e12, "A10": 125e12}
GPU_SIZED_S = 15 * 60  # an expected time above this on a CPU: the recipe is sized for a GPU


@dataclass
class RunHooks:
    """Callbacks around the phases of a run, for measurement (the bench worker uses them)."""

    before_model: Callable[[], None] | None = None  # the task (its data) exists; the model does not yet
    after_training: Callable[[], None] | None = None  # the summary is written


@dataclass
class RunOptions:
    """How to run, as opposed to what to train (that is the recipe)."""

    device: str | None = None
    runs_dir: str | None = None
    quiet: bool = False
    console: Console = field(default_factory=lambda: Console(stderr=True))
    hooks: RunHooks = field(default_factory=RunHooks)
    init: InitialWeights | None = None  # a new run starts from these weights (attn train --init-from)


@dataclass
class RunOutcome:
    run_dir: Path
    summary: dict[str, Any]

    @property
    def exit_code(self) -> int:
        """0, or 128 + the signal number for a run a signal stopped (130 for Ctrl-C, 143 for SIGTERM)."""
        if self.summary.get("status") != "interrupted":
            return 0
        return 128 + signal.Signals[self.summary.get("signal") or "SIGINT"].value


def prepare_runtime(recipe: Recipe, options: RunOptions) -> tuple[Runtime, World]:
    """Device, precision and compilation for a recipe, and this process's place under torchrun."""
    cfg = recipe.train
    startup.mark("imports")
    prepare_compiler()  # compile cache; torch._dynamo (torch.optim needs it) imported while CUDA starts
    runtime = resolve_runtime(options.device or cfg.device, cfg.precision, cfg.compile)
    world = init_world(runtime.device)
    startup.mark("runtime")
    if world.distributed and cfg.batch_size % world.size:
        raise UserError(f"train.batch_size {cfg.batch_size} must be divisible by the {world.size} processes")
    if world.is_main:
        slow_imports = bytecode_note()  # torch compiled from source in every process
        for notice in [*runtime.notices, *filter(None, [slow_imports])]:
            options.console.print(Text.assemble(("note:", "yellow"), f" {notice}"))
    return runtime, world


def write_run_files(
    run_dir: Path, recipe: Recipe, runtime: Runtime, world: World, init: InitialWeights | None = None, **env: Any
) -> None:
    """``recipe.yaml`` (the resolved recipe) and ``env.json`` of a new run directory (rank 0 only);
    ``init``: where the starting weights came from."""
    if not world.is_main:
        return
    atomic_write_text(run_dir / "recipe.yaml", recipe.to_yaml())
    info = environment_info(runtime.device)
    if init is not None:
        env["init_from"] = init.describe()
    atomic_write_json(
        run_dir / "env.json",
        {**info, "family": recipe.family, "runtime": runtime.describe(), "world_size": world.size, **env},
    )


def check_resume_overrides(overrides: list[str], frozen: tuple[str, ...] = ()) -> None:
    """A resumed run may change ``train.*`` keys only (and not those in ``frozen``)."""
    for item in overrides:
        key = item.split("=", 1)[0].strip()
        if not key.startswith("train.") or key in frozen:
            allowed = "train.* keys" + (f" other than {', '.join(frozen)}" if frozen else "")
            raise UserError(f"override '{item}': a resumed run can only change {allowed}")


def run_recipe_file(run_dir: Path) -> Path:
    """``run_dir/recipe.yaml``, or the error that ``run_dir`` is not a run directory."""
    check_folder(Path(run_dir), "run directory", CheckpointError)
    path = Path(run_dir) / "recipe.yaml"
    kind = path_kind(path, "recipe", CheckpointError)
    if kind == "missing":
        raise CheckpointError(f"'{run_dir}' is not a run directory (it has no recipe.yaml)")
    if kind != "file":
        raise CheckpointError(f"'{path}' is a {kind}, not the run's recipe file")
    return path


def start_single(
    recipe: Recipe, options: RunOptions, runtime: Runtime, world: World, run_dir: Path | None = None
) -> RunOutcome:
    """Train ``recipe`` in ``run_dir`` (default: a new directory under the runs root)."""
    init = options.init
    # data problems stop the run before any directory exists; weights from --init-from keep their vocabulary
    task = init.build_task(recipe, options.quiet) if init else build_task(recipe, quiet=options.quiet)
    return train_in_dir(recipe, task, run_dir, runtime, world, options)


def resume_single(run_dir: Path, overrides: list[str]) -> tuple[Recipe, dict[str, Any], Changes]:
    """The recipe, checkpoint and recipe changes to continue ``run_dir`` from ``last.pt`` with.

    Nothing is written: the checkpoint and recipe.yaml are checked against each other first.
    """
    run_dir = Path(run_dir)
    run_recipe_file(run_dir)
    check_resume_overrides(overrides)
    last = run_dir / "checkpoints" / "last.pt"
    kind = path_kind(last, "checkpoint", CheckpointError)
    if kind == "missing":
        raise CheckpointError(f"'{run_dir}' has no checkpoints/last.pt to resume from")
    if kind != "file":
        raise CheckpointError(f"'{last}' is a {kind}, not a checkpoint file")
    checkpoint = load_checkpoint(last)
    check_checkpoint(checkpoint, last, resumable=True)
    state = trainer_state_from(checkpoint["trainer"], last)  # a damaged trainer state stops here, before any file
    check_model_facts(checkpoint.get("model_info", {}), checkpoint.get("extras", {}), state.step, last)  # is touched
    trained = stored_recipe(checkpoint["recipe"], last, run_dir.parent.name)
    recipe, changes = continued_recipe(run_dir, trained, overrides)
    return recipe, checkpoint, changes


def continued_recipe(run_dir: Path, trained: Recipe, overrides: list[str]) -> tuple[Recipe, Changes]:
    """The recipe a resumed run continues with, and what changed since ``trained`` (the checkpoint's).

    The run's recipe.yaml is used (:func:`attn.recipe.reconcile_run_recipe`: its ``train.*`` edits
    count, other differences are refused before anything is written); the command-line
    ``overrides`` come on top.
    """
    written = reconcile_run_recipe(trained, run_recipe_file(run_dir))
    recipe = written.replace(overrides) if overrides else written
    return recipe, recipe_changes(trained, recipe)


def record_recipe_changes(run_dir: Path, recipe: Recipe, changes: Changes, step: int | None, console: Console) -> None:
    """Rewrite the run's recipe.yaml with the recipe it now continues with, with a comment saying what changed."""
    path = Path(run_dir) / "recipe.yaml"
    said = "; ".join(f"{key} {old!r} -> {new!r}" for key, (old, new) in changes.items())
    history = [line for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("#")]
    at = f" at step {step}" if step is not None else ""
    note = f"# resumed{at} on {time.strftime('%Y-%m-%d %H:%M:%S')} with {said}"
    atomic_write_text(path, "\n".join([*history, note]) + "\n" + recipe.to_yaml())
    console.print(f"[yellow]note:[/] resuming with {said} (recorded in {path})", highlight=False)


def train_in_dir(
    recipe: Recipe,
    task: Task,
    run_dir: Path | None,
    runtime: Runtime,
    world: World,
    options: RunOptions,
    checkpoint: dict[str, Any] | None = None,
    label: str | None = None,
    runs_left: int = 1,
    changes: Changes | None = None,
) -> RunOutcome:
    """Train ``task`` with ``recipe`` in ``run_dir`` (new, or resumed from ``checkpoint``).

    ``run_dir`` None makes a new directory under the runs root once the model is built, so a
    model that cannot be built leaves nothing behind; a new directory that ends in an error before
    its first checkpoint is removed. The directory is locked (:class:`~attn.training.rundir.RunLock`)
    from here to the summary. ``runs_left``: runs of this size still to come, this one included (the
    folds of a cross-validation), for the time estimate. ``changes`` (of a resumed recipe) are
    written to its recipe.yaml.
    """
    cfg = recipe.train
    init = options.init if checkpoint is None else None
    startup.mark("data")
    if world.is_main:
        memory = estimate_memory(recipe, task.model_info(), runtime, cfg.batch_size // world.size)
        check_run_fits(memory, runtime, run_dir or runs_root(options.runs_dir), resuming=checkpoint is not None)
    startup.mark("preflight")  # the memory estimate on the meta device (its init ops import torch._dynamo)
    if options.hooks.before_model:
        options.hooks.before_model()
    torch.manual_seed(cfg.seed)
    model = build_model(recipe.model_name, recipe.model, **task.model_info())
    if init is not None:
        init.load_into(model)
    model = model.to(runtime.device)
    startup.mark("model")
    if world.distributed:  # same initial weights everywhere, different dropout per process
        torch.manual_seed(dropout_seed(cfg.seed, world.rank))
    check_run_trackers(recipe, world)
    new_dir = run_dir is None
    if run_dir is None:
        run_dir = create_run_dir(runs_root(options.runs_dir), recipe.name) if world.is_main else Path("/nonexistent")
    with run_lock(run_dir) if world.is_main else contextlib.nullcontext(), STOP:
        try:
            trainer, estimate, trackers = _start_trainer(
                recipe, task, model, run_dir, runtime, world, options, checkpoint, label, changes, init, runs_left
            )
            wall_start = time.perf_counter()
            with trainer.display:
                result = trainer.run()
        except BaseException:
            if new_dir and world.is_main and not any((run_dir / "checkpoints").glob("*.pt")):
                shutil.rmtree(run_dir, ignore_errors=True)  # nothing to resume: leave nothing half-written
            raise
        summary: dict[str, Any] = {}
        if world.is_main:
            summary = finish_run(
                recipe,
                task,
                model,
                runtime,
                run_dir,
                result,
                time.perf_counter() - wall_start,
                options,
                estimate or trainer.display.estimate,
                init,
            )
            trackers.finish(run_dir, summary)
            if summary["status"] == "interrupted":
                options.console.print(
                    f"[yellow]interrupted[/] ({escape(summary['message'])}) at step {result.state.step}; last.pt "
                    f"saved. Continue with: attn train --resume {escape(str(run_dir))}",
                    highlight=False,
                )
    if options.hooks.after_training:
        options.hooks.after_training()
    raise_if_diverged(result)
    return RunOutcome(run_dir, summary)


def _start_trainer(
    recipe: Recipe,
    task: Task,
    model: torch.nn.Module,
    run_dir: Path,
    runtime: Runtime,
    world: World,
    options: RunOptions,
    checkpoint: dict[str, Any] | None,
    label: str | None,
    changes: Changes | None,
    init: InitialWeights | None,
    runs_left: int,
) -> tuple[Trainer, RunEstimate | None, Any]:
    """The trainer of a new run (its recipe.yaml and env.json written) or of a resumed one (restored),
    the run's time estimate (None for a compiled run on a GPU: its display makes one from the first measured
    speed) and its experiment trackers."""
    cfg, console = recipe.train, options.console
    task.setup(runtime, world, cfg.batch_size // world.size)
    startup.mark("data")  # the copies to the device
    total_steps = _total_steps(cfg, task)
    if checkpoint is None:
        write_run_files(run_dir, recipe, runtime, world, init)
    n_params = sum(p.numel() for p in model.parameters())
    if world.is_main and not options.quiet:
        action = "resuming" if checkpoint else "training"
        start = f" from {escape(str(init.checkpoint))} (step {init.step})" if init else ""
        console.print(
            f"[bold]{action}[/] {escape(recipe.name)} ({recipe.model_name}, {n_params:,} parameters){start} "
            f"on {runtime.describe()}{f' x{world.size}' if world.distributed else ''} -> {escape(str(run_dir))}",
            highlight=False,
        )
    payload = {"recipe": recipe.to_dict(), "extras": task.checkpoint_extras(), "model_info": task.model_info()}
    display = TrainingDisplay(
        console, total_steps, quiet=options.quiet or not world.is_main, label=label or recipe.name, items=task.items
    )
    trackers = start_trackers(recipe, task.metric, run_dir, world, checkpoint, console)
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
        sinks=[trackers],
    )
    startup.mark("optimizer")
    if checkpoint is not None:
        with resumable_errors(run_dir / "checkpoints" / "last.pt"):
            trainer.restore(checkpoint, run_dir / "checkpoints" / "last.pt")
        startup.mark("restore")
        if world.is_main:
            for folder in (run_dir, run_dir / "checkpoints"):
                remove_stale_temporaries(folder)  # of atomic writes a killed process left behind
            if changes:
                record_recipe_changes(run_dir, recipe, changes, trainer.state.step, console)
        if total_steps is not None and trainer.state.step >= total_steps:
            console.print(f"run already finished its {total_steps} steps; extend it with train.max_steps=N")

    start_step, elapsed_s = trainer.state.step, trainer.state.elapsed_s  # what is left from here is estimated

    def plan(cost: StepCost) -> RunEstimate:
        return estimate_run(
            cost,
            cfg,
            task,
            device=runtime.describe(),
            start_step=start_step,
            total_steps=total_steps,
            elapsed_s=elapsed_s,
            final_full=None if cfg.final_eval == "none" else cfg.final_eval == "full",
            eval_interval_s=cfg.eval_interval_s,
        )

    if estimates_from_training(runtime):
        items = batch_items(task, runtime)

        def from_speed(items_per_s: float) -> RunEstimate:
            estimate = replace(plan(measured_step_cost(items, items_per_s)), basis="training")
            if world.is_main:
                report_estimate(recipe, estimate, runtime, options, runs_left)
            return estimate

        display.expect_from_speed(from_speed)
        return trainer, None, trackers
    estimate = plan(
        probe_step_cost(
            model,
            task,
            runtime,
            micro_batches=cfg.grad_accum_steps,
            min_passes=1 if runtime.device.type == "cpu" else 2,  # a GPU's first pass starts its kernels
            split=task.split_batch,
            optimizer=lambda probe: build_optimizers(probe, cfg, runtime.device),
        )
    )
    startup.mark("estimate")  # the timed probe steps on a copy of the model (a GPU's first kernels run here)
    if world.is_main:
        report_estimate(recipe, estimate, runtime, options, runs_left)
    display.expect(estimate)
    return trainer, estimate, trackers


def estimates_from_training(runtime: Runtime) -> bool:
    """Whether a run's time estimate comes from its first measured speed rather than a probe before training: a
    compiled run on a GPU, where a probe would time the eager model (and load kernels the compiled step never runs)."""
    return runtime.compile and runtime.device.type == "cuda"


def report_estimate(
    recipe: Recipe, estimate: RunEstimate, runtime: Runtime, options: RunOptions, runs_left: int = 1
) -> None:
    """Print the time estimate (unless quiet), and warn (always) when a CPU faces a GPU-sized run."""
    total = estimate.total_s * runs_left
    line = f"estimate: {estimate.describe()}"
    if runs_left > 1:
        line += f"; with the {runs_left - 1} folds after this one about {format_duration(total)}"
    if not options.quiet:
        options.console.print(line, highlight=False, markup=False)
    if runtime.device.type != "cpu" or total <= GPU_SIZED_S:
        return
    suggested = CPU_RECIPES.get(recipe.family)
    shortened = "(train.max_steps, train.eval_batches, train.eval_interval). Ctrl-C stops and saves; attn train --resume continues."
    known_here = expected_time(recipe.name, "cpu")
    if known_here is not None and known_here.seconds <= GPU_SIZED_S:
        # A recipe made for the CPU: the machine is slower or busier than where it was measured, or overrides lengthen it.
        options.console.print(
            f"[yellow]warning:[/] about {format_duration(total)} on this CPU (evaluations included), but "
            f"{escape(recipe.name)} took {format_duration(known_here.seconds)} on 2 CPU cores (BENCHMARKS.md): this "
            f"CPU is slower or busy now, or the overrides lengthen the run; shorten it if that is too long {shortened}",
            highlight=False,
        )
        return
    if suggested and suggested != recipe.name:
        known = expected_time(suggested, "cpu")
        took = f" ({format_duration(known.seconds)} on 2 CPU cores, BENCHMARKS.md)" if known else ""
        advice = f"for the CPU use `attn train {suggested}`{took}, or shorten this run"
    else:
        advice = "shorten it"
    options.console.print(
        f"[yellow]warning:[/] {escape(recipe.name)} is sized for a GPU: about {format_duration(total)} on this CPU "
        f"(evaluations included); {advice} {shortened}",
        highlight=False,
    )


def _total_steps(cfg: Any, task: Task) -> int | None:
    if cfg.epochs is not None:
        per_epoch = task.steps_per_epoch()
        if per_epoch is None:
            raise UserError("train.epochs needs a task that passes over a fixed training set; use train.max_steps")
        return cfg.epochs * per_epoch
    return cfg.max_steps


def finish_run(
    recipe: Recipe,
    task: Task,
    model: torch.nn.Module,
    runtime: Runtime,
    run_dir: Path,
    result: TrainResult,
    session_s: float,
    options: RunOptions,
    estimate: RunEstimate | None = None,
    init: InitialWeights | None = None,
) -> dict[str, Any]:
    """Final evaluation of the best checkpoint, summary.json, plots and the summary table."""
    state = result.state
    # No steps after the warm-up ones were measured (stopped within them): no honest throughput.
    items_per_s = result.items_per_s if result.items_per_s > 0 else None
    summary: dict[str, Any] = {
        "recipe": recipe.name,
        "model": recipe.model_name,
        "status": result.status,
        "message": result.message,
        "steps": state.step,
        "parameters": sum(p.numel() for p in model.parameters()),
        "device": runtime.describe(),
        "metric": task.metric,
        "best": {"step": state.best_step, **state.best_metrics},
        "final": state.last_metrics,
        f"{task.items}_per_s": items_per_s,
        "train_time_s": result.train_time_s,
        "eval_time_s": result.eval_time_s,
        "warmup_s": result.warmup_s,
        "warmup_steps": result.warmup_steps,
        "setup_s": result.setup_s,
        "setup_phases_s": startup.rounded(),
        "torch_bytecode_cached": bytecode_cached("torch"),  # False: torch's source compiled at every start
        "process_clock": process_start()[1],
        "wall_time_s": state.elapsed_s + state.eval_s,  # training and periodic evaluations, every session
        "training_clock_s": state.elapsed_s,  # what time budgets count: training alone
        "session_wall_time_s": session_s,
        "peak_memory_mb": result.peak_memory_mb,
        "training": result.training,
    }
    mfu = model_flops_utilisation(model, items_per_s, runtime) if items_per_s else None
    if mfu is not None:
        summary["mfu"] = mfu
    if estimate is not None:
        summary["estimate"] = estimate.to_dict()
    if init is not None:
        summary["init_from"] = init.describe()
    best = run_dir / "checkpoints" / "best.pt"
    if recipe.train.final_eval != "none" and best.exists() and result.status != "diverged":
        full = recipe.train.final_eval == "full"
        final_start = time.perf_counter()
        try:
            with STOP.abortable():  # a stop signal here ends the evaluation at once; the summary is still written
                load_model_weights(model, load_checkpoint(best)["model"], best)
                report = task.final_report(model, runtime, run_dir, full=full)
            summary["best_checkpoint_eval"] = {"split": "val", "full_split": full, **report}
        except StopRequested:
            summary["status"] = "interrupted"
            summary["message"] = (
                f"stopped by {STOP.signal.name if STOP.signal else 'a signal'} during the final evaluation "
                f"(training had ended: {result.status})"
            )
        summary["final_eval_s"] = time.perf_counter() - final_start
    if summary["status"] == "interrupted":
        summary["signal"] = STOP.signal.name if STOP.signal else "SIGINT"
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
    rows += [(key.replace("_", " "), value) for key, value in summary.get("training", {}).items()]
    rate = summary[f"{task.items}_per_s"]
    rows += [
        (
            f"{task.items}/s",
            rate
            if rate is not None
            else f"n/a (only warm-up steps: the first {summary['warmup_steps']} are not timed)",
        ),
        ("wall time, final evaluation included (s)", summary["wall_time_s"] + summary.get("final_eval_s", 0.0)),
    ]
    if "estimate" in summary:
        made = (
            "before training" if summary["estimate"].get("basis", "probe") == "probe" else "from the first timed steps"
        )
        rows.append((f"estimated {made} (s)", summary["estimate"]["total_s"]))
    rows += [
        ("set-up before step 1 (s)", describe_phases(summary.get("setup_phases_s", {}), summary["setup_s"])),
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
