"""The oracle floor: E[y | L] against quadrature and Monte Carlo, and the floor of a dataset."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from attn.datasets.eeg import oracle_floor
from attn.datasets.eeg.oracle import RTPrior, oracle_predictions, posterior_mean_rt
from attn.datasets.eeg.synthetic import simulate
from attn.metrics import nrmse

PRIORS = [RTPrior(1.6, 0.4, 0.3, 2.5, 0.23), RTPrior(1.6, 0.4, 0.3, 2.5, 0.62), RTPrior(1.0, 0.8, 0.5, 1.5, 0.1)]


def _quadrature_posterior_mean(L: float, p: RTPrior) -> float:
    """E[y | L] by numerical integration over y: density part plus the two point masses."""
    prior = stats.norm(p.mean, p.sd)
    like = stats.norm(0.0, p.jitter)
    num = integrate.quad(lambda y: y * prior.pdf(y) * like.pdf(L - y), p.low, p.high, points=[L], limit=200)[0]
    den = integrate.quad(lambda y: prior.pdf(y) * like.pdf(L - y), p.low, p.high, points=[L], limit=200)[0]
    w_low = prior.cdf(p.low) * like.pdf(L - p.low)
    w_high = prior.sf(p.high) * like.pdf(L - p.high)
    return (num + p.low * w_low + p.high * w_high) / (den + w_low + w_high)


@pytest.mark.parametrize("prior", PRIORS)
def test_posterior_mean_matches_quadrature(prior):
    latents = np.linspace(-0.5, 3.5, 9)
    expected = [_quadrature_posterior_mean(L, prior) for L in latents]
    np.testing.assert_allclose(posterior_mean_rt(latents, prior), expected, rtol=1e-6, atol=1e-8)


def test_posterior_mean_matches_monte_carlo_and_beats_other_predictors():
    """On a Monte Carlo sample of the model, E[y|L] agrees with the bin averages of y and its
    residual is uncorrelated with functions of L (the defining property of the Bayes predictor)."""
    p = PRIORS[0]
    rng = np.random.default_rng(0)
    n = 400_000
    y = np.clip(rng.normal(p.mean, p.sd, n), p.low, p.high)
    L = y + rng.normal(0.0, p.jitter, n)
    pred = posterior_mean_rt(L, p)
    edges = np.quantile(L, np.linspace(0, 1, 41))
    which = np.clip(np.searchsorted(edges, L, side="right") - 1, 0, 39)
    bin_y = np.bincount(which, y, 40) / np.bincount(which, None, 40)
    bin_pred = np.bincount(which, pred, 40) / np.bincount(which, None, 40)
    np.testing.assert_allclose(bin_pred, bin_y, atol=0.01)
    residual = y - pred
    for feature in (L, L**2, np.tanh(L - p.mean), (L > 2.0).astype(float)):
        assert abs(np.corrcoef(residual, feature)[0, 1]) < 0.01
    linear = np.polyval(np.polyfit(L, y, 1), L)
    assert np.mean(residual**2) < np.mean((y - linear) ** 2)
    assert np.mean(residual**2) < np.mean((y - np.clip(L, p.low, p.high)) ** 2)


def test_posterior_mean_limits_and_extreme_latents():
    p = PRIORS[0]
    L = np.array([-100.0, -3.0, 1.6, 6.0, 100.0])
    out = posterior_mean_rt(L, p)
    assert np.all(np.isfinite(out)) and np.all((out >= p.low) & (out <= p.high))
    assert out[0] == pytest.approx(p.low, abs=1e-4) and out[-1] == pytest.approx(p.high, abs=1e-4)
    assert np.all(np.diff(out) > 0)  # monotone in L
    exact = RTPrior(1.6, 0.4, 0.3, 2.5, 0.0)
    np.testing.assert_array_equal(posterior_mean_rt(np.array([0.5, 1.2]), exact), [0.5, 1.2])
    with pytest.raises(ValueError):
        RTPrior(1.6, 0.0, 0.3, 2.5, 0.2)


def test_dataset_floor_is_the_nrmse_of_the_bayes_predictor_on_its_windows():
    data = simulate(4, 6, seed=3)
    prior = RTPrior.from_dict(data.info["rt_prior"])
    bayes = posterior_mean_rt(data.meta["latent"], prior)
    assert data.info["oracle_floor"] == pytest.approx(nrmse(data.y, bayes), rel=1e-12)
    idx = np.arange(6, 18)
    assert oracle_floor(data, idx) == pytest.approx(nrmse(data.y[idx], bayes[idx]), rel=1e-12)
    np.testing.assert_allclose(oracle_predictions(data, idx), bayes[idx])
    sub = data.subset(idx)
    assert sub.info["oracle_floor"] == pytest.approx(oracle_floor(data, idx), rel=1e-12)
    assert sub.info["n_windows"] == 12 and sub.info["n_subjects"] == 2
    # the mean predictor scores 1 by construction, the oracle does better
    assert nrmse(data.y, np.full(len(data), data.y.mean())) == pytest.approx(1.0)
    assert data.info["oracle_floor"] < 1.0


def test_floor_needs_latents():
    data = simulate(1, 2, seed=0)
    data.meta.pop("latent")
    with pytest.raises(ValueError, match="latent"):
        oracle_floor(data)
