"""Fixtures for text tests: a small corpus and a tiny transformer recipe that trains in seconds."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import yaml


def make_corpus(path: Path, n_chars: int = 6000, seed: int = 0) -> Path:
    """A corpus with learnable structure: repeated words in random order."""
    rng = random.Random(seed)
    words = ["to", "be", "or", "not", "that", "is", "the", "question", "whether", "tis", "nobler"]
    text = []
    while sum(map(len, text)) < n_chars:
        line = " ".join(rng.choice(words) for _ in range(rng.randint(3, 9)))
        text.append(line.capitalize() + ".\n")
    path.write_text("".join(text), encoding="utf-8")
    return path


def tiny_recipe(corpus: Path | str, **train: object) -> dict:
    settings = {
        "batch_size": 4,
        "max_steps": 20,
        "lr": 3e-3,
        "min_lr": 3e-4,
        "warmup_steps": 2,
        "eval_interval": 10,
        "eval_batches": 2,
        "log_interval": 5,
        "seed": 7,
        "device": "cpu",
    }
    settings.update(train)
    return {
        "name": "tiny",
        "description": "tiny test recipe",
        "data": {"corpora": [str(corpus)]},
        "model": {
            "name": "char-transformer",
            "n_layer": 2,
            "n_head": 2,
            "d_model": 32,
            "block_size": 16,
            "dropout": 0.1,
        },
        "train": settings,
    }


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return make_corpus(tmp_path / "corpus.txt")


@pytest.fixture
def recipe_file(tmp_path: Path, corpus: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_recipe(corpus)), encoding="utf-8")
    return path


@pytest.fixture
def make_recipe():
    """The tiny recipe as a dict, with train overrides: make_recipe(corpus, max_steps=24)."""
    return tiny_recipe
