"""Shared test settings: one torch thread per test process keeps the 2-core CI machine responsive."""

from __future__ import annotations

import os
import signal

import pytest
import torch

torch.set_num_threads(1)
os.environ.setdefault("ATTN_TEST", "1")


def pytest_configure(config: pytest.Config) -> None:
    """Give Ctrl-C back to the suite when it was started where SIGINT is ignored.

    A shell without job control starts background commands (``pytest ... &``) with SIGINT ignored;
    the trainer rightly keeps an ignored signal ignored, so every test that sends a real SIGINT
    would fail. Runs in the main process and in each worker, before any test or child process.
    """
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never write to the user's cache or runs folder."""
    monkeypatch.setenv("ATTN_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    monkeypatch.delenv("ATTN_RUNS_DIR", raising=False)


@pytest.fixture
def interrupt_after():
    """``interrupt_after(step, patch[, signum])``: a real SIGINT (or ``signum``) reaches this process right after step ``step``.

    ``patch`` is a ``monkeypatch`` (or one of its contexts); the trainer's signal handler then
    saves ``last.pt`` and stops, as it does for a user's Ctrl-C.
    """
    import signal

    import attn.training.trainer as trainer_module

    def arm(step: int, patch: pytest.MonkeyPatch, signum: int = signal.SIGINT) -> None:
        original = trainer_module.Trainer._train_step

        def train_step(self: object, at: int, progress: float) -> object:
            loss = original(self, at, progress)
            if at + 1 == step:
                os.kill(os.getpid(), signum)
            return loss

        patch.setattr(trainer_module.Trainer, "_train_step", train_step)

    return arm


@pytest.fixture
def corpus(tmp_path):
    from tests.helpers import make_corpus

    return make_corpus(tmp_path / "corpus.txt")


@pytest.fixture
def recipe_file(tmp_path, corpus):
    """A tiny text recipe file (see tests/helpers.py)."""
    from tests.helpers import text_recipe, write_recipe

    return write_recipe(tmp_path, text_recipe(corpus), "tiny.yaml")


@pytest.fixture
def make_recipe():
    """The tiny text recipe as a dict, with train overrides: make_recipe(corpus, max_steps=24)."""
    from tests.helpers import text_recipe

    return text_recipe


@pytest.fixture
def eeg_recipe_file(tmp_path):
    """A tiny EEG recipe file (see tests/helpers.py)."""
    from tests.helpers import eeg_recipe, write_recipe

    return write_recipe(tmp_path, eeg_recipe())
