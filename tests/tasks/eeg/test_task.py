"""The EEG regression task through the library: splits, target scaling, batches, augmentation, metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from attn.datasets.eeg import EEGDataset, load_eeg_dataset, oracle_floor
from attn.errors import DataError
from attn.recipe import parse_recipe
from attn.tasks import build_task
from attn.tasks.eeg.augmentation import SIGMA_BOUNDS, SMOOTHING_KERNEL, TAU_BOUNDS, augment
from attn.tasks.eeg.batches import EpochBatches
from attn.tasks.eeg.controller import HEADS
from attn.tasks.eeg.task import RegressionTask
from attn.training.device import resolve_runtime
from attn.training.distributed import World
from tests.helpers import eeg_recipe as tiny_recipe

CPU = resolve_runtime("cpu", "fp32", False)


class ConstantModel(nn.Module):
    """Predicts the same standardised value for every window."""

    def __init__(self, value: float = 0.0):
        super().__init__()
        self.value = value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.full((x.shape[0],), self.value)


@pytest.fixture(scope="module")
def recipe():
    return parse_recipe(tiny_recipe(), "tiny_eeg")


@pytest.fixture(scope="module")
def dataset(recipe) -> EEGDataset:
    return load_eeg_dataset(recipe.data)


def test_splits_are_by_subject_and_cover_every_window(recipe, dataset: EEGDataset) -> None:
    task = build_task(recipe)
    subjects = np.asarray(dataset.subjects).astype(str)
    owners = {name: set(subjects[idx]) for name, idx in task.split.items()}
    assert not owners["train"] & owners["val"] and not owners["train"] & owners["test"]
    assert not owners["val"] & owners["test"]
    assert len(owners["val"]) == 1 and len(owners["test"]) == 1  # round(0.2 * 6)
    every = np.sort(np.concatenate(list(task.split.values())))
    assert np.array_equal(every, np.arange(len(dataset)))


def test_targets_are_standardised_with_training_statistics_only(recipe, dataset: EEGDataset) -> None:
    task = build_task(recipe)
    train_subjects = set(task.split_subjects()["train"])
    y_train = [float(y) for y, s in zip(dataset.y, dataset.subjects) if str(s) in train_subjects]
    mean = math.fsum(y_train) / len(y_train)
    std = math.sqrt(math.fsum((y - mean) ** 2 for y in y_train) / len(y_train))
    assert task.target_mean == pytest.approx(mean, rel=1e-12)
    assert task.target_std == pytest.approx(std, rel=1e-12)
    assert abs(mean - float(np.mean(dataset.y, dtype=np.float64))) > 1e-6, "the whole data set would differ"
    task.setup(CPU, World(), 8)
    expected = (np.asarray(dataset.y, dtype=np.float64)[task.split["val"]] - mean) / std
    np.testing.assert_allclose(task.z["val"].numpy(), expected, rtol=1e-5, atol=1e-6)


def test_a_model_predicting_the_training_mean_scores_the_mean_predictor(recipe, dataset: EEGDataset) -> None:
    task = build_task(recipe)
    task.setup(CPU, World(), 8)
    metrics = task.evaluate(ConstantModel(0.0), CPU, split="test")  # 0 standardised = the training mean
    y = np.asarray(dataset.y, dtype=np.float64)[task.split["test"]]
    rmse = math.sqrt(sum((t - task.target_mean) ** 2 for t in y) / len(y))
    assert metrics["test_rmse"] == pytest.approx(rmse, rel=1e-9)
    assert metrics["test_nrmse"] == pytest.approx(rmse / float(np.std(y)), rel=1e-9)
    assert metrics["test_nrmse"] == pytest.approx(metrics["test_mean_predictor_nrmse"], rel=1e-9)
    z = (y - task.target_mean) / task.target_std
    assert metrics["test_loss"] == pytest.approx(float(np.mean(z**2)), rel=1e-9)  # MSE against 0
    # The floor is that of the test windows, not of the whole data set.
    assert metrics["test_oracle_floor"] == pytest.approx(oracle_floor(dataset, task.split["test"]), rel=1e-12)
    assert metrics["test_oracle_floor"] != pytest.approx(dataset.info["oracle_floor"])
    # The split's own mean scores exactly 1; the honest train-mean predictor does not.
    shifted = task.evaluate(ConstantModel(float((y.mean() - task.target_mean) / task.target_std)), CPU, split="test")
    assert shifted["test_nrmse"] == pytest.approx(1.0, abs=1e-6)


def test_huber_loss_is_the_torch_huber_on_standardised_targets(recipe) -> None:
    task = build_task(recipe.replace(["train.loss=huber"]))
    task.setup(CPU, World(), 8)
    metrics = task.evaluate(ConstantModel(1.5), CPU)
    expected = torch.nn.functional.huber_loss(
        torch.full_like(task.z["val"].double(), 1.5), task.z["val"].double(), delta=1.0
    )
    assert metrics["val_loss"] == pytest.approx(float(expected), rel=1e-6)


@pytest.mark.parametrize("n,batch,expected_sizes", [(10, 3, [3, 3, 3]), (11, 3, [3, 3, 3, 2]), (4, 8, [4])])
def test_epochs_visit_each_window_once_and_drop_only_a_last_batch_of_one(n, batch, expected_sizes) -> None:
    batches = EpochBatches(n, batch, seed=0)
    assert batches.batches_per_epoch == len(expected_sizes)
    epochs = []
    for _ in range(2):
        got = [batches.next() for _ in expected_sizes]
        assert [len(i) for i, _ in got] == expected_sizes
        assert [new for _, new in got] == [True] + [False] * (len(expected_sizes) - 1)
        seen = torch.cat([i for i, _ in got])
        assert len(set(seen.tolist())) == len(seen) == sum(expected_sizes)
        epochs.append(seen)
    if n > 4:
        assert not torch.equal(epochs[0], epochs[1]), "each epoch is reshuffled"


def test_batch_state_resumes_the_exact_sequence() -> None:
    original = EpochBatches(13, 4, seed=7)
    for _ in range(5):  # into the second epoch
        original.next()
    state = original.state_dict()
    expected = [original.next()[0] for _ in range(9)]
    restored = EpochBatches(13, 4, seed=7)
    restored.load_state_dict(state)
    assert all(torch.equal(a, restored.next()[0]) for a in expected)


def test_ranks_share_the_permutation_and_split_it() -> None:
    ranks = [EpochBatches(10, 5, seed=1, rank=r, world_size=2) for r in range(2)]
    seen = [torch.cat([b.next()[0] for _ in range(b.batches_per_epoch)]) for b in ranks]
    assert set(seen[0].tolist()).isdisjoint(seen[1].tolist())
    assert sorted(seen[0].tolist() + seen[1].tolist()) == list(range(10))


def test_too_few_training_windows_is_a_data_error() -> None:
    with pytest.raises(DataError, match="training split has 1 window"):
        EpochBatches(1, 4, seed=0)


def test_smoothing_is_the_mix_with_a_centred_moving_average() -> None:
    x = torch.randn(2, 3, 12, generator=torch.Generator().manual_seed(0))
    tau = 0.3
    out = augment(x, 0.0, tau, torch.ones(3))
    half = SMOOTHING_KERNEL // 2
    expected = torch.empty_like(x)
    for t in range(12):  # edges average the samples that exist
        lo, hi = max(0, t - half), min(12, t + half + 1)
        expected[..., t] = (1 - tau) * x[..., t] + tau * x[..., lo:hi].mean(-1)
    torch.testing.assert_close(out, expected)


def test_noise_is_scaled_by_each_channels_std_and_spares_a_flat_channel() -> None:
    x = torch.zeros(64, 3, 200)
    std = torch.tensor([1.0, 5.0, 0.0])
    out = augment(x, 0.2, 0.0, std, generator=torch.Generator().manual_seed(3))
    # behaviour, not draw order: zero-mean noise whose spread per channel is sigma x that channel's std
    measured = out.std(dim=(0, 2))
    torch.testing.assert_close(measured[:2], 0.2 * std[:2], rtol=0.02, atol=0.0)
    assert abs(float(out[:, :2].mean())) < 0.01
    assert torch.count_nonzero(out[:, 2]) == 0
    again = augment(x, 0.2, 0.0, std, generator=torch.Generator().manual_seed(3))
    assert torch.equal(out, again)  # a seeded generator reproduces the noise
    assert not torch.equal(out, augment(x, 0.2, 0.0, std, generator=torch.Generator().manual_seed(4)))


def test_controller_updates_log_four_weights_and_stay_in_bounds(recipe) -> None:
    task = build_task(recipe.replace(["train.adaptive_augmentation=true"]))
    task.setup(CPU, World(), 8)
    for loss in (1.0, 0.8, 0.9, 0.7):
        logged = task.after_evaluation({"val_loss": loss})
        weights = [logged[f"aug_weight_{h}"] for h in HEADS]
        assert sum(weights) == pytest.approx(1.0) and min(weights) > 0
        assert SIGMA_BOUNDS[0] <= logged["aug_sigma"] <= SIGMA_BOUNDS[1]
        assert TAU_BOUNDS[0] <= logged["aug_tau"] <= TAU_BOUNDS[1]
    state = task.state_dict()
    twin = build_task(recipe.replace(["train.adaptive_augmentation=true"]))
    twin.setup(CPU, World(), 8)
    twin.load_state_dict(state)
    assert twin.after_evaluation({"val_loss": 0.6}) == task.after_evaluation({"val_loss": 0.6})


def test_fixed_augmentation_keeps_the_starting_values_and_still_augments(recipe) -> None:
    from attn.tasks.eeg.augmentation import INITIAL_SIGMA, INITIAL_TAU

    adaptive = build_task(recipe.replace(["train.augmentation=adaptive"]))
    fixed = build_task(recipe.replace(["train.augmentation=fixed"]))
    plain = build_task(recipe)
    for task in (adaptive, fixed, plain):
        task.setup(CPU, World(), 8)
    for loss in (1.0, 0.8, 0.7):
        moved = adaptive.after_evaluation({"val_loss": loss})
        kept = fixed.after_evaluation({"val_loss": loss})
    assert (kept["aug_sigma"], kept["aug_tau"]) == (INITIAL_SIGMA, INITIAL_TAU)
    assert (moved["aug_sigma"], moved["aug_tau"]) != (INITIAL_SIGMA, INITIAL_TAU)  # the loss fell twice
    x_fixed, _ = fixed.next_batch()
    x_plain, _ = plain.next_batch()  # same seed: the same windows, before augmentation
    assert x_fixed.shape == x_plain.shape and not torch.equal(x_fixed, x_plain)


def test_overlapping_splits_are_rejected(dataset: EEGDataset) -> None:
    subjects = np.asarray(dataset.subjects).astype(str)
    first = np.flatnonzero(subjects == subjects[0])
    rest = np.flatnonzero(subjects != subjects[0])
    with pytest.raises(ValueError, match="both the train and val"):
        RegressionTask(dataset, {"train": np.concatenate([first, rest]), "val": first, "test": np.array([], int)})
    with pytest.raises(DataError, match="val_fraction"):
        RegressionTask(dataset, {"train": rest, "val": np.array([], int), "test": first})


def task_with_scaled_split(dataset: EEGDataset, split: dict, part: str, normalize: str) -> RegressionTask:
    """A task set up on a copy of ``dataset`` whose ``part`` windows are 100 times larger."""
    poisoned = EEGDataset(dataset.X.copy(), dataset.y, dataset.subjects, dataset.info, dataset.meta)
    poisoned.X[split[part]] *= 100.0
    task = RegressionTask(poisoned, split, normalize=normalize)
    task.setup(CPU, World(), 8)
    return task


def test_robust_normalisation_uses_training_windows_only(recipe, dataset: EEGDataset) -> None:
    from attn.datasets.eeg.normalize import fit_robust

    split = build_task(recipe).split
    task = RegressionTask(dataset, split, normalize="robust")
    task.setup(CPU, World(), 8)
    stats = fit_robust(dataset.X, split["train"])  # the reference: float64 median/MAD of the training windows
    expected = (dataset.X[split["test"]].astype(np.float64) - stats.median[None, :, None]) / np.maximum(
        stats.mad, 1e-6
    )[None, :, None]
    np.testing.assert_allclose(task.X["test"].numpy(), expected, rtol=1e-5, atol=1e-5)
    # a test subject's data changing does not move what the training windows look like
    twin = task_with_scaled_split(dataset, split, "test", "robust")
    assert torch.equal(twin.X["train"], task.X["train"]) and torch.equal(twin.X["val"], task.X["val"])


def test_whitening_maps_every_split_through_the_training_windows_matrix(recipe, dataset: EEGDataset) -> None:
    from attn.datasets.eeg.normalize import fit_whitening

    split = build_task(recipe).split
    task = RegressionTask(dataset, split, normalize="whiten")
    task.setup(CPU, World(), 8)
    stats = fit_whitening(dataset.X, split["train"])
    test = dataset.X[split["test"]].astype(np.float64) - stats.mean[None, :, None]
    expected = np.einsum("dc,nct->ndt", stats.matrix, test)
    np.testing.assert_allclose(task.X["test"].numpy(), expected, rtol=1e-4, atol=1e-4)
    twin = task_with_scaled_split(dataset, split, "val", "whiten")
    assert torch.equal(twin.X["train"], task.X["train"]) and torch.equal(twin.X["test"], task.X["test"])


def test_window_normalisation_gives_each_window_and_channel_zero_mean_unit_std(recipe, dataset: EEGDataset) -> None:
    task = RegressionTask(dataset, build_task(recipe).split, normalize="window")
    task.setup(CPU, World(), 8)
    x = task.X["train"].double()
    live = x.std(dim=2) > 0  # the flat reference channel stays zero
    torch.testing.assert_close(x.mean(dim=2), torch.zeros_like(x.mean(dim=2)), atol=1e-5, rtol=0)
    torch.testing.assert_close(
        x.std(dim=2, unbiased=False)[live], torch.ones_like(x.std(dim=2))[live], atol=1e-4, rtol=0
    )


def test_shift_windows_moves_content_later_and_repeats_the_edge() -> None:
    from attn.tasks.eeg.augmentation import shift_windows

    x = torch.arange(2 * 1 * 6, dtype=torch.float32).view(2, 1, 6)
    out = shift_windows(x, torch.tensor([2, -1]))
    assert out[0, 0].tolist() == [0, 0, 0, 1, 2, 3]  # two samples later, first sample repeated
    assert out[1, 0].tolist() == [7, 8, 9, 10, 11, 11]  # one sample earlier, last sample repeated


def test_time_shift_moves_the_target_by_the_shifted_time(recipe) -> None:
    plain, shifted = build_task(recipe), build_task(recipe.replace(["train.time_shift_s=0.1"]))
    for task in (plain, shifted):
        task.setup(CPU, World(), 8)
    x0, z0 = plain.next_batch()
    x1, z1 = shifted.next_batch()
    seconds = (z1 - z0).double() * shifted.target_std  # the target moved this many seconds per window
    samples = torch.round(seconds * 100).long()
    assert torch.allclose(seconds, samples.double() / 100, atol=1e-5) and samples.abs().max() <= 10
    from attn.tasks.eeg.augmentation import shift_windows

    torch.testing.assert_close(x1, shift_windows(x0, samples))
