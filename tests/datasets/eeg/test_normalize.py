"""data.normalize: the window z-score and the robust per-channel scaling against float64 numpy, and no leakage."""

from __future__ import annotations

import math

import numpy as np
import pytest

from attn.datasets.eeg import subject_split
from attn.datasets.eeg.normalize import (
    MAD_TO_SD,
    apply_robust,
    fit_normalizer,
    fit_robust,
    zscore_windows,
)


def windows(n: int = 12, c: int = 5, t: int = 40, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = rng.standard_t(3, size=(n, c, t)) * (1 + np.arange(c))[None, :, None] * 10 + np.arange(c)[None, :, None] * 50
    X[:, -1, :] = 0.0  # a flat reference channel, like HBN's Cz
    return X.astype(np.float32)


def middle(values: list[float]) -> float:
    """Median by sorting, written out."""
    s = sorted(values)
    k = len(s) // 2
    return s[k] if len(s) % 2 else (s[k - 1] + s[k]) / 2


def test_mad_constant_is_one_over_the_normal_quartile():
    from statistics import NormalDist

    assert MAD_TO_SD == pytest.approx(1 / NormalDist().inv_cdf(0.75), rel=1e-12)


def test_window_zscore_matches_float64_arithmetic():
    X = windows()
    out = zscore_windows(X)
    assert out.dtype == np.float32 and out.shape == X.shape
    x = X.astype(np.float64)
    for i in range(X.shape[0]):
        for c in range(X.shape[1] - 1):
            row = x[i, c]
            mean = sum(row) / len(row)
            sd = math.sqrt(sum((v - mean) ** 2 for v in row) / len(row))
            np.testing.assert_allclose(out[i, c], (row - mean) / sd, rtol=1e-5, atol=1e-6)
    assert np.all(out[:, -1] == 0)  # a flat channel: zeros, not NaN
    np.testing.assert_allclose(out[:, :-1].mean(axis=2), 0, atol=1e-5)
    np.testing.assert_allclose(out[:, :-1].std(axis=2), 1, atol=1e-5)


def test_window_zscore_uses_each_window_alone():
    X = windows()
    changed = X.copy()
    changed[3] = changed[3] * 100 + 7
    a, b = zscore_windows(X), zscore_windows(changed)
    keep = np.arange(len(X)) != 3
    np.testing.assert_array_equal(a[keep], b[keep])
    np.testing.assert_allclose(a[3], b[3], atol=1e-4)  # and it is invariant to scale and offset


def test_robust_statistics_match_float64_arithmetic():
    X = windows(n=7, t=31)  # odd and even sample counts appear per channel
    train = np.array([0, 2, 3, 5])
    stats = fit_robust(X, train)
    assert stats.n_windows == 4 and stats.median.dtype == np.float64
    for c in range(X.shape[1]):
        values = [float(v) for i in train for v in X[i, c]]
        med = middle(values)
        mad = MAD_TO_SD * middle([abs(v - med) for v in values])
        assert stats.median[c] == pytest.approx(med, rel=1e-12, abs=1e-12)
        assert stats.mad[c] == pytest.approx(mad, rel=1e-12, abs=1e-12)
    out = apply_robust(X, stats)
    assert out.dtype == np.float32
    expected = (X[:, :-1].astype(np.float64) - stats.median[None, :-1, None]) / stats.mad[None, :-1, None]
    np.testing.assert_allclose(out[:, :-1], expected, rtol=1e-6, atol=1e-6)
    assert stats.mad[-1] == 0 and np.all(out[:, -1] == 0)
    # boolean masks and all windows
    mask = np.zeros(len(X), dtype=bool)
    mask[train] = True
    np.testing.assert_array_equal(fit_robust(X, mask).median, stats.median)
    assert fit_robust(X).n_windows == 7


def test_robust_statistics_never_see_validation_or_test_subjects():
    X = windows(n=40, seed=1)
    subjects = np.repeat([f"S{i:02d}" for i in range(10)], 4)
    split = subject_split(subjects, 0.2, 0.2, seed=0)
    scaler = fit_normalizer("robust", X, split["train"])
    before = scaler.stats

    leaked = X.copy()
    for part in ("val", "test"):
        leaked[split[part]] = leaked[split[part]] * 1000 + 1e4  # change every held-out subject's data
    again = fit_normalizer("robust", leaked, split["train"])
    np.testing.assert_array_equal(again.stats.median, before.median)
    np.testing.assert_array_equal(again.stats.mad, before.mad)
    np.testing.assert_array_equal(again(leaked)[split["train"]], scaler(X)[split["train"]])

    trained_elsewhere = X.copy()
    trained_elsewhere[split["train"][0]] += 500.0  # a training window does change them
    assert not np.array_equal(fit_robust(trained_elsewhere, split["train"]).median, before.median)


def test_fit_normalizer_modes_and_errors():
    X = windows()
    assert fit_normalizer("none", X)(X) is X
    np.testing.assert_array_equal(fit_normalizer("window", X)(X), zscore_windows(X))
    np.testing.assert_array_equal(fit_normalizer("robust", X, [1, 2])(X), apply_robust(X, fit_robust(X[[1, 2]])))
    with pytest.raises(ValueError, match="pass train_indices"):
        fit_normalizer("robust", X)
    with pytest.raises(ValueError, match="must be 'none', 'window' or 'robust'"):
        fit_normalizer("zscore", X)
    with pytest.raises(ValueError, match="at least one training window"):
        fit_robust(X, [])
    with pytest.raises(ValueError, match="statistics are for 5 channels, the windows have 4"):
        apply_robust(X[:, :4], fit_robust(X))
    with pytest.raises(ValueError, match=r"\(N, channels, samples\)"):
        zscore_windows(X[0])
    assert fit_robust(X).to_dict()["n_windows"] == len(X)
