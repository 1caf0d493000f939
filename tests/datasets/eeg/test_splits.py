"""Subject-wise splits and folds."""

from __future__ import annotations

import numpy as np
import pytest

from attn.datasets.eeg import subject_kfold, subject_split
from attn.errors import DataError


def _subjects(n_subjects: int, per_subject: int = 3, seed: int = 0) -> np.ndarray:
    ids = np.repeat([f"sub-{i:02d}" for i in range(n_subjects)], per_subject)
    return ids[np.random.default_rng(seed).permutation(len(ids))]  # windows in any order


@pytest.mark.parametrize("n_subjects", [3, 4, 10, 41])
@pytest.mark.parametrize("fractions", [(0.15, 0.15), (0.2, 0.0), (0.0, 0.3), (0.45, 0.45)])
def test_split_partitions_windows_and_never_shares_a_subject(n_subjects, fractions):
    subjects = _subjects(n_subjects)
    split = subject_split(subjects, *fractions, seed=1)
    all_idx = np.concatenate([split["train"], split["val"], split["test"]])
    assert sorted(all_idx.tolist()) == list(range(len(subjects)))
    sets = {name: set(subjects[idx]) for name, idx in split.items()}
    assert not (sets["train"] & sets["val"]) and not (sets["train"] & sets["test"]) and not (sets["val"] & sets["test"])
    for name, fraction in (("val", fractions[0]), ("test", fractions[1])):
        assert (len(split[name]) > 0) == (fraction > 0)
    assert len(split["train"]) > 0
    for idx in split.values():
        assert np.all(np.diff(idx) > 0)


def test_split_sizes_follow_the_fractions_and_the_seed():
    subjects = _subjects(40)
    split = subject_split(subjects, 0.15, 0.25, seed=0)
    assert [len(set(subjects[split[k]])) for k in ("train", "val", "test")] == [24, 6, 10]
    again = subject_split(subjects, 0.15, 0.25, seed=0)
    other = subject_split(subjects, 0.15, 0.25, seed=1)
    assert all(np.array_equal(split[k], again[k]) for k in split)
    assert not np.array_equal(split["test"], other["test"])


def test_split_does_not_depend_on_window_order():
    a, b = _subjects(12, seed=0), _subjects(12, seed=1)
    sa, sb = subject_split(a, 0.2, 0.2, 5), subject_split(b, 0.2, 0.2, 5)
    assert set(a[sa["test"]]) == set(b[sb["test"]])


def test_too_few_subjects_is_a_data_error():
    with pytest.raises(DataError, match="2 subjects cannot be split into train/val/test"):
        subject_split(_subjects(2), 0.1, 0.1, 0)
    with pytest.raises(DataError, match="1 subject cannot be split into train/test"):
        subject_split(_subjects(1), 0.0, 0.1, 0)
    assert len(subject_split(_subjects(1), 0.0, 0.0, 0)["train"]) == 3


@pytest.mark.parametrize("bad", [(-0.1, 0.1), (0.6, 0.4), (1.0, 0.0)])
def test_bad_fractions_are_misuse(bad):
    with pytest.raises(ValueError):
        subject_split(_subjects(5), *bad, 0)


@pytest.mark.parametrize("n_subjects, k", [(5, 5), (10, 3), (41, 5)])
def test_kfold_holds_out_each_subject_exactly_once(n_subjects, k):
    subjects = _subjects(n_subjects)
    folds = subject_kfold(subjects, k, seed=2)
    assert len(folds) == k
    held_subjects = []
    for train, held in folds:
        assert sorted(np.concatenate([train, held]).tolist()) == list(range(len(subjects)))
        assert not set(subjects[train]) & set(subjects[held])
        held_subjects += sorted(set(subjects[held]))
    assert sorted(held_subjects) == sorted(set(subjects))
    sizes = [len(set(subjects[h])) for _, h in folds]
    assert max(sizes) - min(sizes) <= 1


def test_kfold_errors():
    with pytest.raises(DataError, match="cannot make 4 subject folds from 3 subjects"):
        subject_kfold(_subjects(3), 4, 0)
    with pytest.raises(ValueError):
        subject_kfold(_subjects(3), 1, 0)
