"""The oracle floor of the simulator: the best NRMSE any predictor of one window can reach.

In the simulator a trial's response time is ``y = clip(R, low, high)`` with ``R ~ N(mean, sd²)``
(the population distribution: subject mean plus trial deviation), and every response-related
EEG component is time-locked to a latent event ``L = y + e`` with ``e ~ N(0, jitter²)``
independent of everything else. Given ``L`` the window carries no further information about
``y``, so ``E[y | L]`` is the Bayes predictor and its NRMSE is a floor for every model.

``E[y | L]`` has a closed form (docs/eeg-data.md derives it): the prior of ``y`` is a normal
density on ``(low, high)`` plus point masses ``P(R <= low)`` at ``low`` and ``P(R >= high)`` at
``high``. Multiplying by the likelihood ``N(L; y, jitter²)`` gives a truncated normal part with
mean ``m* = (mean·jitter² + L·sd²) / (sd² + jitter²)`` and variance
``v = sd²·jitter² / (sd² + jitter²)`` on ``(low, high)``, weighted by
``N(L; mean, sd² + jitter²)·[Φ(β) − Φ(α)]``, and the two point masses weighted by
``P(R <= low)·N(L; low, jitter²)`` and ``P(R >= high)·N(L; high, jitter²)``. The weights are
combined in log space so that latents far in the tails stay finite.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from attn.metrics import nrmse


@dataclass(frozen=True)
class RTPrior:
    """The simulator's response-time model, as far as the oracle needs it (seconds)."""

    mean: float
    sd: float
    low: float
    high: float
    jitter: float

    def __post_init__(self) -> None:
        if not (self.sd > 0 and self.jitter >= 0 and self.low < self.high):
            raise ValueError(f"invalid response-time prior {self}")

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RTPrior:
        return cls(**{k: float(data[k]) for k in ("mean", "sd", "low", "high", "jitter")})


def _log_normal_pdf(x: np.ndarray, mean: np.ndarray | float, var: float) -> np.ndarray:
    return -0.5 * (np.log(2 * np.pi * var) + (x - mean) ** 2 / var)


def _log_ndtr_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """log(Φ(b) − Φ(a)) for a < b, accurate in both tails (mirrors to the lower tail)."""
    from scipy import special  # in the functions: recipes and text runs import this module without scipy

    flip = a > 0
    lo = np.where(flip, -b, a)
    hi = np.where(flip, -a, b)
    log_hi = special.log_ndtr(hi)
    return log_hi + np.log1p(-np.exp(special.log_ndtr(lo) - log_hi))


def posterior_mean_rt(latent: np.ndarray, prior: RTPrior) -> np.ndarray:
    """``E[y | L = latent]`` under ``prior`` (float64, same shape as ``latent``)."""
    from scipy import special

    L = np.asarray(latent, dtype=np.float64)
    if prior.jitter == 0:
        return np.clip(L, prior.low, prior.high)
    s2, t2 = prior.sd**2, prior.jitter**2
    total = s2 + t2
    v = s2 * t2 / total
    m_star = (prior.mean * t2 + L * s2) / total
    alpha = (prior.low - m_star) / np.sqrt(v)
    beta = (prior.high - m_star) / np.sqrt(v)
    log_mass = _log_ndtr_diff(alpha, beta)
    log_w = np.stack(
        [
            _log_normal_pdf(L, prior.mean, total) + log_mass,
            special.log_ndtr((prior.low - prior.mean) / prior.sd) + _log_normal_pdf(L, prior.low, t2),
            special.log_ndtr((prior.mean - prior.high) / prior.sd) + _log_normal_pdf(L, prior.high, t2),
        ]
    )
    weights = np.exp(log_w - special.logsumexp(log_w, axis=0))
    # mean of N(m*, v) truncated to (low, high): m* + √v·(φ(α) − φ(β)) / (Φ(β) − Φ(α))
    mills = np.exp(_log_normal_pdf(alpha, 0.0, 1.0) - log_mass) - np.exp(_log_normal_pdf(beta, 0.0, 1.0) - log_mass)
    mean_continuous = np.clip(m_star + np.sqrt(v) * mills, prior.low, prior.high)
    return weights[0] * mean_continuous + weights[1] * prior.low + weights[2] * prior.high


def oracle_predictions(dataset: Any, indices: np.ndarray | None = None) -> np.ndarray:
    """The Bayes predictions ``E[y | latent]`` for (a subset of) a simulated dataset."""
    if "latent" not in dataset.meta or "rt_prior" not in dataset.info:
        raise ValueError("this dataset has no latent event times; only simulated data have an oracle floor")
    latent = dataset.meta["latent"] if indices is None else dataset.meta["latent"][indices]
    return posterior_mean_rt(latent, RTPrior.from_dict(dataset.info["rt_prior"]))


def oracle_floor(dataset: Any, indices: np.ndarray | None = None) -> float:
    """NRMSE of the Bayes predictor on the windows at ``indices`` (all when None).

    Like the challenge metric it is pooled over the windows and normalised by their own
    population standard deviation, so it differs between splits; compute it per split.
    """
    y = dataset.y if indices is None else dataset.y[indices]
    return nrmse(y, oracle_predictions(dataset, indices))
