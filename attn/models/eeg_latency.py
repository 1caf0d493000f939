"""`eeg-latency`: a small attention model that reads the response time off a softmax over time.

The response time is *when* something happens in the window, so this model asks that directly
(the framing two of the top five Challenge 1 teams used, issue #12). Each window goes through

1. **spatial filters**: a bias-free linear map of the 129 channels to ``model.spatial_filters``
   virtual channels (the spatial filters of classical ERP analysis), then a BatchNorm without
   affine parameters, so the model does not depend on the scale of the input (microvolts);
2. **two temporal conv blocks** (``Conv1d -> BatchNorm -> GELU -> Dropout``, kernels
   ``model.kernel_size`` and 9, "same" padding): features at every sample, no pooling;
3. **attention over time**: one score per sample ``s_t = <u, h_t> + b_t`` (a learned prior
   ``b`` over the window's samples) and two more slots for "before the window" and "after the
   window" (scored from the time-averaged features, at learned times below 0.5 s and above
   2.5 s: a response can happen outside the window); ``w = softmax(s)`` over the 202 slots is the
   model's belief about when the decision happened;
4. **the prediction** ``a * (E[t] - t_mid) + c * sd[t] + d``: the belief's expected time and its
   spread (in seconds; ``t_mid`` = 1.5 s, the centre of the window), in standardised target
   units. ``a`` starts at 1 / 0.4 s (the simulator's RT standard deviation), ``c`` and ``d`` at
   zero: moving the belief by 0.4 s moves the prediction by one standard deviation.

Options: ``model.heads`` > 1 runs several such softmaxes (each head's mean and spread feed the
prediction; the maps show their average), ``model.context_layers`` > 0 puts torch
``TransformerEncoderLayer`` s over the samples before the scores (neither helped on the simulated
data: BENCHMARKS.md).

About 13k parameters at the defaults (129 channels), against 846k for the seed's sparse CNN, and
better on held-out subjects (BENCHMARKS.md, "eeg-latency, a model that asks when"). The
weights ``w`` are what ``attn eval --attention-maps`` draws for each window (the
:class:`~attn.models.registry.HasReadoutWeights` protocol, ``readout_kind`` ``latency``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from attn.errors import RecipeError
from attn.models.eeg_layers import check_windows
from attn.models.eeg_readouts import LATENCY_SCALE_INIT, SFREQ, WINDOW_START_S
from attn.models.registry import register_model
from attn.schema import option

EDGE_GAP_INIT_S = 0.3
"""How far outside the window the edge slots start (s); learned from there."""


@dataclass
class EEGLatencyConfig:
    """The ``model`` section of an eeg-latency recipe."""

    spatial_filters: int = option(4, help="virtual channels the spatial filters map the EEG channels to", min=1)
    hidden: int = option(32, help="features per sample in the temporal conv blocks", min=1)
    kernel_size: int = option(
        25, help="samples the first temporal convolution spans (25 = 0.25 s at 100 Hz; odd)", min=1
    )
    dropout: float = option(0.3, help="dropout after each temporal conv block", min=0, max=1, max_exclusive=True)
    context_layers: int = option(
        0,
        help="pre-norm transformer encoder layers (torch's, 4 heads) over the samples before the scores: "
        "each sample's score can then see the whole window",
        min=0,
    )
    heads: int = option(1, help="softmaxes over time, each with its own scores, prior and edge-slot scores", min=1)
    edge_slots: bool = option(
        True,
        help="add 'before the window' and 'after the window' slots to the softmax over time "
        "(a response can fall outside the 2 s window)",
    )


class TimeAttention(nn.Module):
    """``heads`` softmaxes over time of ``(B, C, T)`` features, each at every sample (and two edge slots).

    Head ``h`` scores slot ``t`` with ``<u_h, x_t> + b_ht``; its belief ``w_h`` gives a mean time
    ``E_h`` and a spread ``sd_h``; the prediction (B,) is ``sum_h a_h * (E_h - t_mid) + c_h * sd_h + d``.
    Keeps the heads' mean weights (B, slots) and mean expected time (B,) of the last forward
    pass, detached (the mean weights' expectation is the mean of the heads' expectations).
    """

    def __init__(self, hidden: int, n_times: int, *, heads: int = 1, edge_slots: bool = True):
        super().__init__()
        times = WINDOW_START_S + torch.arange(n_times, dtype=torch.float64) / SFREQ
        self.register_buffer("sample_times", times, persistent=False)  # float64: E[t] is cast down once
        self.t_mid = float(times.mean())
        self.heads = heads
        self.scorer = nn.Conv1d(hidden, heads, 1)
        self.prior = nn.Parameter(torch.zeros(heads, n_times))
        self.edges = nn.Linear(hidden, 2 * heads) if edge_slots else None
        # before = start - gap, after = end + gap, gap = 1 / SFREQ + softplus(.): the edge slots stay outside
        gap = math.log(math.expm1(EDGE_GAP_INIT_S - 1 / SFREQ))  # 1 / SFREQ + softplus(gap) = EDGE_GAP_INIT_S
        self.edge_gaps = nn.Parameter(torch.full((2,), gap)) if edge_slots else None
        self.out = nn.Linear(2 * heads, 1)  # inputs: the heads' E - t_mid, then the heads' sd
        with torch.no_grad():
            self.out.weight.zero_()
            self.out.weight[0, :heads] = LATENCY_SCALE_INIT / heads
            self.out.bias.zero_()
        self.last_weights: torch.Tensor | None = None
        self.last_expected_time: torch.Tensor | None = None

    def slot_times(self) -> torch.Tensor:
        """Times (s after the stimulus) of the softmax's slots, in increasing order."""
        if self.edges is None:
            return self.sample_times
        gaps = 1 / SFREQ + F.softplus(self.edge_gaps)  # at least one sample outside the window
        times = self.sample_times.to(gaps.dtype)
        return torch.cat([(times[0] - gaps[0]).view(1), times, (times[-1] + gaps[1]).view(1)])

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        scores = self.scorer(features) + self.prior  # (B, heads, T)
        if self.edges is not None:
            before, after = self.edges(features.mean(dim=2)).view(-1, self.heads, 2).unbind(-1)
            scores = torch.cat([before[..., None], scores, after[..., None]], dim=2)
        if scores.dtype in (torch.float16, torch.bfloat16):
            scores = scores.float()  # autocast: a bf16 expectation would round the times to ~0.01 s
        weights = torch.softmax(scores, dim=2)
        times = self.slot_times().to(weights.dtype)
        expected = weights @ times  # (B, heads)
        spread = (weights @ times.square() - expected.square()).clamp_min(1e-8).sqrt()
        self.last_weights = weights.detach().mean(dim=1)
        self.last_expected_time = expected.detach().mean(dim=1)
        moments = torch.cat([expected - self.t_mid, spread], dim=1)
        return self.out(moments.to(self.out.weight.dtype)).squeeze(-1)


class EEGLatency(nn.Module):
    """Spatial filters -> two temporal conv blocks -> :class:`TimeAttention` -> one prediction per window."""

    name = "eeg-latency"
    readout_kind = "latency"

    def __init__(self, cfg: EEGLatencyConfig, n_channels: int, n_times: int):
        super().__init__()
        self.n_channels = n_channels
        self.spatial = nn.Sequential(
            nn.Conv1d(n_channels, cfg.spatial_filters, 1, bias=False),
            nn.BatchNorm1d(cfg.spatial_filters, affine=False),
        )
        self.temporal = nn.Sequential(
            _temporal_block(cfg.spatial_filters, cfg.hidden, cfg.kernel_size, cfg.dropout),
            _temporal_block(cfg.hidden, cfg.hidden, 9, cfg.dropout),
        )
        self.context = nn.ModuleList(
            nn.TransformerEncoderLayer(
                cfg.hidden, 4, 2 * cfg.hidden, cfg.dropout, activation="gelu", batch_first=True, norm_first=True
            )
            for _ in range(cfg.context_layers)
        )
        self.readout = TimeAttention(cfg.hidden, n_times, heads=cfg.heads, edge_slots=cfg.edge_slots)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_windows(x, self.n_channels, self.name)
        if x.shape[2] != self.readout.prior.shape[1]:
            raise ValueError(
                f"{self.name} was built for windows of {self.readout.prior.shape[1]} samples, got {x.shape[2]}"
            )
        features = self.temporal(self.spatial(x))  # (B, hidden, T)
        if len(self.context):
            tokens = features.transpose(1, 2)
            for layer in self.context:
                tokens = layer(tokens)
            features = tokens.transpose(1, 2)
        return self.readout(features)

    def readout_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(weights (B, slots), slot times (slots,) in s after the stimulus)`` of the last forward pass."""
        if self.readout.last_weights is None:
            raise RuntimeError(f"{self.name} has no readout weights before its first forward pass")
        weights = self.readout.last_weights
        return weights, self.readout.slot_times().detach().to(weights.device)

    def latency_expected_time(self) -> torch.Tensor:
        """``E[t]`` (B,) in seconds after the stimulus from the last forward pass."""
        if self.readout.last_expected_time is None:
            raise RuntimeError(f"{self.name} has no readout weights before its first forward pass")
        return self.readout.last_expected_time


def _temporal_block(in_channels: int, out_channels: int, kernel_size: int, dropout: float) -> nn.Sequential:
    """``Conv1d ("same" padding) -> BatchNorm1d -> GELU -> Dropout``."""
    return nn.Sequential(
        nn.Conv1d(in_channels, out_channels, kernel_size, padding=kernel_size // 2),
        nn.BatchNorm1d(out_channels),
        nn.GELU(),
        nn.Dropout(dropout),
    )


@register_model(
    "eeg-latency",
    task="eeg",
    config=EEGLatencyConfig,
    description="spatial filters, 2 temporal conv blocks, a softmax over time whose expected time is the "
    "response time (about 13k params; attention maps: the belief over time)",
)
def build_eeg_latency(cfg: EEGLatencyConfig, *, n_channels: int, n_times: int) -> EEGLatency:
    if cfg.kernel_size % 2 == 0:
        raise RecipeError(f'model.kernel_size must be odd ("same" padding keeps every sample); got {cfg.kernel_size}')
    return EEGLatency(cfg, n_channels, n_times)
