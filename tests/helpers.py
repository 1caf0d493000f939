"""Helpers shared by the tests: tiny corpora and recipes that train in seconds, and CLI/run-directory readers."""

from __future__ import annotations

import csv
import json
import math
import random
import shutil
import sys
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

WORDS = ["to", "be", "or", "not", "that", "is", "the", "question", "whether", "tis", "nobler"]


def make_corpus(path: Path, n_chars: int = 6000, seed: int = 0, words: list[str] = WORDS) -> Path:
    """A corpus with learnable structure: repeated words in random order."""
    rng = random.Random(seed)
    lines: list[str] = []
    while sum(map(len, lines)) < n_chars:
        line = " ".join(rng.choice(words) for _ in range(rng.randint(3, 9)))
        lines.append(line.capitalize() + ".\n")
    path.write_text("".join(lines), encoding="utf-8")
    return path


def text_recipe(corpus: Path | str, model: dict[str, Any] | None = None, **train: object) -> dict[str, Any]:
    """A 2-layer, 32-wide transformer on ``corpus`` that trains 20 steps in about a second.

    ``model`` and ``train`` change keys of the model and train sections."""
    settings: dict[str, Any] = {
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
            **(model or {}),
        },
        "train": settings,
    }


def eeg_recipe(**train: Any) -> dict[str, Any]:
    """6 subjects x 6 trials of simulated EEG and a small CNN; val and test get one subject each."""
    settings = {
        "batch_size": 8,
        "max_steps": None,
        "epochs": 2,
        "lr": 1e-3,
        "min_lr": 1e-4,
        "warmup_steps": 1,
        "eval_interval": None,
        "log_interval": 1,
        "seed": 3,
        "device": "cpu",
    }
    settings.update(train)
    return {
        "name": "tiny_eeg",
        "description": "tiny EEG test recipe",
        "data": {
            "n_subjects": 6,
            "trials_per_subject": 6,
            "seed": 5,
            "val_fraction": 0.2,
            "test_fraction": 0.2,
            "split_seed": 1,
        },
        "model": {"name": "eeg-cnn", "dropout": 0.1},
        "train": settings,
    }


def write_recipe(folder: Path, recipe: dict[str, Any], name: str | None = None) -> Path:
    path = Path(folder) / (name or f"{recipe['name']}.yaml")
    path.write_text(yaml.safe_dump(recipe, sort_keys=False), encoding="utf-8")
    return path


def attn_command() -> list[str]:
    """The installed ``attn`` entry point (``python -m attn`` where the script is not on PATH)."""
    exe = shutil.which("attn")
    return [exe] if exe else [sys.executable, "-m", "attn"]


def run_cli(*args: Any) -> Any:
    """``attn ARGS`` in this process (exceptions other than exits propagate, so bugs show)."""
    from attn.cli import app

    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def one_error_line(result: Any, code: int = 2) -> str:
    """The error line of a failed command, checking it is the only one and there is no traceback."""
    assert result.exit_code == code, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in result.output, result.output
    assert not any(c in result.output for c in "╭╰│"), "no usage box"
    return errors[0]


def only_run_dir(runs: Path, name: str | None = None) -> Path:
    """The one run directory under ``runs`` (of recipe ``name``, or of the only recipe there)."""
    folders = [Path(runs) / name] if name else sorted(p for p in Path(runs).iterdir() if p.is_dir())
    dirs = sorted(p for folder in folders for p in folder.iterdir() if p.is_dir())
    assert len(dirs) == 1, dirs
    return dirs[0]


def train_tiny_text_run(folder: Path, steps: int) -> Path:
    """Train the tiny text recipe for ``steps`` steps (one evaluation at the end) in ``folder``; its run directory."""
    corpus = make_corpus(Path(folder) / "corpus.txt")
    recipe = write_recipe(folder, text_recipe(corpus, max_steps=steps, eval_interval=steps))
    result = run_cli("train", recipe, "--runs-dir", Path(folder) / "runs", "-q")
    assert result.exit_code == 0, result.output
    return only_run_dir(Path(folder) / "runs")


def read_records(run_dir: Path, kind: str) -> list[dict[str, Any]]:
    """The ``kind`` ("train" or "eval") records of a run's metrics.jsonl."""
    lines = (Path(run_dir) / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == kind]


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def independent_nrmse(y_true: list[float], y_pred: list[float]) -> float:
    """RMSE over the population standard deviation of y_true, in plain float64 Python (a reference for attn.metrics)."""
    n = len(y_true)
    mean = math.fsum(y_true) / n
    rmse = math.sqrt(math.fsum((p - t) ** 2 for t, p in zip(y_true, y_pred)) / n)
    return rmse / math.sqrt(math.fsum((t - mean) ** 2 for t in y_true) / n)


def make_eeg_model(name: str, n_channels: int = 129, n_times: int = 200, **cfg: Any) -> Any:
    """The registered EEG model ``name`` with ``cfg`` as its model section (validated like a recipe's)."""
    from attn.models.registry import build_model, get_model_spec
    from attn.schema import build_section

    spec = get_model_spec(name)
    return build_model(name, build_section(spec.config, cfg, "model"), n_channels=n_channels, n_times=n_times)
