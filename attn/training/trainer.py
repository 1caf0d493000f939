"""The one training loop, for every task.

The task supplies batches, the loss and evaluation; the trainer owns optimisation (AdamW or
Muon + AdamW, the learning-rate schedule, gradient accumulation, clipping, autocast), the
average of the weights, evaluation and checkpoint cadence, best-checkpoint selection, early
stopping, the NaN guard, Ctrl-C handling, resume and DDP. Host syncs happen only at log,
evaluation and checkpoint steps, never every step.
"""

from __future__ import annotations

import contextlib
import functools
import math
import signal
import time
import typing
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from attn.errors import CheckpointError, TrainingDiverged, UserError
from attn.formatting import format_value
from attn.models.registry import has_blocks
from attn.process import process_age_s, startup
from attn.training.checkpoint import capture_rng, load_model_weights, restore_rng, save_checkpoint
from attn.training.config import TrainConfig
from attn.training.cuda_graph import CudaGraphStep
from attn.training.device import Runtime
from attn.training.distributed import World, broadcast_flags, mean_across
from attn.training.ema import WeightAverage
from attn.training.optim import build_optimizers
from attn.training.progress import TrainingDisplay
from attn.training.rundir import MetricsLog
from attn.training.schedule import learning_rate, step_progress
from attn.training.seeds import batch_seed, dropout_seed
from attn.training.sinks import MetricSink
from attn.training.task import Task

WARMUP_STEPS_EXCLUDED = 5
MAX_COUNT = (
    2**53
)  # steps and items a checkpoint may claim (exact in a float64 too)  # first steps (compilation, allocator warm-up) left out of throughput


def compile_model(model: nn.Module, cfg: TrainConfig) -> nn.Module:
    """torch.compile the whole model, or (scope "blocks") each repeated block in place.

    Compiling the blocks separately compiles one block's code once and reuses it for every
    layer, which starts much faster than compiling the whole model.
    """
    mode = None if cfg.compile_mode == "default" else cfg.compile_mode
    if cfg.compile_scope == "blocks" and has_blocks(model):
        for block in model.blocks:
            block.compile(mode=mode)
        return model
    return torch.compile(model, mode=mode)


@dataclass
class TrainerState:
    """Everything about progress that a checkpoint must carry for an exact resume."""

    step: int = 0
    best_metric: float = math.inf
    best_step: int | None = None
    evals_since_best: int = 0
    elapsed_s: float = 0.0  # the training clock before this process: wall time of training, evaluations excluded
    eval_s: float = 0.0  # wall time of the periodic evaluations before this process
    items_seen: int = 0
    best_metrics: dict[str, float] = field(default_factory=dict)
    last_metrics: dict[str, float] = field(default_factory=dict)


def trainer_state_from(stored: Any, source: Path) -> TrainerState:
    """The :class:`TrainerState` stored in a checkpoint, each field checked against its declared type.

    Missing fields keep their defaults (older checkpoints); unknown ones are refused (a newer attn).
    """
    hints = typing.get_type_hints(TrainerState)
    unknown = sorted(set(stored) - set(hints))
    if unknown:
        raise CheckpointError(
            f"checkpoint '{source}' has trainer-state fields this attn does not know ({', '.join(unknown)}): "
            f"it was written by another version of attn"
        )
    for name, value in stored.items():
        if not _has_type(value, hints[name]):
            raise CheckpointError(f"checkpoint '{source}' is damaged: trainer state '{name}' is {value!r}")
    state = TrainerState(**stored)
    counts = {"step": state.step, "items_seen": state.items_seen, "evals_since_best": state.evals_since_best}
    times = {"elapsed_s": state.elapsed_s, "eval_s": state.eval_s}
    wrong = [f"{k} {v!r}" for k, v in counts.items() if not 0 <= v <= MAX_COUNT]
    wrong += [f"{k} {v!r}" for k, v in times.items() if not (math.isfinite(v) and v >= 0)]
    if state.best_step is not None and not 0 <= state.best_step <= state.step:
        wrong.append(f"best_step {state.best_step!r} (step {state.step})")
    if wrong:
        raise CheckpointError(f"checkpoint '{source}' is damaged: trainer state {', '.join(wrong)}")
    return state


def _has_type(value: Any, hint: Any) -> bool:
    """Whether ``value`` fits a plain annotation: int, float (an int will do), dict[...], list[...], unions, None."""
    if typing.get_args(hint) and typing.get_origin(hint) not in (dict, list):  # a union (X | None)
        return any(_has_type(value, arg) for arg in typing.get_args(hint))
    origin = typing.get_origin(hint) or hint
    if origin is type(None):
        return value is None
    if isinstance(value, bool) and origin is not bool:
        return False
    if origin is float:
        return isinstance(value, (int, float))
    return isinstance(value, origin) if isinstance(origin, type) else True


@dataclass
class TrainResult:
    status: str  # completed | early_stopped | time_budget | interrupted | diverged
    state: TrainerState
    train_time_s: float
    eval_time_s: float
    warmup_s: float
    items_per_s: float
    peak_memory_mb: float
    setup_s: float = 0.0  # process start to the first training step (imports, data, model)
    message: str = ""
    warmup_steps: int = WARMUP_STEPS_EXCLUDED  # first steps of this process left out of items_per_s
    training: dict[str, Any] = field(default_factory=dict)  # how it trained: optimizer, evaluated weights


class StopRequested(KeyboardInterrupt):
    """Raised by a stop signal inside :meth:`StopFlag.abortable` (a phase with nothing to save)."""


class StopFlag:
    """SIGINT (Ctrl-C) and SIGTERM (``kill``, ``timeout``, schedulers) ask the run to stop.

    The first signal sets the flag; the training loop sees it at its next sync point, saves
    ``last.pt`` at that step and stops. Inside :meth:`abortable` blocks (the final evaluation, which
    only re-scores a saved checkpoint) the first signal raises :class:`StopRequested` at once. A
    second signal raises ``KeyboardInterrupt`` at once anywhere. There is one flag per process
    (:data:`STOP`); nested ``with`` blocks share it, and the previous handlers come back when the
    outermost block ends. Signals only reach the main thread: elsewhere no handler is installed.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.set = False
        self.signal: signal.Signals | None = None
        self._depth = 0
        self._abortable = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopFlag:
        if self._depth == 0:
            self.set, self.signal = False, None
            try:  # a signal ignored on purpose (nohup, a background job) stays ignored
                ignored = {s for s in self.SIGNALS if signal.getsignal(s) is signal.SIG_IGN}
                self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS if s not in ignored}
            except ValueError:  # not the main thread (e.g. inside a test runner thread)
                self._previous = {}
        self._depth += 1
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.set:
            raise KeyboardInterrupt
        self.set, self.signal = True, signal.Signals(signum)
        if self._abortable:
            raise StopRequested

    def __exit__(self, *exc: object) -> None:
        self._depth -= 1
        if self._depth == 0:
            for signum, previous in self._previous.items():
                signal.signal(signum, previous)
            self._previous = {}

    @contextlib.contextmanager
    def abortable(self) -> Iterator[None]:
        """A block that a stop signal ends at once with :class:`StopRequested` (also if one came before)."""
        if self.set:
            raise StopRequested
        self._abortable = True
        try:
            yield
        finally:
            self._abortable = False


STOP = StopFlag()
"""The process's one stop flag (see :class:`StopFlag`)."""


def weights_are_finite(model: nn.Module) -> bool:
    """Whether every parameter of ``model`` is finite (one device sync)."""
    flags = [torch.isfinite(p).all() for p in model.parameters() if p.is_floating_point()]
    return bool(torch.stack(flags).all()) if flags else True


class Trainer:
    """Runs one task's training loop and writes checkpoints and metrics into ``run_dir``."""

    def __init__(
        self,
        *,
        model: nn.Module,
        task: Task,
        cfg: TrainConfig,
        runtime: Runtime,
        run_dir: Path,
        world: World,
        display: TrainingDisplay,
        total_steps: int | None,
        checkpoint_payload: dict[str, Any],
        sinks: Sequence[MetricSink] = (),
    ):
        self.raw_model = model
        self.task = task
        self.cfg = cfg
        self.runtime = runtime
        self.run_dir = Path(run_dir)
        self.world = world
        self.display = display
        self.total_steps = total_steps
        self.payload = checkpoint_payload  # recipe and task extras, stored in every checkpoint
        self.metrics = MetricsLog(self.run_dir / "metrics.jsonl", sinks)  # sinks: experiment trackers
        if cfg.batch_size // world.size < cfg.grad_accum_steps:
            raise UserError(
                f"train.grad_accum_steps {cfg.grad_accum_steps} is more than the {cfg.batch_size // world.size} "
                f"examples each of the {world.size} processes gets per step (train.batch_size {cfg.batch_size})"
            )
        self.optimizer = build_optimizers(model, cfg, runtime.device)
        if self.optimizer.notice:
            display.note(f"[yellow]note:[/] {self.optimizer.notice}")
        self.scaler = torch.amp.GradScaler("cuda") if runtime.precision == "fp16" else None
        # Only rank 0 evaluates and saves, so only rank 0 keeps the average (DDP leaves the same weights on every rank).
        self.ema = WeightAverage(model, cfg.ema_decay) if cfg.ema_decay is not None and world.is_main else None
        self.eval_model = self.ema.model if self.ema is not None else model
        self.state = TrainerState()
        self.last_lr = cfg.lr
        self._wrap(compiled=runtime.compile)
        self.graph_step: CudaGraphStep | None = None
        if cfg.cuda_graphs:
            reason = self._cuda_graphs_unsupported()
            if reason:
                display.note(f"[yellow]note:[/] CUDA graphs switched off: {reason}")
            else:
                params = [p for p in model.parameters() if p.requires_grad]
                captured = self.optimizer.capturable()
                eager = [name for name in self.optimizer.optimizers if name not in captured]
                self.graph_step = CudaGraphStep(
                    functools.partial(self._update, optimizers=captured),
                    self.optimizer.param_groups(captured),
                    params,
                    after=functools.partial(self.optimizer.step, only=eager) if eager else None,
                )

    def _cuda_graphs_unsupported(self) -> str | None:
        if self.runtime.device.type != "cuda":
            return "they need a CUDA device"
        if self.world.distributed:
            return "not combined with several processes (DDP)"
        if self.scaler is not None:
            return "not combined with fp16 loss scaling (use bf16)"
        if self.runtime.compile:
            return (
                "not combined with torch.compile (train.compile_mode=reduce-overhead gives compiled code CUDA graphs)"
            )
        return None

    def _wrap(self, compiled: bool) -> None:
        """The module training steps call (compiled and/or DDP-wrapped); evaluation uses the plain one."""
        self.model = compile_model(self.raw_model, self.cfg) if compiled else self.raw_model
        if self.world.distributed:
            ids = [self.runtime.device.index] if self.runtime.device.type == "cuda" else None
            self.model = nn.parallel.DistributedDataParallel(self.model, device_ids=ids)

    def _first_step_or_fallback(self, step: int, progress: float) -> torch.Tensor:
        """The first step compiles; if compilation fails, continue uncompiled with a notice."""
        try:
            return self._train_step(step, progress)
        except Exception as err:  # noqa: BLE001 - any compiler failure; eager mode is always correct
            if not self.runtime.compile or isinstance(err, TrainingDiverged):
                raise
            self.display.note(
                f"[yellow]note:[/] compilation failed ({type(err).__name__}: "
                f"{str(err).splitlines()[0][:160] if str(err) else ''}); continuing without it"
            )
            self.runtime.compile = False
            self.optimizer.zero_grad(set_to_none=True)
            if has_blocks(self.raw_model):  # undo in-place block compilation
                for block in self.raw_model.blocks:
                    block._compiled_call_impl = None
            self._wrap(compiled=False)
            return self._train_step(step, progress)

    def restore(self, checkpoint: dict[str, Any], source: Path) -> None:
        """Continue from a checkpoint: weights, optimizer, progress, random and data state.

        metrics.jsonl is cut back last, so a checkpoint that does not fit fails with the run as it was
        (:func:`attn.training.checkpoint.resumable_errors` names such a failure).
        """
        load_model_weights(self.raw_model, checkpoint["model"], source)
        self.optimizer.load_state_dict(checkpoint["optimizer"], source)
        if self.scaler is not None and checkpoint.get("scaler"):
            self.scaler.load_state_dict(checkpoint["scaler"])
        self.state = trainer_state_from(checkpoint["trainer"], source)
        if self.ema is not None:
            if checkpoint.get("ema"):
                self.ema.load_state_dict(checkpoint["ema"])
            else:
                self.display.note(f"[yellow]note:[/] the weight average starts at step {self.state.step}")
        ranks = checkpoint.get("rank_states") or []
        same_processes = len(ranks) == self.world.size
        # each process continues its own batch stream and dropout, else rank 0's state, reseeded per rank
        own = (
            ranks[self.world.rank]
            if same_processes
            else {"task": checkpoint.get("task_state", {}), "rng": checkpoint["rng"]}
        )
        reseed = self.world.distributed and not same_processes
        if reseed:
            self.display.note(
                "[yellow]note:[/] the number of processes changed since the checkpoint: "
                "batches and dropout continue from rank 0's state, reseeded per rank"
            )
        self.task.load_state_dict(own["task"])
        restore_rng(own["rng"], self.runtime.device)
        if reseed:
            self.task.reseed(batch_seed(self.cfg.seed, self.world.rank, self.state.step))
            torch.manual_seed(dropout_seed(self.cfg.seed, self.world.rank, self.state.step))
        if self.world.is_main:
            self.metrics.truncate_after(self.state.step)

    # ---- checkpoints -------------------------------------------------------------------
    def save(self, name: str, every_rank: bool = False, best: bool = False) -> None:
        """Write a checkpoint from rank 0.

        With ``every_rank`` (a collective: all processes must call it) the batch and random
        states of every rank are gathered too, so that a resumed DDP run continues each
        process's own stream. With an average of the weights, ``best`` checkpoints hold the
        average as their model (``model_weights: ema``: what was evaluated), the others hold
        the trained weights and the average (``ema``), so that a resume continues both.
        """
        mine = {"task": self.task.state_dict(), "rng": capture_rng(self.runtime.device)}
        ranks = [mine]
        if every_rank and self.world.distributed:
            ranks = [None] * self.world.size
            torch.distributed.all_gather_object(ranks, mine)
        if not self.world.is_main:
            return
        weights: dict[str, Any] = {}
        if self.ema is not None:
            weights = {"model_weights": "ema"} if best else {"ema": self.ema.state_dict()}
        save_checkpoint(
            self.run_dir / "checkpoints" / name,
            model=self.eval_model if best else self.raw_model,
            optimizer=self.optimizer.state_dict(),
            scaler=self.scaler.state_dict() if self.scaler else None,
            trainer=vars(self.state).copy(),
            task_state=mine["task"],
            rng=mine["rng"],
            rank_states=ranks if self.world.distributed else None,
            **weights,
            **self.payload,
        )

    # ---- the loop ----------------------------------------------------------------------
    def _progress(self, step: int, elapsed: float) -> float:
        if self.total_steps is not None:
            return step_progress(self.cfg, step, self.total_steps)
        return elapsed / self.cfg.max_time_s if self.cfg.max_time_s else 0.0

    def _train_step(self, step: int, progress: float) -> torch.Tensor:
        """One optimizer step on the next batch; returns the (detached, on-device) loss."""
        self.last_lr = learning_rate(self.cfg, step, progress)
        self.optimizer.set_lr_factor(self.last_lr / self.cfg.lr)
        batch = self.task.next_batch()
        self.state.items_seen += self.task.items_in(batch) * self.world.size
        loss = self.graph_step(batch) if self.graph_step is not None else self._update(batch)
        if self.ema is not None:  # after the (replayed) update, in stream order: it reads the new weights
            self.ema.update()
        return loss

    def _update(self, batch: Any, clear_grads: bool = True, optimizers: Sequence[str] | None = None) -> torch.Tensor:
        """Forward and backward of each micro-batch, clipping and the step of ``optimizers`` (default: all).

        This is what a CUDA graph captures, with the optimizers it can replay (Muon runs after it).

        With ``grad_accum_steps`` k > 1 the batch is split into k micro-batches, and each one's
        mean loss is weighted by its share of the batch's items, so the accumulated gradient and
        the returned loss are those of the whole batch. Under DDP only the last backward
        all-reduces the gradients (``no_sync`` before it).
        """
        k = self.cfg.grad_accum_steps
        parts = self.task.split_batch(batch, k) if k > 1 else [batch]
        total_items = sum(self.task.items_in(part) for part in parts) if len(parts) > 1 else 1
        total = None
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            no_sync = self.model.no_sync() if self.world.distributed and not last else contextlib.nullcontext()
            with no_sync:
                with self.runtime.autocast():
                    loss = self.task.loss(self.model, part)
                if len(parts) > 1:
                    loss = loss * (self.task.items_in(part) / total_items)
                (self.scaler.scale(loss) if self.scaler is not None else loss).backward()
            total = loss.detach() if total is None else total + loss.detach()
        if self.scaler is not None:
            self.optimizer.unscale_(self.scaler)
        if self.cfg.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.raw_model.parameters(), self.cfg.grad_clip)
        self.optimizer.step(self.scaler, only=optimizers)
        if clear_grads:
            self.optimizer.zero_grad(set_to_none=True)
        assert total is not None
        return total

    def _evaluate(self, step: int) -> tuple[dict[str, float], bool]:
        """Evaluate on rank 0 (the average of the weights, if kept); the metrics and whether they are the best."""
        elapsed = round(self.state.elapsed_s + (time.perf_counter() - self._wall_start), 3)  # when the weights existed
        metrics = self.task.evaluate(self.eval_model, self.runtime)
        value = metrics[self.task.metric]
        improved = math.isfinite(value) and value < self.state.best_metric
        if improved:
            self.state.best_metric, self.state.best_step = value, step
            self.state.best_metrics = dict(metrics)
            self.state.evals_since_best = 0
        else:
            self.state.evals_since_best += 1
        self.state.last_metrics = dict(metrics)
        extra = self.task.after_evaluation(metrics)
        self.metrics.append({"kind": "eval", "step": step, "elapsed_s": elapsed, **metrics, **extra})
        return metrics, improved

    def run(self) -> TrainResult:
        cfg, state = self.cfg, self.state
        eval_every = cfg.eval_interval or self.task.steps_per_epoch() or self.total_steps
        ckpt_every = cfg.checkpoint_interval or eval_every
        start_step = state.step
        status, message = "completed", ""
        loss_sum = torch.zeros((), device=self.runtime.device)
        losses_in_window = 0
        train_time = eval_time = warmup_time = 0.0
        measured_items, measured_time = 0, 0.0
        self.runtime.reset_peak_memory()
        self.raw_model.train()
        self.display.start_at(start_step)
        startup.finish()  # the start-up profile ends at the first step (attn.process)
        setup_s = process_age_s()
        wall_start = self._wall_start = time.perf_counter()
        mark = wall_start
        items_at_mark = state.items_seen
        elapsed_at_last_sync = state.elapsed_s
        with STOP as stop:
            while True:
                step = state.step
                if self.total_steps is not None and step >= self.total_steps:
                    break
                elapsed = state.elapsed_s + (time.perf_counter() - wall_start)
                take_step = self._first_step_or_fallback if step == start_step else self._train_step
                loss_sum += take_step(step, self._progress(step, elapsed))
                losses_in_window += 1
                state.step = step = step + 1
                last = self.total_steps is not None and step >= self.total_steps
                do_eval = eval_every is not None and (step % eval_every == 0 or last)
                do_ckpt = do_eval or (ckpt_every is not None and step % ckpt_every == 0) or last
                if not (
                    step % cfg.log_interval == 0 or do_ckpt or stop.set or step - start_step == WARMUP_STEPS_EXCLUDED
                ):
                    continue
                # ---- a sync point: log, check, maybe evaluate and checkpoint ----
                self.runtime.synchronize()
                now = time.perf_counter()
                span = now - mark
                if step - start_step <= WARMUP_STEPS_EXCLUDED:
                    warmup_time += span
                else:
                    measured_items += state.items_seen - items_at_mark
                    measured_time += span
                train_time += span
                mean_loss = float(mean_across(self.world, loss_sum / losses_in_window))
                loss_sum.zero_()
                losses_in_window = 0
                rate = measured_items / measured_time if measured_time > 0 else 0.0
                elapsed = state.elapsed_s + (now - wall_start)
                time_up = cfg.max_time_s is not None and elapsed >= cfg.max_time_s
                if crossed_multiple(elapsed_at_last_sync, elapsed, cfg.eval_interval_s):
                    do_eval = do_ckpt = True  # rank 0's clock decides: do_eval is broadcast below
                elapsed_at_last_sync = elapsed
                # the loss was computed before this interval's updates: check their result too, so
                # that no checkpoint is ever written from weights that went NaN or Inf
                diverged = not math.isfinite(mean_loss) or not weights_are_finite(self.raw_model)
                if self.world.is_main and math.isfinite(mean_loss):
                    self.metrics.append(
                        {
                            "kind": "train",
                            "step": step,
                            "train_loss": mean_loss,
                            "lr": self.last_lr,
                            **self._other_lrs(),
                            **({f"{self.task.items}_per_s": rate} if measured_time > 0 else {}),  # none in warm-up
                            "elapsed_s": round(elapsed, 3),
                            "peak_memory_mb": round(self.runtime.peak_memory_mb(), 1),
                        }
                    )
                    self.display.update(step, mean_loss, rate)
                interrupted, diverged, time_up, do_eval = broadcast_flags(
                    self.world, [stop.set, diverged, time_up, do_eval], self.runtime.device
                )
                do_ckpt = do_ckpt or do_eval
                if diverged:
                    status = "diverged"
                    message = self._diverged_message(step, math.isfinite(mean_loss))
                    break
                early_stop = False
                eval_s = 0.0  # the training clock stops while the run evaluates
                if do_eval or time_up:
                    eval_start = time.perf_counter()
                    if self.world.is_main:
                        metrics, improved = self._evaluate(step)
                        self.display.note(self._eval_line(step, metrics, improved))
                        if improved:
                            self.save("best.pt", best=True)
                        patience = cfg.early_stopping_patience
                        early_stop = patience is not None and state.evals_since_best >= patience
                    (early_stop,) = broadcast_flags(self.world, [early_stop], self.runtime.device)
                    eval_s = time.perf_counter() - eval_start
                    eval_time += eval_s
                if early_stop:
                    status, message = "early_stopped", f"no improvement in {cfg.early_stopping_patience} evaluations"
                elif time_up:
                    status, message = "time_budget", f"time budget of {cfg.max_time_s:g} s reached"
                elif interrupted:
                    status, message = "interrupted", f"stopped by {stop.signal.name if stop.signal else 'a signal'}"
                state.elapsed_s = state.elapsed_s + (time.perf_counter() - wall_start) - eval_s
                state.eval_s += eval_s
                wall_start = self._wall_start = time.perf_counter()
                if do_ckpt or early_stop or time_up or interrupted:
                    self.save("last.pt", every_rank=True)
                mark = time.perf_counter()
                items_at_mark = state.items_seen
                if status != "completed":
                    break
        state.elapsed_s += time.perf_counter() - wall_start
        return TrainResult(
            status=status,
            state=state,
            train_time_s=train_time,
            eval_time_s=eval_time,
            warmup_s=warmup_time,
            items_per_s=measured_items / measured_time if measured_time > 0 else 0.0,
            peak_memory_mb=self.runtime.peak_memory_mb(),
            setup_s=setup_s,
            message=message,
            training=self.describe(),
        )

    def describe(self) -> dict[str, Any]:
        """How this run trains, for its summary: the optimizers (with why, if not as asked), and which weights were
        evaluated."""
        notice = f" [{self.optimizer.notice}]" if self.optimizer.notice else ""
        return {
            "optimizer": self.optimizer.describe() + notice,
            "evaluated_weights": self.ema.describe() if self.ema is not None else "the trained weights",
        }

    def _other_lrs(self) -> dict[str, float]:
        """Learning rates of optimizers other than AdamW (whose rate is ``lr``), for the metrics log."""
        factor = self.last_lr / self.cfg.lr
        return {f"{name}_lr": peak * factor for name, peak in self.optimizer.peak_lrs.items() if name != "adamw"}

    def _diverged_message(self, step: int, loss_finite: bool) -> str:
        kept = self.run_dir / "checkpoints" / "last.pt"
        keep = f"the last good checkpoint is kept in {kept}" if kept.exists() else "no checkpoint had been written yet"
        what = "the weights" if loss_finite else "the training loss"
        return (
            f"{what} became NaN or Inf by step {step}; training stopped and {keep}. "
            f"Try a lower train.lr, train.grad_clip, or train.precision=fp32"
        )

    def _eval_line(self, step: int, metrics: dict[str, float], improved: bool) -> str:
        shown = "  ".join(f"{k} {format_value(v)}" for k, v in metrics.items() if isinstance(v, float))
        return f"step {step}: {shown}{'  [bold green]best[/]' if improved else ''}"


def crossed_multiple(before: float, now: float, interval: float | None) -> bool:
    """Whether the clock passed a multiple of ``interval`` seconds between ``before`` and ``now``."""
    return interval is not None and math.floor(now / interval) > math.floor(before / interval)


def raise_if_diverged(result: TrainResult) -> None:
    if result.status == "diverged":
        raise TrainingDiverged(result.message)
