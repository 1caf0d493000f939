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
