"""Helpers for EEG training tests: a tiny simulated dataset and a CNN recipe that trains in seconds."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner


def tiny_recipe(**train: Any) -> dict[str, Any]:
    """6 subjects x 6 trials; val and test get one subject each (round(0.2 * 6) = 1)."""
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


def write_recipe(folder: Path, recipe: dict[str, Any], name: str = "tiny_eeg.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(recipe, sort_keys=False), encoding="utf-8")
    return path


def run_cli(args: list[str]) -> Any:
    from attn.cli import app

    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def only_run_dir(runs: Path, name: str = "tiny_eeg") -> Path:
    dirs = sorted(p for p in (runs / name).iterdir() if p.is_dir())
    assert len(dirs) == 1, dirs
    return dirs[0]


def read_records(run_dir: Path, kind: str) -> list[dict[str, Any]]:
    lines = (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == kind]


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))
