"""Subject-wise splits: a subject's windows are always together on one side of a split."""

from __future__ import annotations

import numpy as np

from attn.datasets.eeg.dataset import EEGDataset
from attn.errors import DataError

SPLITS = ("train", "val", "test")


def _shuffled_subjects(subjects: np.ndarray, seed: int) -> np.ndarray:
    unique = np.unique(np.asarray(subjects))
    return unique[np.random.default_rng(seed).permutation(len(unique))]


def _indices_of(subjects: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    return np.flatnonzero(np.isin(subjects, chosen))


def subject_split(subjects: np.ndarray, val_fraction: float, test_fraction: float, seed: int) -> dict[str, np.ndarray]:
    """Window indices of ``train``, ``val`` and ``test`` with no subject in two splits.

    A split with a fraction > 0 gets ``round(fraction · n_subjects)`` subjects and at least one;
    train keeps the rest and at least one. Indices are sorted (dataset order).
    """
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError(
            f"val_fraction and test_fraction must be in [0, 1) with a sum < 1 "
            f"(got {val_fraction!r} and {test_fraction!r})"
        )
    subjects = np.asarray(subjects)
    order = _shuffled_subjects(subjects, seed)
    n = len(order)
    wanted = [name for name, f in (("val", val_fraction), ("test", test_fraction)) if f > 0]
    if n < 1 + len(wanted):
        parts = "/".join(["train", *wanted])
        raise DataError(
            f"{n} subject{'s' if n != 1 else ''} cannot be split into {parts}; need at least {1 + len(wanted)}"
        )
    n_test = max(1, round(test_fraction * n)) if test_fraction > 0 else 0
    n_val = max(1, round(val_fraction * n)) if val_fraction > 0 else 0
    while n_test + n_val > n - 1:  # keep at least one training subject
        if n_val >= n_test and n_val > 1:
            n_val -= 1
        else:
            n_test -= 1
    test, val, train = order[:n_test], order[n_test : n_test + n_val], order[n_test + n_val :]
    return {name: _indices_of(subjects, part) for name, part in (("train", train), ("val", val), ("test", test))}


def subject_kfold(subjects: np.ndarray, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``k`` folds of (train indices, held-out indices); every subject is held out exactly once."""
    if k < 2:
        raise ValueError(f"subject_kfold needs k >= 2 (got {k})")
    subjects = np.asarray(subjects)
    order = _shuffled_subjects(subjects, seed)
    if k > len(order):
        raise DataError(f"cannot make {k} subject folds from {len(order)} subjects")
    folds = []
    for held in np.array_split(order, k):
        mask = np.isin(subjects, held)
        folds.append((np.flatnonzero(~mask), np.flatnonzero(mask)))
    return folds


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


def fold_splits(dataset: EEGDataset, k: int, val_fraction: float, seed: int) -> list[dict[str, np.ndarray]]:
    """Window indices ``{"train", "val", "test"}`` of each of ``k`` subject folds."""
    return subject_fold_splits(np.asarray(dataset.subjects), k, val_fraction, seed)


def subject_fold_splits(subjects: np.ndarray, k: int, val_fraction: float, seed: int) -> list[dict[str, np.ndarray]]:
    """:func:`fold_splits` of windows whose subjects are ``subjects`` (one id per window)."""
    subjects = np.asarray(subjects)
    n = int(len(np.unique(subjects)))
    if k > n:
        raise DataError(
            f"train.folds={k} is more than the {n} subjects in the data: every fold needs "
            f"at least one held-out subject (lower train.folds or add subjects)"
        )
    if val_fraction <= 0:
        raise DataError(
            "cross-validation needs data.val_fraction > 0: an inner validation split of each "
            "fold's training subjects picks its best checkpoint"
        )
    if n - -(-n // k) < 2:
        raise DataError(
            f"train.folds={k} with {n} subjects leaves fewer than 2 subjects per fold for "
            f"training and validation (lower train.folds or add subjects)"
        )
    folds = []
    for rest, held in subject_kfold(subjects, k, seed):
        inner = subject_split(subjects[rest], val_fraction, 0.0, seed)
        folds.append({"train": rest[inner["train"]], "val": rest[inner["val"]], "test": held})
    return folds
