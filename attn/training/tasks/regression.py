"""EEG response-time regression: whole windows in, the (standardised) response time out.

Splits are by subject (:func:`attn.datasets.eeg.subject_split`). Targets are standardised with
the mean and population standard deviation of the TRAINING split only; the model predicts
standardised targets and the loss (MSE, or Huber with ``delta = 1`` standard deviation) is taken
on them. Metrics are reported in seconds after de-standardising.

Batching: every epoch is a fresh permutation of the training windows drawn from a
``torch.Generator``; batches are consecutive slices of it, and the last, shorter batch is kept
unless it would hold a single window (BatchNorm cannot train on one), in which case that window
sits out this epoch. The windows live on the run's device as one tensor and batches are gathered
there. The generator state at the start of the epoch, the epoch and the position within it are
the task's ``state_dict``, so a resumed run draws exactly the batches the interrupted one would
have drawn. Under DDP every rank draws the same permutation and takes every ``world_size``-th
window of it.

Adaptive augmentation (``train.adaptive_augmentation``), applied to training batches only:

* temporal smoothing ``x <- (1 - tau) * x + tau * avgpool_5(x)``: a mix, with weight ``tau`` in
  [0.01, 1], of the window and its 5-sample (50 ms at 100 Hz) centred moving average;
* Gaussian noise ``x <- x + sigma * std_c * N(0, 1)`` with ``std_c`` the standard deviation of
  channel ``c`` over the training windows and ``sigma`` in [0.01, 0.5] (relative noise level).

``sigma`` and ``tau`` are driven by :class:`attn.attention.adaptive.FeatureAttentionController`:
after each evaluation it scores patches of training windows (as the model currently sees them,
i.e. augmented) and moves sigma/tau by the change of the validation loss. New values take
effect at the start of the next epoch (on every rank alike).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from attn.datasets.eeg import EEGDataConfig, EEGDataset, load_eeg_dataset, oracle_floor, subject_split
from attn.errors import DataError, UserError
from attn.schema import section_to_dict
from attn.training.device import Runtime, eval_mode
from attn.training.metrics import nrmse, regression_metrics
from attn.training.rundir import atomic_write_json
from attn.training.tasks.base import Task

SPLITS = ("train", "val", "test")
EVAL_BATCH_SIZE = 256  # windows per forward pass in evaluation (at least the training batch size)
HUBER_DELTA = 1.0  # in standardised units: one training-target standard deviation
SMOOTHING_KERNEL = 5  # samples in the moving average that tau mixes in
INITIAL_SIGMA, SIGMA_BOUNDS = 0.1, (0.01, 0.5)
INITIAL_TAU, TAU_BOUNDS = 0.1, (0.01, 1.0)
PATCH_WINDOWS, PATCH_SAMPLES = 16, 50  # what the controller scores after each evaluation

_loaded: tuple[str, EEGDataset] | None = None


def load_dataset_once(cfg: EEGDataConfig, progress: Callable[[str], None] | None = None) -> EEGDataset:
    """The dataset of ``cfg``, kept in memory for the next call with the same config.

    Cross-validation folds, and a run followed by ``attn eval`` in one process, share it
    instead of reading ~250 MB again. Only the last dataset is kept.
    """
    global _loaded
    key = json.dumps(section_to_dict(cfg), sort_keys=True, default=str)
    if _loaded is None or _loaded[0] != key:
        _loaded = None  # let the previous one be freed before the new one is read
        _loaded = (key, load_eeg_dataset(cfg, progress=progress))
    return _loaded[1]


def _print_progress(message: str) -> None:
    from rich.console import Console

    Console(stderr=True).print(f"[dim]{message}[/]", highlight=False)


def split_from_subjects(dataset: EEGDataset, subjects: dict[str, list[str]]) -> dict[str, np.ndarray]:
    """Window indices of each split given its subject ids (as stored in a checkpoint)."""
    known = set(np.asarray(dataset.subjects).astype(str).tolist())
    split = {}
    for name in SPLITS:
        wanted = [str(s) for s in subjects.get(name, [])]
        missing = [s for s in wanted if s not in known]
        if missing:
            raise DataError(
                f"the run's {name} subjects {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''} "
                f"are not in the data any more; the data changed since the run was trained"
            )
        split[name] = np.flatnonzero(np.isin(np.asarray(dataset.subjects).astype(str), wanted))
    return split


def subjects_by_split(dataset: EEGDataset, split: dict[str, np.ndarray]) -> dict[str, list[str]]:
    """The sorted subject ids of each split's windows (what a checkpoint stores to pin the split)."""
    subjects = np.asarray(dataset.subjects).astype(str)
    return {name: sorted(np.unique(subjects[idx]).tolist()) for name, idx in split.items()}


def build_regression_task(
    recipe: Any, extras: dict[str, Any] | None = None, progress: Callable[[str], None] | None = _print_progress
) -> RegressionTask:
    """The task of an EEG recipe; ``extras`` (from a checkpoint) pin the split and target scaling."""
    dataset = load_dataset_once(recipe.data, progress=progress)
    data = recipe.data
    if extras and "split" in extras:
        split = split_from_subjects(dataset, extras["split"])
        stats = (float(extras["target_mean"]), float(extras["target_std"]))
    else:
        split = subject_split(dataset.subjects, data.val_fraction, data.test_fraction, data.split_seed)
        stats = None
    return RegressionTask(
        dataset,
        split,
        loss=recipe.train.loss,
        seed=recipe.train.seed,
        adaptive_augmentation=recipe.train.adaptive_augmentation,
        target_stats=stats,
        fold=(extras or {}).get("fold"),
    )


# ---- batches ------------------------------------------------------------------------------------


class EpochBatches:
    """Shuffled epochs over ``n`` windows in batches of ``batch_size`` (this rank's share)."""

    def __init__(
        self, n: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1, device: torch.device | str = "cpu"
    ):
        if batch_size < 1 or world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"invalid batching: batch_size={batch_size}, rank={rank}, world_size={world_size}")
        self.n, self.batch_size, self.rank, self.world_size = n, batch_size, rank, world_size
        self.device = torch.device(device)
        self.shard = n // world_size
        if self.shard < 2:
            raise DataError(
                f"the training split has {n} window(s), too few to train on"
                f"{f' with {world_size} processes' if world_size > 1 else ''} (BatchNorm needs batches of 2 or more)"
            )
        full, rest = divmod(self.shard, batch_size)
        self.batches_per_epoch = full + (1 if rest > 1 else 0)  # a last batch of 1 window is dropped
        self.generator = torch.Generator().manual_seed(seed)
        self.epoch = -1  # no epoch drawn yet
        self.position = 0
        self.order: torch.Tensor | None = None
        self._epoch_start_state = self.generator.get_state()

    def _draw(self) -> None:
        self._epoch_start_state = self.generator.get_state()
        perm = torch.randperm(self.n, generator=self.generator)
        self.order = perm[self.rank : self.shard * self.world_size : self.world_size].to(self.device)
        self.position = 0

    def next(self) -> tuple[torch.Tensor, bool]:
        """Indices of the next batch (on the device) and whether it starts a new epoch."""
        new_epoch = self.order is None or self.position >= self.batches_per_epoch
        if new_epoch:
            self._draw()
            self.epoch += 1
        assert self.order is not None
        start = self.position * self.batch_size
        self.position += 1
        return self.order[start : start + self.batch_size], new_epoch

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "position": self.position, "generator": self._epoch_start_state.clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
        self.epoch = int(state["epoch"])
        if self.epoch >= 0:
            self._draw()  # the same permutation as before the interruption
            self.position = int(state["position"])
        else:
            self.order, self.position = None, 0


# ---- augmentation -------------------------------------------------------------------------------


def augment(
    x: torch.Tensor, sigma: float, tau: float, channel_std: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Temporal smoothing (mix weight ``tau``), then Gaussian noise (``sigma`` x channel std).

    ``x`` is ``(B, C, T)``, ``channel_std`` ``(C,)``. Noise comes from the device's default
    generator, or from ``generator`` (a CPU generator) when given.
    """
    if tau > 0:
        smooth = F.avg_pool1d(x, SMOOTHING_KERNEL, stride=1, padding=SMOOTHING_KERNEL // 2, count_include_pad=False)
        x = torch.lerp(x, smooth, tau)
    if sigma > 0:
        if generator is None:
            noise = torch.randn_like(x)
        else:
            noise = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
        x = x + (sigma * channel_std.to(x.dtype))[None, :, None] * noise
    return x


class AdaptiveAugmentation:
    """Noise and smoothing of training batches, adapted by the feature-attention controller."""

    def __init__(self, channel_std: torch.Tensor, seed: int):
        from attn.attention.adaptive import HEADS, FeatureAttentionController

        self.heads = HEADS
        self.channel_std = channel_std
        self.controller = FeatureAttentionController(
            INITIAL_SIGMA, INITIAL_TAU, sigma_bounds=SIGMA_BOUNDS, tau_bounds=TAU_BOUNDS
        )
        self.active = dict(self.controller.params)  # what training batches use (set at epoch starts)
        self.generator = torch.Generator().manual_seed(seed + 104729)

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        return augment(x, self.active["sigma"], self.active["tau"], self.channel_std)

    def start_epoch(self) -> None:
        """Take the controller's current values (rank 0's, broadcast under DDP)."""
        values = torch.tensor(
            [self.controller.sigma, self.controller.tau], dtype=torch.float64, device=self.channel_std.device
        )
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.broadcast(values, src=0)
        self.active = {"sigma": float(values[0]), "tau": float(values[1])}

    def observe(self, val_loss: float, windows: torch.Tensor) -> dict[str, float]:
        """Feed the controller patches of training windows and the new validation loss."""
        n, _, t = windows.shape
        size = min(PATCH_SAMPLES, t)
        pick = torch.randint(n, (min(PATCH_WINDOWS, n),), generator=self.generator)
        starts = torch.randint(t - size + 1, (len(pick),), generator=self.generator)
        rows = augment(
            windows[pick.to(windows.device)],
            self.active["sigma"],
            self.active["tau"],
            self.channel_std,
            generator=self.generator,
        ).cpu()
        patches = torch.stack([rows[i, :, s : s + size] for i, s in enumerate(starts.tolist())])
        centres = (starts + size / 2).double()
        features = self.controller.compute_patch_features(patches, centres, extent=t)
        self.controller.update_global_params(val_loss, 1.0 - float(features[0]), patches, centres, extent=t)
        weights = {h: self.controller.attention_weights[h][-1] for h in self.heads}
        return {
            "aug_sigma": self.controller.sigma,
            "aug_tau": self.controller.tau,
            **{f"aug_weight_{h}": w for h, w in weights.items()},
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            "controller": self.controller.state_dict(),
            "active": dict(self.active),
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.controller.load_state_dict(state["controller"])
        self.active = {k: float(v) for k, v in state["active"].items()}
        self.generator.set_state(state["generator"])


# ---- the task -----------------------------------------------------------------------------------


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
        adaptive_augmentation: bool = False,
        target_stats: tuple[float, float] | None = None,
        fold: dict[str, Any] | None = None,
    ):
        if loss not in ("mse", "huber"):
            raise ValueError(f"loss must be 'mse' or 'huber' (got {loss!r})")
        self.dataset = dataset
        self.split = {name: np.asarray(split.get(name, []), dtype=np.int64) for name in SPLITS}
        self.subjects = np.asarray(dataset.subjects).astype(str)
        self._check_split()
        self.loss_name = loss
        self.seed = seed
        self.adaptive = adaptive_augmentation
        self.fold = fold
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

    def setup(self, runtime: Runtime, rank: int, batch_size: int) -> None:
        device = runtime.device
        self.X: dict[str, torch.Tensor] = {}
        self.z: dict[str, torch.Tensor] = {}
        y = np.asarray(self.dataset.y, dtype=np.float64)
        for name, idx in self.split.items():
            if len(idx):
                self.X[name] = torch.from_numpy(np.ascontiguousarray(self.dataset.X[idx], dtype=np.float32)).to(device)
                z = (y[idx] - self.target_mean) / self.target_std
                self.z[name] = torch.from_numpy(z.astype(np.float32)).to(device)
        dist = torch.distributed
        world_size = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
        self.batches = EpochBatches(len(self.split["train"]), batch_size, self.seed + 1, rank, world_size, device)
        self.eval_batch_size = max(batch_size, EVAL_BATCH_SIZE)
        if self.adaptive:
            self.augmentation = AdaptiveAugmentation(self.X["train"].std(dim=(0, 2)), self.seed)
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
        X = self._split_windows(split)
        outputs = []
        with eval_mode(model), runtime.autocast():
            for start in range(0, len(X), self.eval_batch_size):
                outputs.append(model(X[start : start + self.eval_batch_size]).float())
        z = torch.cat(outputs).double().cpu().numpy()
        return z * self.target_std + self.target_mean

    def _split_windows(self, split: str) -> torch.Tensor:
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
        """Val and test metrics of ``model`` (the best checkpoint), with files in ``run_dir``.

        Writes ``predictions_{val,test}.csv`` (subject, y_true, y_pred per window),
        ``per_subject_test.csv``, ``predictions.png`` and ``split.json`` (subjects per split).
        """
        from attn.training import eeg_report

        run_dir = Path(run_dir)
        report: dict[str, Any] = {}
        panels = {}
        y = np.asarray(self.dataset.y, dtype=np.float64)
        for split in ("val", "test"):
            if split not in self.X:
                continue
            y_pred = self.predict(model, runtime, split)
            idx = self.split[split]
            report.update(self.split_metrics(split, y_pred))
            eeg_report.write_predictions(run_dir / f"predictions_{split}.csv", self.subjects[idx], y[idx], y_pred)
            panels[split] = (y[idx], y_pred)
            if split == "test":
                rows = eeg_report.per_subject_errors(self.subjects[idx], y[idx], y_pred)
                eeg_report.write_per_subject(run_dir / "per_subject_test.csv", rows)
        eeg_report.plot_predictions(run_dir / "predictions.png", panels, report, title=run_dir.parent.name)
        atomic_write_json(
            run_dir / "split.json",
            {
                "subjects": self.split_subjects(),
                "windows": {k: int(len(v)) for k, v in self.split.items()},
                "target_mean": self.target_mean,
                "target_std": self.target_std,
            },
        )
        return report

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
