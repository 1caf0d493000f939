"""Learning-rate schedule: linear warmup, then cosine decay to ``min_lr`` (or constant)."""

from __future__ import annotations

import math

import torch
from torch.optim import Optimizer

from attn.training.config import TrainConfig


def learning_rate(cfg: TrainConfig, step: int, progress: float) -> float:
    """The learning rate for optimizer step ``step`` (0-based).

    ``progress`` in [0, 1] is how far the run is: steps done over total steps, or elapsed over
    the time budget for runs limited by time. Warmup counts steps either way.
    """
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / (cfg.warmup_steps + 1)
    if cfg.schedule == "constant":
        return cfg.lr
    progress = min(max(progress, 0.0), 1.0)
    return cfg.min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (cfg.lr - cfg.min_lr)


def step_progress(cfg: TrainConfig, step: int, total_steps: int) -> float:
    """Fraction of the decay phase done after ``step`` steps of ``total_steps``."""
    span = max(total_steps - cfg.warmup_steps, 1)
    return (step - cfg.warmup_steps) / span


def set_learning_rate(optimizer: Optimizer, lr: float) -> None:
    """Set every group's learning rate (in place when it is a device tensor, as under CUDA graphs)."""
    for group in optimizer.param_groups:
        if isinstance(group["lr"], torch.Tensor):
            group["lr"].fill_(lr)
        else:
            group["lr"] = lr
