"""Learning-rate schedule: linear warmup, then cosine decay to ``min_lr``, constant, or warmup-stable-decay.

The schedule gives AdamW's learning rate; every optimizer of a run follows it relative to its own
peak (:meth:`attn.training.optim.Optimizers.set_lr_factor` with ``learning_rate / cfg.lr``).
"""

from __future__ import annotations

import math

from attn.training.config import TrainConfig


def learning_rate(cfg: TrainConfig, step: int, progress: float) -> float:
    """The learning rate for optimizer step ``step`` (0-based).

    ``progress`` in [0, 1] is how far the run is past warmup: steps after warmup done over those
    planned, or elapsed over the time budget for runs limited by time. Warmup counts steps either
    way. ``wsd`` holds ``lr`` until ``progress`` reaches ``1 - decay_fraction``, then decays
    linearly to ``min_lr`` at ``progress`` 1.
    """
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / (cfg.warmup_steps + 1)
    if cfg.schedule == "constant":
        return cfg.lr
    progress = min(max(progress, 0.0), 1.0)
    if cfg.schedule == "wsd":
        left = 1.0 - progress  # of the run, over the decay phase's length
        if left >= cfg.decay_fraction:
            return cfg.lr
        return cfg.min_lr + (cfg.lr - cfg.min_lr) * left / cfg.decay_fraction
    return cfg.min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (cfg.lr - cfg.min_lr)


def step_progress(cfg: TrainConfig, step: int, total_steps: int) -> float:
    """Fraction of the decay phase done after ``step`` steps of ``total_steps``."""
    span = max(total_steps - cfg.warmup_steps, 1)
    return (step - cfg.warmup_steps) / span
