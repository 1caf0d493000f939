"""Band-power features and the closed-form ridge baseline."""

from __future__ import annotations

import numpy as np
import pytest

from attn.datasets.eeg import subject_kfold
from attn.datasets.eeg.features import BANDS, band_power_features, fit_ridge

FS = 100.0


def test_band_power_of_a_pure_sine_is_its_power_in_its_band():
    """A sine of amplitude A carries power A²/2 (Parseval); it lands in its band only."""
    t = np.arange(200) / FS
    X = np.zeros((2, 3, 200))
    X[0, 0] = 4.0 * np.sin(2 * np.pi * 10.0 * t)  # alpha
    X[1, 1] = 2.0 * np.sin(2 * np.pi * 20.0 * t + 0.3)  # beta
    X[:, 2] = 1e-3 * np.random.default_rng(0).standard_normal((2, 200))
    feats = band_power_features(X, sfreq=FS, time_bins=0)
    assert feats.shape == (2, 3 * len(BANDS))
    band = {name: i for i, name in enumerate(BANDS)}

    def power(window, channel, name):
        return np.exp(feats[window, band[name] * 3 + channel])

    assert power(0, 0, "alpha") == pytest.approx(16.0 / 2, rel=0.02)
    assert power(1, 1, "beta") == pytest.approx(4.0 / 2, rel=0.02)
    for name in ("delta", "theta", "beta", "gamma"):
        assert power(0, 0, name) < 1e-3 * power(0, 0, "alpha")
    # white noise of variance s² spreads evenly: band power ≈ s² · width / Nyquist
    noise_var = X[:, 2].var()
    beta_share = np.mean([power(w, 2, "beta") for w in range(2)]) / noise_var
    assert beta_share == pytest.approx(17.0 / 50.0, rel=0.35)
    # the all-zero channel (like the Cz reference) gives a finite constant
    assert np.all(np.isfinite(feats)) and feats[0, band["theta"] * 3 + 1] == feats[0, band["gamma"] * 3 + 1]


def test_time_bin_features_are_bin_means():
    X = np.random.default_rng(1).standard_normal((3, 2, 200))
    feats = band_power_features(X, sfreq=FS, time_bins=4)
    assert feats.shape == (3, 2 * (len(BANDS) + 4))
    bins = feats[:, 2 * len(BANDS) :].reshape(3, 4, 2)
    for b in range(4):
        np.testing.assert_allclose(bins[:, b], X[..., 50 * b : 50 * (b + 1)].mean(-1))
    with pytest.raises(ValueError):
        band_power_features(X[0])


def _standardised(X):
    mean, std = X.mean(0), X.std(0)
    std[std == 0] = 1.0
    return (X - mean) / std


@pytest.mark.parametrize("n, f", [(40, 8), (15, 30)])
def test_ridge_matches_lstsq_on_the_augmented_system(n, f):
    rng = np.random.default_rng(n)
    X = rng.standard_normal((n, f)) * rng.uniform(0.1, 10, f) + rng.standard_normal(f)
    X[:, 0] = 3.0  # a constant feature
    y = X[:, 1] * 0.5 - X[:, 2] + rng.standard_normal(n)
    alpha = 2.5
    model = fit_ridge(X, y, alphas=[alpha])
    Z = _standardised(X)
    A = np.vstack([np.hstack([Z, np.ones((n, 1))]), np.hstack([np.sqrt(alpha) * np.eye(f), np.zeros((f, 1))])])
    b = np.concatenate([y, np.zeros(f)])
    sol = np.linalg.lstsq(A, b, rcond=None)[0]
    np.testing.assert_allclose(model.coef, sol[:f], rtol=1e-8, atol=1e-10)
    assert model.intercept == pytest.approx(sol[f])
    X_new = rng.standard_normal((5, f))
    np.testing.assert_allclose(model.predict(X_new), _standardised_apply(X, X_new) @ sol[:f] + sol[f], rtol=1e-8)


def _standardised_apply(X_train, X_new):
    mean, std = X_train.mean(0), X_train.std(0)
    std[std == 0] = 1.0
    return (X_new - mean) / std


def test_ridge_cv_picks_a_small_penalty_for_signal_and_a_large_one_for_noise():
    rng = np.random.default_rng(3)
    groups = np.repeat(np.arange(10), 20)
    X = rng.standard_normal((200, 30))
    signal = X @ rng.standard_normal(30)
    alphas = [1e-2, 1e0, 1e2, 1e4, 1e6]
    clean = fit_ridge(X, signal + 0.1 * rng.standard_normal(200), alphas=alphas, groups=groups)
    noise = fit_ridge(X, rng.standard_normal(200), alphas=alphas, groups=groups)
    assert clean.alpha <= 1.0 and noise.alpha >= 1e2
    assert set(clean.cv_mse) == set(alphas)


def test_grouped_cv_errors_are_those_of_refits_on_the_subject_folds():
    """cv_mse equals the held-out error of single-alpha fits on subject_kfold's folds."""
    rng = np.random.default_rng(4)
    groups = np.repeat([f"s{i}" for i in range(7)], 9)
    X = rng.standard_normal((63, 5))
    y = X[:, 0] + rng.standard_normal(7)[np.arange(63) // 9] + 0.3 * rng.standard_normal(63)
    alphas = [0.1, 10.0, 1000.0]
    model = fit_ridge(X, y, alphas=alphas, groups=groups, n_folds=3, seed=5)
    for alpha in alphas:
        sq = 0.0
        for train, held in subject_kfold(groups, 3, 5):
            assert not set(groups[train]) & set(groups[held])
            sq += np.sum((fit_ridge(X[train], y[train], alphas=[alpha]).predict(X[held]) - y[held]) ** 2)
        assert model.cv_mse[alpha] == pytest.approx(sq / len(y), rel=1e-10)
    assert model.alpha == min(model.cv_mse, key=model.cv_mse.get)


def test_ridge_rejects_bad_input():
    with pytest.raises(ValueError):
        fit_ridge(np.zeros((3, 2)), np.zeros(4))
    with pytest.raises(ValueError):
        fit_ridge(np.zeros((3, 2)), np.zeros(3), alphas=[0.0])
    with pytest.raises(ValueError):
        fit_ridge(np.zeros((4, 2)), np.zeros(4), alphas=[1, 2], groups=np.zeros(4))


def test_calibration_script_runs_on_a_tiny_dataset(capsys):
    from attn.datasets.eeg.calibrate import main

    main(["--preset", "default", "--n-subjects", "6", "--trials", "5", "--folds", "2"])
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:2] == ["preset", "seed"] and out[1].split()[:3] == ["default", "0", "30"]
    floor, ridge_cv = float(out[1].split()[5]), float(out[1].split()[8])
    assert 0.0 < floor < 1.5 and ridge_cv > 0.0
