"""Fixtures for EEG training tests (the helpers live in eeg_helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from eeg_helpers import tiny_recipe, write_recipe


@pytest.fixture
def recipe_file(tmp_path: Path) -> Path:
    return write_recipe(tmp_path, tiny_recipe())
