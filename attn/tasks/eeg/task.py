"""EEG response-time regression: whole windows in, the (standardised) response time out.

Splits are by subject (:func:`attn.datasets.eeg.subject_split`). Targets are standardised with
the mean and population standard deviation of the TRAINING split only; the model predicts
standardised targets and the loss (MSE, or Huber with ``delta = 1`` standard deviation) is taken
on them. Metrics are reported in seconds after de-standardising. The windows live on the run's
device as one tensor per split; training batches come from :class:`~attn.tasks.eeg.batches.EpochBatches`
and, with ``train.augmentation`` fixed or adaptive, pass through :mod:`attn.tasks.eeg.augmentation`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from attn.datasets.eeg import SFREQ, EEGDataset, oracle_floor
from attn.datasets.eeg.normalize import fit_normalizer
from attn.datasets.eeg.splits import SPLITS, subjects_by_split
from attn.errors import DataError, UserError
from attn.metrics import nrmse, regression_metrics
from attn.tasks.eeg.augmentation import AdaptiveAugmentation, TimeShift
from attn.tasks.eeg.batches import EpochBatches
from attn.tasks.eeg.report import write_run_report
from attn.training.device import Runtime, eval_mode
from attn.training.distributed import World
from attn.training.task import Task

EVAL_BATCH_SIZE = 256  # windows per forward pass in evaluation (at least the training batch size)
HUBER_DELTA = 1.0  # in standardised units: one training-target standard deviation


class RegressionTask(Task):
    """Response-time regression on subject-split EEG windows (see the module docstring)."""

    family = "eeg"
    metric = "val_nrmse"
    items = "win"

    def __init__(
        self,
        dataset: EEGDataset,
        split: dict[str, np.ndarray],
        *,
        loss: str = "mse",
        seed: int = 0,
        augmentation: str = "none",
        target_stats: tuple[float, float] | None = None,
        fold: dict[str, Any] | None = None,
        normalize: str = "none",
        time_shift_s: float = 0.0,
    ):
        if loss not in ("mse", "huber"):
            raise ValueError(f"loss must be 'mse' or 'huber' (got {loss!r})")
        self.dataset = dataset
        self.split = {name: np.asarray(split.get(name, []), dtype=np.int64) for name in SPLITS}
        self.subjects = np.asarray(dataset.subjects).astype(str)
        self._check_split()
        self.loss_name = loss
        self.seed = seed
        if augmentation not in ("none", "fixed", "adaptive"):
            raise ValueError(f"augmentation must be 'none', 'fixed' or 'adaptive' (got {augmentation!r})")
        self.augmentation_mode = augmentation
        self.fold = fold
        self.normalize = normalize  # data.normalize: fitted on the training windows only, in setup()
        self.time_shift_s = time_shift_s
        self.time_shift: TimeShift | None = None
        y_train = np.asarray(dataset.y, dtype=np.float64)[self.split["train"]]
        if target_stats is None:
            target_stats = (float(y_train.mean()), float(y_train.std()))
        self.target_mean, self.target_std = target_stats
        if not self.target_std > 0:
            raise DataError("all training targets are equal; there is nothing to regress")
        self.baselines = {name: self._baselines(name) for name in ("val", "test") if len(self.split[name])}
        self.batches: EpochBatches | None = None
        self.augmentation: AdaptiveAugmentation | None = None
        self._pending_state: dict[str, Any] | None = None

    def _check_split(self) -> None:
        owners: dict[str, str] = {}
        for name in SPLITS:
            for subject in np.unique(self.subjects[self.split[name]]):
                if subject in owners:
                    raise ValueError(f"subject {subject!r} is in both the {owners[subject]} and {name} splits")
                owners[subject] = name
        if len(self.split["train"]) < 2:
            raise DataError(f"the training split has {len(self.split['train'])} window(s); at least 2 are needed")
        if not len(self.split["val"]):
            raise DataError(
                "EEG training needs a validation split for the best checkpoint and early stopping: "
                "set data.val_fraction > 0"
            )

    def _baselines(self, name: str) -> dict[str, float]:
        y = np.asarray(self.dataset.y, dtype=np.float64)[self.split[name]]
        out = {"mean_predictor_nrmse": nrmse(y, np.full_like(y, self.target_mean))}
        if "latent" in self.dataset.meta and "rt_prior" in self.dataset.info:
            out["oracle_floor"] = oracle_floor(self.dataset, self.split[name])
        return out

    # ---- what the trainer asks --------------------------------------------------------------
    def model_info(self) -> dict[str, Any]:
        _, n_channels, n_times = self.dataset.X.shape
        return {"n_channels": int(n_channels), "n_times": int(n_times)}

    def setup(self, runtime: Runtime, world: World, batch_size: int) -> None:
        device = runtime.device
        self.X: dict[str, torch.Tensor] = {}
        self.z: dict[str, torch.Tensor] = {}
        y = np.asarray(self.dataset.y, dtype=np.float64)
        scale = fit_normalizer(self.normalize, self.dataset.X, self.split["train"])
        for name, idx in self.split.items():
            if len(idx):
                windows = np.ascontiguousarray(scale(self.dataset.X[idx]), dtype=np.float32)
                self.X[name] = torch.from_numpy(windows).to(device)
                z = (y[idx] - self.target_mean) / self.target_std
                self.z[name] = torch.from_numpy(z.astype(np.float32)).to(device)
        self.batches = EpochBatches(len(self.split["train"]), batch_size, self.seed + 1, world.rank, world.size, device)
        self.eval_batch_size = max(batch_size, EVAL_BATCH_SIZE)
        if self.augmentation_mode != "none":
            self.augmentation = AdaptiveAugmentation(
                self.X["train"].std(dim=(0, 2)), self.seed, world, adapt=self.augmentation_mode == "adaptive"
            )
        if self.time_shift_s > 0:
            sfreq = float(self.dataset.info.get("sfreq", SFREQ))
            self.time_shift = TimeShift(round(self.time_shift_s * sfreq), 1.0 / (sfreq * self.target_std), self.seed)
        if self._pending_state is not None:
            self.load_state_dict(self._pending_state)

    def steps_per_epoch(self) -> int | None:
        assert self.batches is not None, "setup() first"
        return self.batches.batches_per_epoch

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        assert self.batches is not None, "setup() first"
        idx, new_epoch = self.batches.next()
        x, z = self.X["train"][idx], self.z["train"][idx]
        if self.augmentation is not None:
            if new_epoch:
                self.augmentation.start_epoch()
            x = self.augmentation.apply(x)
        if self.time_shift is not None:
            x, z = self.time_shift.apply(x, z)
        return x, z

    def _loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.loss_name == "huber":
            return F.huber_loss(pred, target, delta=HUBER_DELTA)
        return F.mse_loss(pred, target)

    def loss(self, model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, z = batch
        return self._loss(model(x).float(), z)

    def items_in(self, batch: tuple[torch.Tensor, torch.Tensor]) -> int:
        return int(batch[0].shape[0])

    # ---- evaluation -------------------------------------------------------------------------
    def predict(self, model: nn.Module, runtime: Runtime, split: str) -> np.ndarray:
        """Predicted response times (seconds, float64) of every window of ``split``, in dataset order."""
        X = self.split_windows(split)
        outputs = []
        with eval_mode(model), runtime.autocast():
            for start in range(0, len(X), self.eval_batch_size):
                outputs.append(model(X[start : start + self.eval_batch_size]).float())
        z = torch.cat(outputs).double().cpu().numpy()
        return z * self.target_std + self.target_mean

    def split_windows(self, split: str) -> torch.Tensor:
        """The (normalised) windows of ``split`` (val or test) on the task's device."""
        if split not in ("val", "test"):
            raise UserError(f"EEG runs are evaluated on val or test (got split {split!r})")
        if split not in self.X:
            raise UserError(f"this run has no {split} split (data.{split}_fraction is 0)")
        return self.X[split]

    def split_metrics(self, split: str, y_pred: np.ndarray) -> dict[str, float]:
        """Metrics of predictions for ``split`` (seconds), with its baselines, prefixed by the split."""
        y_true = np.asarray(self.dataset.y, dtype=np.float64)[self.split[split]]
        metrics = {f"{split}_{k}": v for k, v in regression_metrics(y_true, y_pred).items()}
        z_true = torch.from_numpy((y_true - self.target_mean) / self.target_std)
        z_pred = torch.from_numpy((np.asarray(y_pred, dtype=np.float64) - self.target_mean) / self.target_std)
        metrics[f"{split}_loss"] = float(self._loss(z_pred, z_true))
        metrics.update({f"{split}_{k}": v for k, v in self.baselines[split].items()})
        return metrics

    def evaluate(self, model: nn.Module, runtime: Runtime, full: bool = False, split: str = "val") -> dict[str, float]:
        """Metrics on the whole ``split`` (EEG splits are small, so ``full`` changes nothing)."""
        return self.split_metrics(split, self.predict(model, runtime, split))

    def eval_items(self, full: bool = False) -> int | None:
        return int(len(self.split["val"]))

    def final_items(self, full: bool = True) -> int | None:
        return int(len(self.split["val"]) + len(self.split["test"]))

    def after_evaluation(self, metrics: dict[str, float]) -> dict[str, Any]:
        if self.augmentation is None or "val_loss" not in metrics:
            return {}
        return self.augmentation.observe(metrics["val_loss"], self.X["train"])

    # ---- state ------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        if self.batches is None:
            return {}
        state: dict[str, Any] = {"batches": self.batches.state_dict()}
        if self.augmentation is not None:
            state["augmentation"] = self.augmentation.state_dict()
        if self.time_shift is not None:
            state["time_shift"] = self.time_shift.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.batches is None:  # restored before setup(): apply once the batches exist
            self._pending_state = state
            return
        self._pending_state = None
        if "batches" in state:
            self.batches.load_state_dict(state["batches"])
        if self.augmentation is not None and "augmentation" in state:
            self.augmentation.load_state_dict(state["augmentation"])
        if self.time_shift is not None and "time_shift" in state:
            self.time_shift.load_state_dict(state["time_shift"])

    def reseed(self, seed: int) -> None:
        """Nothing to do: every rank draws the same permutation and takes its own share of it,
        so rank 0's restored batch state is right for any number of processes."""

    def split_subjects(self) -> dict[str, list[str]]:
        return subjects_by_split(self.dataset, self.split)

    def checkpoint_extras(self) -> dict[str, Any]:
        info = {
            k: v
            for k, v in self.dataset.info.items()
            if isinstance(v, (str, int, float, bool)) or v is None or k == "rt_prior"
        }
        extras: dict[str, Any] = {
            "target_mean": self.target_mean,
            "target_std": self.target_std,
            "split": self.split_subjects(),
            "dataset": info,
        }
        if self.fold is not None:
            extras["fold"] = dict(self.fold)
        return extras

    # ---- end of run -------------------------------------------------------------------------
    def final_report(self, model: nn.Module, runtime: Runtime, run_dir: Path, full: bool = True) -> dict[str, Any]:
        """Val and test metrics of ``model`` (the best checkpoint); the files are written by
        :func:`attn.tasks.eeg.report.write_run_report` into ``run_dir``."""
        metrics: dict[str, Any] = {}
        predictions: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        y = np.asarray(self.dataset.y, dtype=np.float64)
        for split in ("val", "test"):
            if split not in self.X:
                continue
            y_pred = self.predict(model, runtime, split)
            idx = self.split[split]
            metrics.update(self.split_metrics(split, y_pred))
            predictions[split] = (self.subjects[idx], y[idx], y_pred)
        split_info = {
            "subjects": self.split_subjects(),
            "windows": {k: int(len(v)) for k, v in self.split.items()},
            "target_mean": self.target_mean,
            "target_std": self.target_std,
        }
        write_run_report(Path(run_dir), predictions, metrics, split_info)
        return metrics

    def summary_rows(self, report: dict[str, Any]) -> list[tuple[str, Any]]:
        rows = []
        for split in ("val", "test"):
            for key, label in (
                ("nrmse", "NRMSE"),
                ("mean_predictor_nrmse", "mean predictor (train mean) NRMSE"),
                ("oracle_floor", "oracle floor NRMSE"),
            ):
                if report.get(f"{split}_{key}") is not None:
                    rows.append((f"{split} {label}", report[f"{split}_{key}"]))
        return rows
