"""Readouts of the sparse EEG models (recipe key ``model.readout``): tokens ``(B, T', C)`` to a prediction.

* ``mean`` -- the seed's readout: average over the time tokens (``eeg-sparse-improved``:
  average and maximum concatenated), then the MLP regression head. No weights to show.
* ``attention`` -- :class:`AttentionPooling`: one learned query ``q`` (C,) scores every token,
  ``s_j = <x_j, q> / sqrt(C)``, ``w = softmax_j(s)``, and ``sum_j w_j x_j`` goes into the head.
  ``q`` starts at zero, so the untrained readout is exactly mean pooling.
* ``latency`` -- :class:`LatencyReadout`: a bias-free linear scorer ``s_j = <x_j, u>`` gives a
  softmax ``w`` over the tokens, read as the model's belief about *when* in the window the
  decision happened; its expectation ``E[t] = sum_j w_j t_j`` over the tokens' times (seconds
  after the stimulus) is turned into the prediction by ``pred = offset + scale * (E[t] - t_mid)``
  (learned ``offset`` and ``scale``; ``t_mid`` is the mean token time, a constant). There is no
  MLP head: the prediction is the expected time, rescaled.

Token times: both models pool twice by 2 (conv padding keeps lengths), so token ``j`` covers
samples ``4j .. 4j+3`` and its centre is ``t_j = window_start + (4j + 1.5) / sfreq``
(0.515 s, 0.555 s, ..., 2.475 s for 200 samples at 100 Hz starting 0.5 s after the stimulus).

The task trains on standardised targets ``z = (RT - mean) / std`` (training-split statistics).
If ``E[t]`` were the response time itself, ``z = (E[t] - mean) / std``, i.e. ``scale = 1 / std``
and ``offset = (t_mid - mean) / std``. The statistics are not known when the model is built,
so ``scale`` starts at ``1 / 0.4 s`` (the RT standard deviation of the simulator, 0.394 s) and
``offset`` at 0: a uniform belief (``E[t] = t_mid``) predicts the training mean (loss 1), and
moving the belief by 0.4 s moves the prediction by one standard deviation. The scorer keeps
``nn.Linear``'s small random initialisation, so the untrained belief is close to uniform but not
exactly: the tokens reach the prediction only through the scores, and a zero scorer would give
every layer below the readout a zero gradient at the first step.
Centring at ``t_mid`` is the brief's ``offset' + scale * E[t]`` with ``offset' = offset - scale
* t_mid``; it keeps ``offset`` and ``scale`` from fighting each other during training.

Every readout keeps its last weights, detached (``last_weights`` (B, T')), and the models expose
them with ``readout_weights()``; :func:`plot_readout_weights` draws them per window.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

__all__ = [
    "READOUTS",
    "SFREQ",
    "WINDOW_START_S",
    "AttentionPooling",
    "LatencyReadout",
    "token_times",
    "plot_readout_weights",
]

READOUTS = ("mean", "attention", "latency")
# The same numbers as attn.datasets.eeg.dataset (a test checks it); not imported from there so
# that importing a model does not import the data code (scipy).
SFREQ = 100.0
WINDOW_START_S = 0.5
LATENCY_SCALE_INIT = 1 / 0.4  # 1 / (RT sd in s): the simulator's is 0.394 s
POOL_FACTOR = 4  # two max-pools of 2


def n_tokens(n_times: int) -> int:
    """Tokens after the two max-pools of 2 (floor division, as ``nn.MaxPool1d`` does)."""
    return (n_times // 2) // 2


def token_times(n_times: int, sfreq: float = SFREQ, window_start_s: float = WINDOW_START_S) -> torch.Tensor:
    """Centre of each token in seconds after the stimulus, float32 ``(n_tokens(n_times),)``."""
    j = torch.arange(n_tokens(n_times), dtype=torch.float64)
    return (window_start_s + (POOL_FACTOR * j + (POOL_FACTOR - 1) / 2) / sfreq).float()


class AttentionPooling(nn.Module):
    """``w = softmax_t(<x_t, q> / sqrt(C))``, output ``sum_t w_t x_t`` (B, C); ``q`` starts at zero."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim
        self.query = nn.Parameter(torch.zeros(dim))
        self.last_weights: torch.Tensor | None = None

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        scores = tokens @ self.query / math.sqrt(self.dim)  # (B, T)
        weights = torch.softmax(scores, dim=1)
        self.last_weights = weights.detach()
        return torch.einsum("bt,btc->bc", weights, tokens)


class LatencyReadout(nn.Module):
    """``w = softmax_t(<x_t, u>)``, ``E[t] = sum_t w_t t_t``, prediction ``offset + scale * (E[t] - t_mid)`` (B,).

    ``u`` is a bias-free ``Linear(C, 1)`` (a shared bias cancels in the softmax) with its default
    small random initialisation (not zero: the module docstring says why); ``offset`` starts at 0
    and ``scale`` at ``LATENCY_SCALE_INIT``. ``times`` (T,) are the tokens' centres in
    seconds; they are a buffer that is not saved (they follow from the window length).
    """

    def __init__(self, dim: int, times: torch.Tensor):
        super().__init__()
        self.scorer = nn.Linear(dim, 1, bias=False)
        self.offset = nn.Parameter(torch.zeros(()))
        self.scale = nn.Parameter(torch.tensor(LATENCY_SCALE_INIT))
        self.register_buffer("times", times.detach().clone().float(), persistent=False)
        self.t_mid = float(times.double().mean())
        self.last_weights: torch.Tensor | None = None
        self.last_expected_time: torch.Tensor | None = None

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if tokens.shape[1] != self.times.numel():
            raise ValueError(
                f"latency readout was built for {self.times.numel()} tokens (the recipe's window length), "
                f"got {tokens.shape[1]}"
            )
        scores = self.scorer(tokens).squeeze(-1)
        if scores.dtype in (torch.float16, torch.bfloat16):
            scores = scores.float()  # autocast: a bf16 expectation would round the times to ~0.01 s
        weights = torch.softmax(scores, dim=1)  # (B, T)
        expected = (weights * self.times.to(weights.dtype)).sum(dim=1)  # (B,) s after the stimulus; no matmul
        self.last_weights = weights.detach()
        self.last_expected_time = expected.detach()
        return self.offset + self.scale * (expected - self.t_mid)


def plot_readout_weights(
    weights: torch.Tensor | np.ndarray,
    times: torch.Tensor | np.ndarray | Sequence[float],
    path: str | Path,
    *,
    response_times: Sequence[float] | np.ndarray | None = None,
    expected_times: Sequence[float] | np.ndarray | None = None,
    n_windows: int = 6,
    title: str = "readout weights",
) -> Path:
    """One PNG: the readout weights over time of the first ``n_windows`` windows, one panel each.

    ``weights`` (B, T') and ``times`` (T',) as returned by a model's ``readout_weights()``
    (seconds after the stimulus). ``response_times`` (B,), when given, are marked as a solid
    vertical line (the true response; it may lie outside the window), ``expected_times`` (B,)
    (the latency readout's ``E[t]``, converted to seconds) as a dashed one. Returns ``path``.
    """
    from matplotlib.figure import Figure  # lazily: importing the models stays light

    w = np.asarray(weights.detach().cpu() if isinstance(weights, torch.Tensor) else weights, dtype=np.float64)
    t = np.asarray(times.detach().cpu() if isinstance(times, torch.Tensor) else times, dtype=np.float64)
    if w.ndim != 2 or w.shape[1] != t.shape[0]:
        raise ValueError(f"weights must be (windows, {t.shape[0]}) for {t.shape[0]} token times, got {w.shape}")
    for name, values in (("response_times", response_times), ("expected_times", expected_times)):
        if values is not None and len(values) != w.shape[0]:
            raise ValueError(f"{name} has {len(values)} entries for {w.shape[0]} windows")
    count = max(1, min(n_windows, w.shape[0]))
    cols = min(3, count)
    rows = math.ceil(count / cols)
    step = float(np.diff(t).min()) if len(t) > 1 else 0.04  # eeg-latency's edge slots sit further out
    lo, hi = float(t[0]) - 2 * step, float(t[-1]) + 2 * step  # the first and last bars whole
    for marks in (response_times, expected_times):  # a response before or after the window stays visible
        if marks is not None:
            shown = np.asarray(marks, dtype=np.float64)[:count]
            lo, hi = min(lo, float(shown.min()) - step), max(hi, float(shown.max()) + step)
    fig = Figure(figsize=(4.2 * cols, 2.6 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False, sharex=True, sharey=True).flat
    for i, ax in enumerate(axes):
        if i >= count:
            ax.axis("off")
            continue
        ax.bar(t, w[i], width=step * 0.9, color="tab:blue", alpha=0.8)
        ax.axhline(1 / len(t), color="grey", lw=0.8, ls=":", label="uniform")
        if response_times is not None:
            ax.axvline(float(response_times[i]), color="tab:red", lw=1.5, label="response")
        if expected_times is not None:
            ax.axvline(float(expected_times[i]), color="black", lw=1.2, ls="--", label="E[t]")
        ax.set_title(f"window {i}", fontsize=9)
        ax.set_xlim(lo, hi)
        if i % cols == 0:
            ax.set_ylabel("weight")
        if i >= count - cols:
            ax.set_xlabel("time after stimulus (s)")
        if i == 0:
            ax.legend(fontsize=7, loc="upper right")
    fig.suptitle(title, fontsize=10)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path
