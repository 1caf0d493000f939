"""The classical baseline: log band power (plus coarse ERP amplitudes) and a closed-form ridge.

``band_power_features`` gives, per channel, the log power in the delta, theta, alpha, beta and
gamma bands (Welch periodogram, 1 s Hann segments, integrated over the band) and the mean
amplitude in ``time_bins`` equal parts of the window (the classic binned-ERP feature).
``fit_ridge`` standardises the features and chooses the penalty by subject-grouped
cross-validation on the training windows only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.signal import welch

BANDS: dict[str, tuple[float, float]] = {
    "delta": (1.0, 4.0),
    "theta": (4.0, 8.0),
    "alpha": (8.0, 13.0),
    "beta": (13.0, 30.0),
    "gamma": (30.0, 45.0),
}
"""Frequency bands in Hz, each ``[low, high)``."""

DEFAULT_ALPHAS = tuple(10.0 ** np.arange(-1.0, 6.5, 0.5))
_LOG_FLOOR = 1e-20  # power of a flat channel (the Cz reference) before the log


def band_power_features(X: np.ndarray, sfreq: float = 100.0, time_bins: int = 4) -> np.ndarray:
    """(N, C·(len(BANDS) + time_bins)) float64 features of windows ``X`` (N, C, T).

    Band power is ``sum(PSD) · df`` over the Welch frequencies in ``[low, high)`` (so a sine of
    amplitude A inside a band contributes A²/2), then ``log``; columns are ordered band-major
    (all channels for delta, then theta, ...), followed by the bin means (bin-major).
    """
    X = np.asarray(X)
    if X.ndim != 3:
        raise ValueError(f"band_power_features needs windows (N, channels, samples), got {X.shape}")
    n, c, t = X.shape
    nperseg = min(t, int(round(sfreq)))
    freqs, psd = welch(X, fs=sfreq, nperseg=nperseg, axis=-1)  # (N, C, F)
    df = freqs[1] - freqs[0]
    parts = []
    for low, high in BANDS.values():
        in_band = (freqs >= low) & (freqs < high)
        if not in_band.any():
            raise ValueError(f"no Welch frequency in [{low}, {high}) Hz at sfreq={sfreq}")
        parts.append(np.log(np.maximum(psd[..., in_band].sum(-1) * df, _LOG_FLOOR)))
    if time_bins:
        bins = np.array_split(np.arange(t), time_bins)
        parts += [X[..., b].mean(-1, dtype=np.float64) for b in bins]
    return np.concatenate(parts, axis=1).astype(np.float64)


@dataclass
class RidgeModel:
    """A fitted ridge regression on standardised features."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    alpha: float
    cv_mse: dict[float, float] = field(default_factory=dict)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return ((np.asarray(X, dtype=np.float64) - self.mean) / self.scale) @ self.coef + self.intercept


def _standardise(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = X.mean(0)
    scale = X.std(0)
    scale[scale == 0] = 1.0  # constant features (a flat channel) stay 0 after centring
    return mean, scale


def _ridge_path(Z: np.ndarray, yc: np.ndarray, alphas: np.ndarray) -> np.ndarray:
    """Coefficients (len(alphas), F) of ridge on centred Z, yc for each alpha.

    One eigendecomposition of the smaller Gram matrix serves every alpha:
    ``(ZᵀZ + αI)⁻¹Zᵀy = V diag(1/(λ+α)) VᵀZᵀy = Zᵀ U diag(1/(λ+α)) Uᵀy``.
    """
    n, f = Z.shape
    if f <= n:
        lam, V = np.linalg.eigh(Z.T @ Z)
        proj = V.T @ (Z.T @ yc)
        return (proj[None, :] / (np.clip(lam, 0, None)[None, :] + alphas[:, None])) @ V.T
    lam, U = np.linalg.eigh(Z @ Z.T)
    proj = U.T @ yc
    return ((proj[None, :] / (np.clip(lam, 0, None)[None, :] + alphas[:, None])) @ U.T) @ Z


def fit_ridge(
    X_train: np.ndarray,
    y_train: np.ndarray,
    alphas: tuple[float, ...] | np.ndarray = DEFAULT_ALPHAS,
    groups: np.ndarray | None = None,
    n_folds: int = 5,
    seed: int = 0,
) -> RidgeModel:
    """Ridge regression with the penalty chosen by internal K-fold CV on the training set.

    With ``groups`` (the subject of each window) the folds hold out whole subjects, as the
    real splits do. Every fold standardises with its own training statistics. With a single
    alpha no CV is run.
    """
    X = np.asarray(X_train, dtype=np.float64)
    y = np.asarray(y_train, dtype=np.float64).ravel()
    if X.ndim != 2 or len(X) != len(y) or len(y) < 2:
        raise ValueError(f"fit_ridge needs X (N, F) and y (N,) with N >= 2, got {X.shape} and {y.shape}")
    alphas = np.asarray(alphas, dtype=np.float64).ravel()
    if alphas.size == 0 or np.any(alphas <= 0):
        raise ValueError("fit_ridge needs one or more alphas > 0")
    cv_mse: dict[float, float] = {}
    if alphas.size > 1:
        errors = np.zeros(alphas.size)
        for train, held in _folds(len(y), groups, n_folds, seed):
            mean, scale = _standardise(X[train])
            coefs = _ridge_path((X[train] - mean) / scale, y[train] - y[train].mean(), alphas)
            pred = ((X[held] - mean) / scale) @ coefs.T + y[train].mean()  # (n_held, A)
            errors += ((pred - y[held, None]) ** 2).sum(0)
        cv_mse = {float(a): float(e / len(y)) for a, e in zip(alphas, errors)}
        best = float(alphas[int(np.argmin(errors))])
    else:
        best = float(alphas[0])
    mean, scale = _standardise(X)
    coef = _ridge_path((X - mean) / scale, y - y.mean(), np.array([best]))[0]
    return RidgeModel(mean=mean, scale=scale, coef=coef, intercept=float(y.mean()), alpha=best, cv_mse=cv_mse)


def _folds(n: int, groups: np.ndarray | None, n_folds: int, seed: int):
    if groups is not None:
        from attn.datasets.eeg.splits import subject_kfold

        groups = np.asarray(groups)
        n_groups = len(np.unique(groups))
        if n_groups < 2 or len(groups) != n:
            raise ValueError(f"grouped CV needs one group per window and >= 2 groups (got {n_groups})")
        return subject_kfold(groups, min(n_folds, n_groups), seed)
    order = np.random.default_rng(seed).permutation(n)
    parts = np.array_split(order, min(n_folds, n))
    return [(np.setdiff1d(order, held), np.sort(held)) for held in parts]
