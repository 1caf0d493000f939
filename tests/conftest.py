"""Shared test settings: one torch thread per test process keeps the 2-core CI machine responsive."""

from __future__ import annotations

import os

import pytest
import torch

torch.set_num_threads(1)
os.environ.setdefault("ATTN_TEST", "1")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never write to the user's cache or runs folder."""
    monkeypatch.setenv("ATTN_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    monkeypatch.delenv("ATTN_RUNS_DIR", raising=False)


@pytest.fixture
def interrupt_after():
    """``interrupt_after(step, patch)``: a real SIGINT reaches this process right after optimizer step ``step``.

    ``patch`` is a ``monkeypatch`` (or one of its contexts); the trainer's SIGINT handler then
    saves ``last.pt`` and stops, as it does for a user's Ctrl-C.
    """
    import signal

    import attn.training.trainer as trainer_module

    def arm(step: int, patch: pytest.MonkeyPatch) -> None:
        original = trainer_module.Trainer._train_step

        def train_step(self: object, at: int, progress: float) -> object:
            loss = original(self, at, progress)
            if at + 1 == step:
                os.kill(os.getpid(), signal.SIGINT)
            return loss

        patch.setattr(trainer_module.Trainer, "_train_step", train_step)

    return arm
