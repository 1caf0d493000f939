"""Metrics shared by tasks, benches and baselines (numpy in, plain floats out)."""

from __future__ import annotations

import math

import numpy as np


def nrmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """RMSE divided by the population standard deviation of ``y_true`` (the challenge's NRMSE).

    The mean predictor scores exactly 1.0 by construction.
    """
    y_true = np.asarray(y_true, dtype=np.float64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.float64).ravel()
    if y_true.shape != y_pred.shape or y_true.size == 0:
        raise ValueError(f"nrmse needs two equal, non-empty arrays (got {y_true.shape} and {y_pred.shape})")
    std = y_true.std()
    if std == 0:
        return float("nan")
    return float(np.sqrt(np.mean((y_true - y_pred) ** 2)) / std)


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """NRMSE, RMSE, MAE (target units), R² and Pearson r."""
    y_true = np.asarray(y_true, dtype=np.float64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.float64).ravel()
    err = y_pred - y_true
    rmse = float(np.sqrt(np.mean(err**2)))
    var = float(y_true.var())
    if y_true.std() > 0 and y_pred.std() > 0:
        r = float(np.corrcoef(y_true, y_pred)[0, 1])
    else:
        r = float("nan")
    return {
        "nrmse": nrmse(y_true, y_pred),
        "rmse": rmse,
        "mae": float(np.mean(np.abs(err))),
        "r2": 1.0 - rmse**2 / var if var > 0 else float("nan"),
        "pearson_r": r,
    }


def language_model_metrics(loss_nats: float) -> dict[str, float]:
    """Cross-entropy in nats/char, bits per char and perplexity."""
    return {
        "loss": loss_nats,
        "bpc": loss_nats / math.log(2),
        "perplexity": math.exp(min(loss_nats, 700.0)),
    }
