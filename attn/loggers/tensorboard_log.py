"""``tensorboard``: event files in ``RUN_DIR/tensorboard/`` (``tensorboard --logdir runs`` shows every run).

Scalars are ``train/<key>`` and ``eval/<key>`` at their step; the resolved recipe is the run's
hyper-parameters (the HParams tab, values of lists as text) and a text summary; the plots are
images at the last step. A resumed run writes a new event file from the checkpoint's step on,
and TensorBoard drops what the earlier file had logged after that step (``purge_step``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from attn.loggers.base import TrackedRun, Tracker, flatten, scalars, summary_scalars

FOLDER = "tensorboard"


class TensorBoardTracker(Tracker):
    name = "tensorboard"

    def __init__(self, run: TrackedRun):
        super().__init__(run)
        import yaml
        from torch.utils.tensorboard import SummaryWriter

        resuming = run.resume_step is not None
        self.writer = SummaryWriter(
            log_dir=str(Path(run.run_dir) / FOLDER),
            purge_step=run.resume_step + 1 if resuming else None,
        )
        self.last_step = run.resume_step or 0
        if not resuming:
            self._write_hyperparameters(run)
            recipe = yaml.safe_dump(run.hyperparameters, sort_keys=False)
            self.writer.add_text("recipe", f"```yaml\n{recipe}```", 0)

    def _write_hyperparameters(self, run: TrackedRun) -> None:
        from torch.utils.tensorboard.summary import hparams

        params = {k: _hparam(v) for k, v in flatten(run.hyperparameters).items()}
        metrics = {f"eval/{run.metric}": 0.0, "train/train_loss": 0.0}  # declares the columns; values are logged
        for summary in hparams(params, metrics):
            self.writer.file_writer.add_summary(summary)

    def log(self, record: dict[str, Any]) -> None:
        step = int(record["step"])
        for key, value in scalars(record).items():
            self.writer.add_scalar(key, value, step)
        self.last_step = max(self.last_step, step)
        self.writer.flush()  # in the file as soon as in metrics.jsonl (a killed run loses nothing logged)

    def finish(self, plots: list[Path], summary: dict[str, Any], status: str) -> None:
        from matplotlib.image import imread

        for path in plots:
            image = imread(str(path))[..., :3]  # RGBA floats in [0, 1] -> RGB
            self.writer.add_image(f"plots/{path.stem}", image, self.last_step, dataformats="HWC")
        for key, value in summary_scalars(summary).items():
            self.writer.add_scalar(key, value, self.last_step)
        self.writer.add_text("summary", f"```json\n{json.dumps(summary, indent=2, default=str)}\n```", self.last_step)
        self.writer.close()


def _hparam(value: Any) -> bool | int | float | str:
    """TensorBoard hyper-parameters are numbers, booleans or text."""
    if isinstance(value, (bool, int, float, str)):
        return value
    return "null" if value is None else json.dumps(value)
