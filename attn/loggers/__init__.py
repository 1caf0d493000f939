"""Experiment trackers (``train.loggers``): TensorBoard, Weights & Biases, MLflow and a CSV file.

Each is an optional dependency, imported only when a recipe names it (``pip install
'attn[tensorboard]'``, ``attn[wandb]``, ``attn[mlflow]``; ``csv`` needs nothing). They see what
``metrics.jsonl`` gets, as it gets it (through :class:`attn.training.sinks.MetricSink`), the
resolved recipe as hyper-parameters, and the run directory's plots and summary at the end. Only
rank 0 tracks. What a resumed run needs to continue the same tracker run (W&B run id, MLflow run
id) is kept in ``RUN_DIR/trackers.json``.

A tracker that fails while the run trains is reported once and switched off: training goes on.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

from attn.errors import UserError
from attn.fileio import atomic_write_json, read_json
from attn.loggers.base import TrackedRun, Tracker

STATE_FILE = "trackers.json"
# name -> (module in attn.loggers, class, the package it imports)
TRACKERS: dict[str, tuple[str, str, str | None]] = {
    "tensorboard": ("tensorboard_log", "TensorBoardTracker", "tensorboard"),
    "wandb": ("wandb_log", "WandbTracker", "wandb"),
    "mlflow": ("mlflow_log", "MlflowTracker", "mlflow"),
    "csv": ("csvlog", "CSVTracker", None),
}


class TrackerMissing(UserError):
    """A tracker named in train.loggers whose package is not installed."""


class TrackerFailed(UserError):
    """A tracker that could not start (not logged in, server unreachable, ...)."""


def check_trackers(names: list[str]) -> None:
    """Raise :class:`TrackerMissing` (naming the extra) for the first named tracker whose package is absent."""
    for name in names:
        package = TRACKERS[name][2]
        if package is not None and importlib.util.find_spec(package) is None:
            raise TrackerMissing(
                f"train.loggers names '{name}', whose package is not installed: pip install 'attn[{name}]'"
            )


def tracker_class(name: str) -> type[Tracker]:
    module, cls, _ = TRACKERS[name]
    return getattr(importlib.import_module(f"attn.loggers.{module}"), cls)


class Trackers:
    """The trackers of one run, as one metric sink; each failure is reported once and that tracker dropped."""

    def __init__(self, trackers: list[Tracker], warn: Callable[[str], None]):
        self.trackers = trackers
        self.warn = warn

    def log(self, record: dict[str, Any]) -> None:
        self._each("log", record)

    def finish(self, run_dir: Path, summary: dict[str, Any]) -> None:
        """Give every tracker the run's plots and summary and close it."""
        plots = sorted(Path(run_dir).glob("*.png"))
        self._each("finish", plots, summary, str(summary.get("status", "completed")))
        self.trackers = []

    def _each(self, method: str, *args: Any) -> None:
        for tracker in list(self.trackers):
            try:
                getattr(tracker, method)(*args)
            except Exception as err:  # noqa: BLE001 - a tracker (its server, its disk) must not stop training
                self.trackers.remove(tracker)
                first = str(err).strip().splitlines()[0][:200] if str(err).strip() else ""
                self.warn(f"{tracker.name} tracker failed and is switched off ({type(err).__name__}: {first})")


def open_trackers(
    names: list[str],
    run_dir: Path,
    *,
    name: str,
    hyperparameters: dict[str, Any],
    metric: str,
    resume_step: int | None = None,
    group: str | None = None,
    warn: Callable[[str], None] = print,
) -> Trackers:
    """Start (or, with ``resume_step``, continue) the trackers ``names`` for ``run_dir``."""
    if not names:
        return Trackers([], warn)
    check_trackers(names)
    run_dir = Path(run_dir)
    state_path = run_dir / STATE_FILE
    stored = read_json(state_path) if resume_step is not None and state_path.is_file() else {}
    trackers = []
    for tracker_name in names:
        state = dict(stored.get(tracker_name, {}))
        run = TrackedRun(run_dir, name, hyperparameters, metric, resume_step, state, group)
        try:
            trackers.append(tracker_class(tracker_name)(run))
        except UserError:
            raise
        except Exception as err:  # noqa: BLE001 - the tracker's own errors (login, server), named in one line
            first = str(err).strip().splitlines()[0][:300] if str(err).strip() else ""
            raise TrackerFailed(f"the {tracker_name} tracker could not start ({type(err).__name__}: {first})") from err
    state = {**stored, **{t.name: t.state() for t in trackers if t.state()}}
    if state:
        atomic_write_json(state_path, state)
    return Trackers(trackers, warn)


__all__ = [
    "STATE_FILE",
    "TRACKERS",
    "TrackedRun",
    "Tracker",
    "TrackerFailed",
    "TrackerMissing",
    "Trackers",
    "check_trackers",
    "open_trackers",
]
