"""``wandb``: a Weights & Biases run (project ``$WANDB_PROJECT``, default ``attn``; the folds of a cross-validation in one group), files under ``RUN_DIR/wandb/``.

W&B's own settings apply: ``WANDB_MODE=offline`` keeps everything local (``wandb sync`` uploads
it later), ``WANDB_ENTITY``, ``WANDB_API_KEY``. The resolved recipe is the run's config, metrics
are ``train/<key>`` and ``eval/<key>`` at their step, and at the end the plots are images and
summary.json's numbers the run summary. The run id is kept in ``trackers.json``, so ``attn train
--resume`` continues the same W&B run (W&B ignores steps it has already seen).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from attn.loggers.base import FINISHED_WELL, TrackedRun, Tracker, scalars, summary_scalars

DEFAULT_PROJECT = "attn"


class WandbTracker(Tracker):
    name = "wandb"

    def __init__(self, run: TrackedRun):
        super().__init__(run)
        import wandb

        self.wandb = wandb
        run_id = run.state.get("id")
        self.wb = wandb.init(
            project=run.state.get("project") or os.environ.get("WANDB_PROJECT") or DEFAULT_PROJECT,
            name=run.name,
            group=run.group,
            dir=str(run.run_dir),
            config=run.hyperparameters,
            id=run_id,
            resume="allow" if run_id else None,
            settings=wandb.Settings(console="off"),  # attn's progress display stays attn's
        )

    def log(self, record: dict[str, Any]) -> None:
        step = int(record["step"])
        if step < self.wb.step:  # a resumed run repeats the steps after its checkpoint
            return
        self.wb.log(scalars(record), step=step)

    def finish(self, plots: list[Path], summary: dict[str, Any], status: str) -> None:
        images = {f"plots/{path.stem}": self.wandb.Image(str(path)) for path in plots}
        if images:
            self.wb.log(images, step=self.wb.step)
        self.wb.summary.update(summary_scalars(summary))
        self.wb.summary["status"] = status
        self.wb.finish(exit_code=0 if status in FINISHED_WELL else 1)

    def state(self) -> dict[str, Any]:
        return {"id": self.wb.id, "project": self.wb.project}
