"""data.normalize: the window z-score, the robust per-channel scaling and the whitening against float64
references, and no leakage."""

from __future__ import annotations

import math

import numpy as np
import pytest

from attn.datasets.eeg import subject_split
from attn.datasets.eeg.normalize import (
    CHUNK_WINDOWS,
    MAD_TO_SD,
    apply_robust,
    apply_whitening,
    fit_normalizer,
    fit_robust,
    fit_whitening,
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
    with pytest.raises(ValueError, match="must be 'none', 'window', 'robust' or 'whiten'"):
        fit_normalizer("zscore", X)
    with pytest.raises(ValueError, match="at least one training window"):
        fit_robust(X, [])
    with pytest.raises(ValueError, match="statistics are for 5 channels, the windows have 4"):
        apply_robust(X[:, :4], fit_robust(X))
    with pytest.raises(ValueError, match=r"\(N, channels, samples\)"):
        zscore_windows(X[0])
    assert fit_robust(X).to_dict()["n_windows"] == len(X)


def correlated_windows(n: int = 30, t: int = 50, seed: int = 2) -> np.ndarray:
    """Four channels mixing three sources (one strong) plus a little noise, and a flat reference channel."""
    rng = np.random.default_rng(seed)
    sources = rng.standard_normal((n, 3, t)) * np.array([40.0, 5.0, 1.0])[None, :, None]
    mixing = np.array([[1.0, 0.2, 0.0], [0.9, -0.5, 0.3], [0.8, 0.1, -1.0], [0.7, 1.0, 0.5]])
    X = np.zeros((n, 5, t))
    X[:, :4] = np.einsum("cs,nst->nct", mixing, sources) + 0.5 * rng.standard_normal((n, 4, t)) + 3.0
    return X.astype(np.float32)


def test_whitening_is_the_inverse_square_root_of_the_training_covariance():
    from scipy.linalg import fractional_matrix_power

    X = correlated_windows()
    train = np.arange(0, 30, 2)
    stats = fit_whitening(X, train, shrinkage=0.0)
    samples = X[train].astype(np.float64).transpose(1, 0, 2).reshape(5, -1)  # (channels, every training sample)
    cov = np.cov(samples, bias=True)
    np.testing.assert_allclose(stats.mean, samples.mean(axis=1), rtol=1e-12)
    reference = fractional_matrix_power(cov[:4, :4], -0.5).real  # the live channels; the flat one has no variance
    np.testing.assert_allclose(stats.matrix[:4, :4], reference, rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(stats.matrix[4], 0.0)
    out = apply_whitening(X, stats)
    assert out.dtype == np.float32 and out.shape == X.shape
    white = out[train].astype(np.float64).transpose(1, 0, 2).reshape(5, -1)
    np.testing.assert_allclose(np.cov(white, bias=True)[:4, :4], np.eye(4), atol=1e-4)  # unit, uncorrelated
    assert np.all(out[:, 4] == 0)


def test_whitening_shrinkage_adds_a_multiple_of_the_mean_eigenvalue():
    X = correlated_windows()
    samples = X.astype(np.float64).transpose(1, 0, 2).reshape(5, -1)
    cov = np.cov(samples, bias=True)
    evals, evecs = np.linalg.eigh(cov)
    evals = np.clip(evals, 0, None)
    live = evals > 1e-9 * evals.max()
    expected = (evecs * np.where(live, (evals + 0.1 * evals.mean()) ** -0.5, 0.0)) @ evecs.T
    np.testing.assert_allclose(fit_whitening(X, None, shrinkage=0.1).matrix, expected, rtol=1e-6, atol=1e-9)
    # shrinkage scales the strong directions down more than the weak ones: the condition number falls
    weak = fit_whitening(X, None, shrinkage=10.0).matrix[:4, :4]
    assert np.linalg.cond(weak @ cov[:4, :4] @ weak) < np.linalg.cond(cov[:4, :4])


def test_whitening_never_sees_validation_or_test_subjects():
    X = correlated_windows(n=40)
    subjects = np.repeat([f"S{i:02d}" for i in range(10)], 4)
    split = subject_split(subjects, 0.2, 0.2, seed=0)
    scaler = fit_normalizer("whiten", X, split["train"])
    leaked = X.copy()
    for part in ("val", "test"):
        leaked[split[part]] = leaked[split[part]] * 1000 + 1e4
    again = fit_normalizer("whiten", leaked, split["train"])
    np.testing.assert_array_equal(again.stats.matrix, scaler.stats.matrix)
    np.testing.assert_array_equal(again.stats.mean, scaler.stats.mean)
    assert scaler.stats.n_windows == len(split["train"])
    moved = X.copy()
    moved[split["train"][0], 0] += 50.0
    assert not np.array_equal(fit_whitening(moved, split["train"]).matrix, scaler.stats.matrix)


def test_whitening_errors():
    X = correlated_windows()
    with pytest.raises(ValueError, match="whitening is fitted on the training windows"):
        fit_normalizer("whiten", X)
    with pytest.raises(ValueError, match="at least one training window"):
        fit_whitening(X, [])
    with pytest.raises(ValueError, match="the whitening is for 5 channels, the windows have 4"):
        apply_whitening(X[:, :4], fit_whitening(X, None))


def test_whitening_many_windows_matches_one_matrix_product():
    X = correlated_windows(n=2 * CHUNK_WINDOWS + 88, t=8)  # several chunks, the last one partial
    stats = fit_whitening(X, np.arange(0, len(X), 3))
    expected = np.einsum("dc,nct->ndt", stats.matrix, X.astype(np.float64) - stats.mean[None, :, None])
    np.testing.assert_allclose(apply_whitening(X, stats), expected, rtol=1e-5, atol=1e-5)
