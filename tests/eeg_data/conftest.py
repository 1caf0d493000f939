"""Shared fixtures of the EEG data tests: every test gets its own empty cache folder."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # the BIDS file writers next to the tests


@pytest.fixture(autouse=True)
def attn_cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "attn-cache"
    monkeypatch.setenv("ATTN_CACHE", str(folder))
    return folder
