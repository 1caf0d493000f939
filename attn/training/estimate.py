"""How long a run will take, known before its first step.

:func:`probe_step_cost` times the real model on a real training batch: forward + backward (a
training step without the optimizer update) and a forward pass in evaluation mode. It works on a
copy of the model and puts the batch position and the random state back afterwards, so the run
then trains exactly as it would have without the probe. :func:`estimate_run` turns that into the
run's time: the training steps, every evaluation during training (its items at the measured
forward cost per item) and the final evaluation of the best checkpoint. Evaluation is counted
because it can dominate: a GPU-sized recipe on a CPU spends minutes in 200 evaluation
batches even with ``train.max_steps=2``.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from torch import nn

from attn.formatting import format_duration
from attn.training.checkpoint import capture_rng, restore_rng
from attn.training.config import TrainConfig
from attn.training.device import Runtime, eval_mode
from attn.training.task import Task

FORWARD_SHARE = 1 / 3  # a forward pass is about a third of forward + backward (2 of 6 FLOPs per parameter)


@dataclass
class StepCost:
    """Measured cost of one training batch of this process."""

    step_s: float  # forward + backward of one batch, and the optimizer update when it was timed
    items_per_step: int  # items in that batch (tokens, windows)
    forward_item_s: float  # forward pass in evaluation mode, per item
    passes: int  # timed training passes


def probe_step_cost(
    model: nn.Module,
    task: Task,
    runtime: Runtime,
    *,
    max_passes: int = 3,
    min_passes: int = 1,
    budget_s: float = 1.0,
    micro_batches: int = 1,
    split: Callable[[Any, int], list[Any]] | None = None,
    optimizer: Callable[[nn.Module], Any] | None = None,
) -> StepCost:
    """Time forward + backward and an evaluation forward of ``model`` on the task's next batch.

    Passes repeat until ``max_passes`` or ``budget_s`` seconds; the first pass (allocations, kernel
    selection) counts only when it is the only one. A slow model gets one pass and its forward
    cost is taken as :data:`FORWARD_SHARE` of it. ``min_passes`` 2 times two passes, each with its
    forward, however long the first takes: on a GPU the first pass also starts the libraries and
    loads the kernels (two seconds, for a step of 15 ms on an H100). The task's batch state and the random state
    are restored, and ``model`` itself is not touched (the passes run on a copy). With gradient
    accumulation (``micro_batches`` k > 1, ``split(batch, k)`` the task's split) one micro-batch
    is timed, as training runs it, and a step costs k of them. ``optimizer(probe)`` builds the run's
    optimizers for the copy; their update is timed too (once per step), so that an expensive one
    (Muon's Newton-Schulz iterations on a CPU) is counted.
    """
    probe = copy.deepcopy(model).train()
    stepper = optimizer(probe) if optimizer is not None else None
    with left_as_it_was(task, runtime):
        batch = task.next_batch()
        items = task.items_in(batch)
        if micro_batches > 1 and split is not None:
            batch = split(batch, micro_batches)[0]
        per_step = items / max(task.items_in(batch), 1)  # passes of this batch in one optimizer step
        train_times: list[float] = []
        update_times: list[float] = []
        forward_times: list[float] = []
        started = time.perf_counter()
        while len(train_times) < max_passes and (
            len(train_times) < min_passes or time.perf_counter() - started < budget_s
        ):
            begin = time.perf_counter()
            with runtime.autocast():
                loss = task.loss(probe, batch)
            loss.backward()
            runtime.synchronize()
            train_times.append(time.perf_counter() - begin)
            if stepper is not None:
                begin = time.perf_counter()
                stepper.step()
                runtime.synchronize()
                update_times.append(time.perf_counter() - begin)
            probe.zero_grad(set_to_none=True)
            if (min_passes > 1 and len(forward_times) < min_passes) or time.perf_counter() - started < budget_s:
                begin = time.perf_counter()
                with eval_mode(probe), runtime.autocast():
                    task.loss(probe, batch)
                runtime.synchronize()
                forward_times.append(time.perf_counter() - begin)
    pass_s = min(train_times[1:]) if len(train_times) > 1 else train_times[0]
    update_s = min(update_times[1:] or update_times) if update_times else 0.0
    forward_s = min(forward_times[1:] or forward_times) if forward_times else pass_s * FORWARD_SHARE
    return StepCost(pass_s * per_step + update_s, items, forward_s * per_step / max(items, 1), len(train_times))


@contextlib.contextmanager
def left_as_it_was(task: Task, runtime: Runtime) -> Iterator[None]:
    """Batches drawn inside leave no trace: the task's batch position and the random state are put back after,
    so the run then trains exactly as it would have without them."""
    task_state = copy.deepcopy(task.state_dict())
    rng = capture_rng(runtime.device)
    try:
        yield
    finally:
        task.load_state_dict(task_state)
        restore_rng(rng, runtime.device)


def batch_items(task: Task, runtime: Runtime) -> int:
    """Items (tokens, windows) in one training step of ``task``, looked at without a trace (:func:`left_as_it_was`)."""
    with left_as_it_was(task, runtime):
        return task.items_in(task.next_batch())


def measured_step_cost(items_per_step: int, items_per_s: float) -> StepCost:
    """The cost of a step from the speed training measured: an evaluation forward is taken as
    :data:`FORWARD_SHARE` of a step, per item."""
    step_s = items_per_step / items_per_s
    return StepCost(step_s, items_per_step, step_s * FORWARD_SHARE / max(items_per_step, 1), passes=0)


def evaluation_interval(cfg: TrainConfig, task: Task, total_steps: int | None) -> int | None:
    """Steps between evaluations, as the trainer decides them (the recipe's, else once per epoch, else at the end)."""
    return cfg.eval_interval or task.steps_per_epoch() or total_steps


def evaluations_between(start: int, end: int, every: int | None, *, final: bool) -> int:
    """Evaluations after steps ``start + 1 .. end`` (every ``every`` steps; ``final``: one more at ``end``
    when it is not on the interval, as the last step or an exhausted time budget always evaluates)."""
    if end <= start:
        return 0
    regular = end // every - start // every if every else 0
    return regular + (1 if final and (not every or end % every) else 0)


@dataclass
class RunEstimate:
    """Expected seconds of what is left of a run, from a :class:`StepCost`."""

    device: str
    start_step: int
    steps: int  # training steps still to run
    step_s: float
    items_per_step: int
    eval_every: int | None  # steps between evaluations (None: one, at the end)
    evaluations: int
    eval_each_s: float | None  # None: the task does not say how much an evaluation reads
    final_s: float | None
    budget_s: float | None = None  # a time budget (train.max_time_s) caps training
    basis: str = "probe"  # "probe": timed before training; "training": the run's own first timed steps

    @property
    def train_s(self) -> float:
        return self.steps * self.step_s

    @property
    def eval_s(self) -> float:
        return self.evaluations * (self.eval_each_s or 0.0)

    @property
    def total_s(self) -> float:
        return self.train_s + self.eval_s + (self.final_s or 0.0)

    def remaining_s(self, step_s: float | None, step: int) -> float:
        """Seconds left after optimizer step ``step``, at ``step_s`` per step (None: the probe's).

        The evaluation at ``step`` itself, if there is one, is still to come (the trainer reports a
        step before it evaluates there)."""
        per_step = step_s if step_s and step_s > 0 else self.step_s
        steps_done = min(max(step - self.start_step, 0), self.steps)
        evals_done = evaluations_between(
            self.start_step, self.start_step + steps_done - 1, self.eval_every, final=False
        )
        evals_left = max(self.evaluations - evals_done, 0)
        return (self.steps - steps_done) * per_step + evals_left * (self.eval_each_s or 0.0) + (self.final_s or 0.0)

    def describe(self) -> str:
        """One line: the total and what it is made of."""
        parts = [f"{self.steps:,} steps x {format_duration(self.step_s)}"]
        if self.budget_s is not None:
            parts[0] += f" (time budget {format_duration(self.budget_s)})"
        if self.eval_each_s is None:
            parts.append("evaluations not included")
        elif self.evaluations:
            plural = "s" if self.evaluations > 1 else ""
            parts.append(f"{self.evaluations} evaluation{plural} {format_duration(self.eval_s)}")
        if self.final_s:
            parts.append(f"final evaluation {format_duration(self.final_s)}")
        return f"about {format_duration(self.total_s)} on {self.device} ({', '.join(parts)})"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "total_s": self.total_s, "train_s": self.train_s, "eval_s": self.eval_s}


def estimate_run(
    cost: StepCost,
    cfg: TrainConfig,
    task: Task,
    *,
    device: str,
    start_step: int,
    total_steps: int | None,
    elapsed_s: float = 0.0,
    final_full: bool | None = True,
    eval_interval_s: float | None = None,
) -> RunEstimate:
    """The expected time of steps ``start_step`` to the end; ``final_full`` None: no final evaluation;
    ``eval_interval_s``: evaluations also every that many seconds of the trainer's clock."""
    budget = cfg.max_time_s - elapsed_s if cfg.max_time_s is not None else None
    steps = total_steps - start_step if total_steps is not None else math.inf
    if budget is not None:
        steps = min(steps, math.ceil(max(budget, 0.0) / cost.step_s))
    steps = int(max(steps, 0))
    every = evaluation_interval(cfg, task, total_steps)
    evaluations = evaluations_between(start_step, start_step + steps, every, final=True)
    if eval_interval_s:
        evaluations += int(steps * cost.step_s // eval_interval_s)
    eval_items = task.eval_items(full=False)
    final_items = task.final_items(full=bool(final_full)) if final_full is not None else 0
    return RunEstimate(
        device=device,
        start_step=start_step,
        steps=steps,
        step_s=cost.step_s,
        items_per_step=cost.items_per_step,
        eval_every=every,
        evaluations=evaluations,
        eval_each_s=eval_items * cost.forward_item_s if eval_items is not None else None,
        final_s=final_items * cost.forward_item_s if final_items is not None else None,
        budget_s=budget,
    )
