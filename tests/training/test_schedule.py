"""The warmup-stable-decay schedule against hand-computed values, and both optimizers following one schedule."""

from __future__ import annotations

import math

import pytest

from attn.training.config import TrainConfig
from attn.training.schedule import learning_rate, step_progress


def wsd(**changes: object) -> TrainConfig:
    return TrainConfig(**{"lr": 1.0, "min_lr": 0.1, "warmup_steps": 2, "schedule": "wsd", **changes})


def test_wsd_warms_up_holds_then_decays_linearly_over_the_last_fraction() -> None:
    # 12 steps, 2 of warmup: progress (s - 2) / 10; decay over the last 0.4 of it, from progress 0.6 on.
    cfg = wsd(decay_fraction=0.4, max_steps=12)
    lrs = [learning_rate(cfg, s, step_progress(cfg, s, 12)) for s in range(12)]
    hand = [1 / 3, 2 / 3, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.1 + 0.9 * 0.3 / 0.4, 0.1 + 0.9 * 0.2 / 0.4]
    hand.append(0.1 + 0.9 * 0.1 / 0.4)
    assert lrs == pytest.approx(hand)
    assert learning_rate(cfg, 12, step_progress(cfg, 12, 12)) == pytest.approx(0.1)  # the end is min_lr
    assert learning_rate(cfg, 50, 3.0) == pytest.approx(0.1)  # past the end it stays there


def test_wsd_under_a_time_budget_decays_from_the_elapsed_fraction() -> None:
    cfg = wsd(decay_fraction=0.25, max_steps=None, max_time_s=40.0)
    # Progress is elapsed / budget: 30 s is the start of the decay, 35 s halfway, 40 s its end.
    assert learning_rate(cfg, 500, 20.0 / 40.0) == 1.0
    assert learning_rate(cfg, 500, 30.0 / 40.0) == 1.0
    assert learning_rate(cfg, 500, 35.0 / 40.0) == pytest.approx(0.1 + 0.9 * 0.5)
    assert learning_rate(cfg, 500, 40.0 / 40.0) == pytest.approx(0.1)
    assert learning_rate(cfg, 1, 0.9) == pytest.approx(2 / 3)  # warmup counts steps whatever the clock says


def test_a_decay_fraction_of_one_is_a_linear_decay_after_warmup() -> None:
    cfg = wsd(decay_fraction=1.0, warmup_steps=0)
    for progress in (0.0, 0.25, 0.5, 1.0):
        assert learning_rate(cfg, 10, progress) == pytest.approx(1.0 - 0.9 * progress)


def test_schedule_warmup_then_cosine_matches_hand_values() -> None:
    cfg = TrainConfig(lr=1.0, min_lr=0.1, warmup_steps=4, max_steps=14)
    lrs = [learning_rate(cfg, s, step_progress(cfg, s, 14)) for s in range(14)]
    assert lrs[:4] == pytest.approx([1 / 5, 2 / 5, 3 / 5, 4 / 5])
    # After warmup: 0.1 + 0.45 * (1 + cos(pi * (s - 4) / 10)).
    for s in range(4, 14):
        assert lrs[s] == pytest.approx(0.1 + 0.45 * (1 + math.cos(math.pi * (s - 4) / 10)))
    assert learning_rate(cfg, 100, 2.0) == pytest.approx(0.1)
    constant = TrainConfig(lr=0.5, min_lr=0.0, warmup_steps=0, schedule="constant")
    assert learning_rate(constant, 7, 0.9) == 0.5
