"""Window scaling for EEG (recipe key ``data.normalize``): pure numpy functions, no state on disk.

* ``none`` -- windows as they are (microvolts).
* ``window`` -- :func:`zscore_windows`: every window and channel on its own, ``(x - mean_t) /
  std_t`` over the window's samples (population std). Needs no fitting, so it cannot leak.
* ``robust`` -- :func:`fit_robust` computes per-channel statistics from the TRAINING windows only
  (median of every sample of that channel, and the median absolute deviation from it, times
  1.4826 so that it equals the standard deviation for Gaussian data); :func:`apply_robust`
  applies them to any windows: ``(x - median_c) / mad_c``. Validation and test windows are
  scaled by the training statistics and never enter them.

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
    "apply_robust",
    "fit_normalizer",
    "fit_robust",
    "zscore_windows",
]

MAD_TO_SD = 1.482602218505602  # 1 / Phi^-1(3/4): MAD * this = sd for a normal distribution
EPS = 1e-6  # microvolts: the smallest scale divided by (flat channels become 0)


def _check(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X)
    if X.ndim != 3:
        raise ValueError(f"windows must be (N, channels, samples), got shape {X.shape}")
    return X


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
    rows = np.arange(len(X)) if indices is None else np.asarray(indices)
    if rows.dtype == bool:
        rows = np.flatnonzero(rows)
    if len(rows) == 0:
        raise ValueError("robust normalisation needs at least one training window")
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
    ``robust``: :func:`apply_robust` with :func:`fit_robust` of the training windows only
    (``train_indices`` is required; the statistics are on the returned function as ``.stats``).
    """
    if mode == "none":
        return lambda windows: windows
    if mode == "window":
        return zscore_windows
    if mode == "robust":
        if train_indices is None:
            raise ValueError("robust normalisation is fitted on the training windows: pass train_indices")
        stats = fit_robust(X, train_indices)

        def scale(windows: np.ndarray) -> np.ndarray:
            return apply_robust(windows, stats)

        scale.stats = stats  # type: ignore[attr-defined]
        return scale
    raise ValueError(f"data.normalize must be 'none', 'window' or 'robust', got {mode!r}")
