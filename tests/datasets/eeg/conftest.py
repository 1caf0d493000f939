"""Shared fixtures of the EEG data tests: every test gets its own empty cache folder."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def attn_cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "attn-cache"
    monkeypatch.setenv("ATTN_CACHE", str(folder))
    return folder
