"""Fixtures for the bench tests: a tiny corpus and a tiny transformer recipe that trains in seconds."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import yaml


def write_corpus(path: Path, n_chars: int = 4000, seed: int = 0) -> Path:
    """Repeated words in random order: something a tiny model learns in a few steps."""
    rng = random.Random(seed)
    words = ["to", "be", "or", "not", "that", "is", "the", "question"]
    lines = []
    while sum(map(len, lines)) < n_chars:
        lines.append(" ".join(rng.choice(words) for _ in range(rng.randint(3, 8))).capitalize() + ".\n")
    path.write_text("".join(lines), encoding="utf-8")
    return path


@pytest.fixture
def tiny_text_recipe(tmp_path: Path) -> Path:
    corpus = write_corpus(tmp_path / "corpus.txt")
    recipe = {
        "name": "tiny_bench",
        "description": "tiny transformer for bench tests",
        "data": {"corpora": [str(corpus)]},
        "model": {
            "name": "char-transformer",
            "n_layer": 1,
            "n_head": 2,
            "d_model": 16,
            "block_size": 8,
            "dropout": 0.0,
        },
        "train": {
            "batch_size": 4,
            "max_steps": 100,
            "lr": 3e-3,
            "min_lr": 3e-4,
            "warmup_steps": 2,
            "eval_interval": 4,
            "eval_batches": 1,
            "log_interval": 2,
            "seed": 3,
            "device": "cpu",
        },
    }
    path = tmp_path / "tiny_bench.yaml"
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    return path
