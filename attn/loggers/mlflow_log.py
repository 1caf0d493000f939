"""``mlflow``: an MLflow run in experiment ``$MLFLOW_EXPERIMENT_NAME`` (default ``attn``).

The tracking server is MLflow's own setting (``MLFLOW_TRACKING_URI``; unset, MLflow's default).
The resolved recipe is the run's parameters (``train.lr``, ...; logged when the MLflow run is
created) and ``recipe.yaml`` an artifact; metrics are ``train/<key>`` and ``eval/<key>`` at their
step; at the end the plots and summary.json are artifacts, summary.json's numbers metrics, and
the run ends FINISHED, KILLED (interrupted) or FAILED (diverged). The run id and tracking URI
are kept in ``trackers.json``, so ``attn train --resume`` continues the same MLflow run.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from attn.loggers.base import FINISHED_WELL, TrackedRun, Tracker, flatten, scalars, summary_scalars

DEFAULT_EXPERIMENT = "attn"
BATCH = 100  # MLflow takes at most 100 parameters per request
MAX_PARAM = 6000  # and parameter values of at most 6000 characters


class MlflowTracker(Tracker):
    name = "mlflow"

    def __init__(self, run: TrackedRun):
        super().__init__(run)
        from mlflow.entities import Metric, Param
        from mlflow.tracking import MlflowClient

        self.Metric = Metric
        self.client = MlflowClient(tracking_uri=run.state.get("tracking_uri"))
        self.run_id = run.state.get("run_id")
        if self.run_id:
            self.client.update_run(self.run_id, status="RUNNING")
            return
        name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or DEFAULT_EXPERIMENT
        experiment = self.client.get_experiment_by_name(name)
        experiment_id = experiment.experiment_id if experiment else self.client.create_experiment(name)
        tags = {"attn.run_dir": str(run.run_dir), **({"attn.group": run.group} if run.group else {})}
        created = self.client.create_run(experiment_id, run_name=run.name, tags=tags)
        self.run_id = created.info.run_id
        params = [Param(k, _param(v)) for k, v in flatten(run.hyperparameters).items()]
        for i in range(0, len(params), BATCH):
            self.client.log_batch(self.run_id, params=params[i : i + BATCH])
        import yaml

        self.client.log_text(self.run_id, yaml.safe_dump(run.hyperparameters, sort_keys=False), "recipe.yaml")

    def log(self, record: dict[str, Any]) -> None:
        self._metrics(scalars(record), int(record["step"]))

    def _metrics(self, values: dict[str, float], step: int) -> None:
        now = int(time.time() * 1000)
        metrics = [self.Metric(key, value, now, step) for key, value in values.items()]
        if metrics:
            self.client.log_batch(self.run_id, metrics=metrics)

    def finish(self, plots: list[Path], summary: dict[str, Any], status: str) -> None:
        for path in plots:
            self.client.log_artifact(self.run_id, str(path), "plots")
        self.client.log_dict(self.run_id, summary, "summary.json")
        self._metrics(summary_scalars(summary), int(summary.get("steps") or 0))
        ended = "FINISHED" if status in FINISHED_WELL else "FAILED" if status == "diverged" else "KILLED"
        self.client.set_terminated(self.run_id, status=ended)

    def state(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "tracking_uri": self.client.tracking_uri}


def _param(value: Any) -> str:
    text = "null" if value is None else str(value)
    return text[:MAX_PARAM]
