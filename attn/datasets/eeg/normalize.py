"""Window scaling for EEG (recipe key ``data.normalize``): pure numpy functions, no state on disk.

* ``none`` -- windows as they are (microvolts).
* ``window`` -- :func:`zscore_windows`: every window and channel on its own, ``(x - mean_t) /
  std_t`` over the window's samples (population std). Needs no fitting, so it cannot leak.
* ``robust`` -- :func:`fit_robust` computes per-channel statistics from the TRAINING windows only
  (median of every sample of that channel, and the median absolute deviation from it, times
  1.4826 so that it equals the standard deviation for Gaussian data); :func:`apply_robust`
  applies them to any windows: ``(x - median_c) / mad_c``. Validation and test windows are
  scaled by the training statistics and never enter them.
* ``whiten`` -- :func:`fit_whitening` computes the channel covariance of the TRAINING windows and
  its (slightly shrunk) inverse square root; :func:`apply_whitening` maps every window's channels
  through it. The strong, spatially smooth background then no longer dominates the input, so a
  model's spatial filters start from a well-conditioned problem (the GLS filters of classical ERP
  analysis become plain matched filters).

Flat channels (HBN's Cz, the recording reference, is exactly zero) have no spread; their scale is
floored at ``eps`` so that they come out as zeros, not NaN. The functions compute in float64
and return float32 windows.

Typical use (the task wires it): ``scaler = fit_normalizer(cfg.normalize, X, train_idx)``, then
``X_scaled = scaler(X)`` for every split.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = [
    "MAD_TO_SD",
    "RobustStats",
    "Whitening",
    "apply_robust",
    "apply_whitening",
    "fit_normalizer",
    "fit_robust",
    "fit_whitening",
    "zscore_windows",
]

MAD_TO_SD = 1.482602218505602  # 1 / Phi^-1(3/4): MAD * this = sd for a normal distribution
EPS = 1e-6  # microvolts: the smallest scale divided by (flat channels become 0)
WHITEN_SHRINKAGE = 1e-2
"""``whiten``: added to every eigenvalue, times their mean (1e-2 and 1e-3 scored the same in 5-fold CV, 1e-1 worse)."""
CHUNK_WINDOWS = 256
"""``whiten``: windows per float64 pass, so the extra memory stays a small multiple of this many windows."""
FLAT_VARIANCE = 1e-12
"""``whiten``: eigenvalues below this fraction of the largest are directions without signal (zeroed)."""


def _check(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X)
    if X.ndim != 3:
        raise ValueError(f"windows must be (N, channels, samples), got shape {X.shape}")
    return X


def _training_rows(X: np.ndarray, indices: np.ndarray | None, what: str) -> np.ndarray:
    """``indices`` (positions or a boolean mask; None: every window) as positions; at least one."""
    rows = np.arange(len(X)) if indices is None else np.asarray(indices)
    if rows.dtype == bool:
        rows = np.flatnonzero(rows)
    if len(rows) == 0:
        raise ValueError(f"{what} needs at least one training window")
    return rows


def zscore_windows(X: np.ndarray, eps: float = EPS) -> np.ndarray:
    """Per-window, per-channel z-score over time: ``(x - mean) / max(std, eps)``, float32 (N, C, T)."""
    X = _check(X).astype(np.float64)
    mean = X.mean(axis=2, keepdims=True)
    std = X.std(axis=2, keepdims=True)
    return ((X - mean) / np.maximum(std, eps)).astype(np.float32)


@dataclass(frozen=True)
class RobustStats:
    """Per-channel ``median`` (C,) and scaled ``mad`` (C,) fitted on training windows, float64."""

    median: np.ndarray
    mad: np.ndarray
    n_windows: int

    def to_dict(self) -> dict:
        """JSON-friendly (for a run's files)."""
        return {"median": self.median.tolist(), "mad": self.mad.tolist(), "n_windows": self.n_windows}


def fit_robust(X: np.ndarray, indices: np.ndarray | None = None) -> RobustStats:
    """Median and ``MAD_TO_SD * median(|x - median|)`` of every channel over the training windows' samples.

    The training windows are ``X[indices]`` (all of ``X`` when ``indices`` is None); nothing else
    in ``X`` is read. One channel at a time, so the memory needed beyond ``X`` is one channel of
    the training windows in float64.
    """
    X = _check(X)
    rows = _training_rows(X, indices, "robust normalisation")
    n_channels = X.shape[1]
    median = np.empty(n_channels)
    mad = np.empty(n_channels)
    for c in range(n_channels):
        values = X[rows, c, :].astype(np.float64).ravel()
        median[c] = np.median(values)
        mad[c] = MAD_TO_SD * np.median(np.abs(values - median[c]))
    return RobustStats(median=median, mad=mad, n_windows=int(len(rows)))


def apply_robust(X: np.ndarray, stats: RobustStats, eps: float = EPS) -> np.ndarray:
    """``(x - median_c) / max(mad_c, eps)`` for any windows, float32 (N, C, T)."""
    X = _check(X)
    if X.shape[1] != len(stats.median):
        raise ValueError(f"statistics are for {len(stats.median)} channels, the windows have {X.shape[1]}")
    center = stats.median[None, :, None]
    scale = np.maximum(stats.mad, eps)[None, :, None]
    return ((X.astype(np.float64) - center) / scale).astype(np.float32)


def fit_normalizer(
    mode: str, X: np.ndarray, train_indices: np.ndarray | None = None
) -> Callable[[np.ndarray], np.ndarray]:
    """The scaling function for ``data.normalize`` = ``mode``, fitted on ``X[train_indices]`` where it needs fitting.

    ``none``: returns the windows unchanged; ``window``: :func:`zscore_windows` (nothing fitted);
    ``robust``: :func:`apply_robust` with :func:`fit_robust` of the training windows only;
    ``whiten``: :func:`apply_whitening` with :func:`fit_whitening` of the training windows only
    (both need ``train_indices``; the fitted statistics are on the returned function as ``.stats``).
    """
    if mode == "none":
        return lambda windows: windows
    if mode == "window":
        return zscore_windows
    if mode in _FITTED:
        fit, apply, what = _FITTED[mode]
        if train_indices is None:
            raise ValueError(f"{what} is fitted on the training windows: pass train_indices")
        stats = fit(X, train_indices)

        def scale(windows: np.ndarray) -> np.ndarray:
            return apply(windows, stats)

        scale.stats = stats  # type: ignore[attr-defined]
        return scale
    raise ValueError(f"data.normalize must be 'none', 'window', 'robust' or 'whiten', got {mode!r}")


@dataclass(frozen=True)
class Whitening:
    """Per-channel ``mean`` (C,) and the symmetric whitening ``matrix`` (C, C) fitted on training windows."""

    mean: np.ndarray
    matrix: np.ndarray
    n_windows: int


def fit_whitening(X: np.ndarray, indices: np.ndarray | None, shrinkage: float = WHITEN_SHRINKAGE) -> Whitening:
    """The ZCA whitening of the training windows' channel covariance, shrunk towards a multiple of the identity.

    ``S`` is the covariance of the channels over every sample of ``X[indices]`` and ``S = U diag(l) U^T``;
    the matrix is ``U diag(1 / sqrt(l + shrinkage * mean(l))) U^T``, so the directions where the
    background is strong (the smooth 1/f field, blinks) are scaled down the most, and ones with no
    variance at all (the flat reference channel) map to zero. Computed CHUNK_WINDOWS windows at a time.
    """
    X = _check(X)
    rows = _training_rows(X, indices, "whitening")
    n_channels = X.shape[1]
    total = np.zeros(n_channels)
    products = np.zeros((n_channels, n_channels))
    for start in range(0, len(rows), CHUNK_WINDOWS):
        chunk = X[rows[start : start + CHUNK_WINDOWS]].astype(np.float64).transpose(1, 0, 2).reshape(n_channels, -1)
        total += chunk.sum(axis=1)
        products += chunk @ chunk.T
    count = len(rows) * X.shape[2]
    mean = total / count
    evals, evecs = np.linalg.eigh(products / count - np.outer(mean, mean))
    evals = np.clip(evals, 0.0, None)
    live = evals > FLAT_VARIANCE * max(evals.max(), EPS)
    scale = np.zeros_like(evals)
    scale[live] = 1.0 / np.sqrt(evals[live] + shrinkage * evals.mean())
    return Whitening(mean=mean, matrix=(evecs * scale) @ evecs.T, n_windows=int(len(rows)))


def apply_whitening(X: np.ndarray, stats: Whitening) -> np.ndarray:
    """``matrix @ (x_t - mean)`` at every sample of every window, float32 (N, C, T), CHUNK_WINDOWS windows at a time."""
    X = _check(X)
    if X.shape[1] != len(stats.mean):
        raise ValueError(f"the whitening is for {len(stats.mean)} channels, the windows have {X.shape[1]}")
    out = np.empty(X.shape, dtype=np.float32)
    for start in range(0, len(X), CHUNK_WINDOWS):
        centred = X[start : start + CHUNK_WINDOWS].astype(np.float64) - stats.mean[None, :, None]
        out[start : start + CHUNK_WINDOWS] = np.einsum("dc,nct->ndt", stats.matrix, centred)
    return out


_FITTED: dict[str, tuple[Callable, Callable, str]] = {
    "robust": (fit_robust, apply_robust, "robust normalisation"),
    "whiten": (fit_whitening, apply_whitening, "whitening"),
}
"""The modes fitted on the training windows: (fit, apply, what the error messages call it)."""
