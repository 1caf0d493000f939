"""What every experiment tracker shares: the run it belongs to, its interface, and how records become scalars."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

# train/eval status -> whether the run ended well (trackers that keep a run state use it)
FINISHED_WELL = ("completed", "early_stopped", "time_budget")


@dataclass
class TrackedRun:
    """One run directory as the trackers see it."""

    run_dir: Path
    name: str  # shown by the tracker, e.g. "shakespeare_char_cpu/20261202-101500"
    hyperparameters: dict[str, Any]  # the resolved recipe (nested, as in recipe.yaml)
    metric: str  # the evaluation metric that picks the best checkpoint, e.g. "val_loss"
    resume_step: int | None = None  # the checkpoint's step when the run is resumed, else None
    state: dict[str, Any] = field(default_factory=dict)  # what this tracker stored last time (trackers.json)
    group: str | None = None  # runs that belong together (the folds of one cross-validation)


class Tracker(ABC):
    """An experiment tracker: gets every metric record, the recipe at the start and the plots at the end."""

    name: ClassVar[str]

    def __init__(self, run: TrackedRun):
        self.run = run

    @abstractmethod
    def log(self, record: dict[str, Any]) -> None:
        """One ``metrics.jsonl`` record (``kind``, ``step`` and its values)."""

    @abstractmethod
    def finish(self, plots: list[Path], summary: dict[str, Any], status: str) -> None:
        """The run is over: add its plots and summary, close (``status`` as in summary.json)."""

    def state(self) -> dict[str, Any]:
        """What a resumed run needs to continue this tracker's run (stored in ``trackers.json``)."""
        return {}


def scalars(record: dict[str, Any]) -> dict[str, float]:
    """The finite numbers of a record as ``<kind>/<key>`` (``train/train_loss``, ``eval/val_loss``)."""
    kind = record.get("kind", "metrics")
    return {
        f"{kind}/{key}": float(value)
        for key, value in record.items()
        if key not in ("kind", "step") and _is_number(value) and math.isfinite(value)
    }


def flatten(mapping: dict[str, Any], sep: str = ".", prefix: str = "") -> dict[str, Any]:
    """``{"train": {"lr": 1e-3}}`` -> ``{"train.lr": 1e-3}`` (lists stay values)."""
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{sep}{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            flat.update(flatten(value, sep, name))
        else:
            flat[name] = value
    return flat


def summary_scalars(summary: dict[str, Any]) -> dict[str, float]:
    """The finite numbers of ``summary.json`` as ``summary/<path>`` (``summary/best/val_loss``)."""
    return {
        f"summary/{key}": float(value)
        for key, value in flatten(summary, sep="/").items()
        if _is_number(value) and math.isfinite(value)
    }


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
