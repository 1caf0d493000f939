"""Fixtures for the bench tests: a tiny corpus and a tiny transformer recipe that trains in seconds."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.helpers import make_corpus, text_recipe


def write_corpus(path: Path) -> Path:
    """The shared test corpus (tests/helpers.py), a little shorter: something a tiny model learns in a few steps."""
    return make_corpus(path, n_chars=4000)


def tiny_bench_recipe(corpus: Path, **train: object) -> dict:
    """A 1-layer, 16-wide transformer on ``corpus`` for bench tests (``train`` overrides its train keys)."""
    small = {"n_layer": 1, "n_head": 2, "d_model": 16, "block_size": 8, "dropout": 0.0}
    settings = {"max_steps": 100, "eval_interval": 4, "eval_batches": 1, "log_interval": 2, "seed": 3, **train}
    recipe = text_recipe(corpus, model=small, **settings)
    return {**recipe, "name": "tiny_bench", "description": "tiny transformer for bench tests"}


@pytest.fixture
def tiny_text_recipe(tmp_path: Path) -> Path:
    path = tmp_path / "tiny_bench.yaml"
    path.write_text(yaml.safe_dump(tiny_bench_recipe(write_corpus(tmp_path / "corpus.txt"))), encoding="utf-8")
    return path
