"""Exact parameter counts of the EEG models, worked out layer by layer from their descriptions."""

from __future__ import annotations

import pytest

from attn.models.eeg_cnn import EEGCNN, EEGCNNConfig
from attn.models.eeg_sparse import (
    EEGSparseImproved,
    EEGSparseImprovedConfig,
    EEGSparseLightweight,
    EEGSparseLightweightConfig,
)


def conv(c_in: int, c_out: int, k: int) -> int:
    return c_in * c_out * k + c_out  # weight + bias


def batchnorm(c: int) -> int:
    return 2 * c  # weight + bias (running stats are buffers)


def linear(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out


def layernorm(c: int) -> int:
    return 2 * c


def sparse_attention(h: int) -> int:
    return 4 * linear(h, h)  # q, k, v and output projections: 4H^2 + 4H


def channel_attention(c: int, r: int) -> int:
    return 2 * c * (c // r)  # bias-free C -> C//r -> C


def temporal_attention(k: int) -> int:
    return 2 * k  # bias-free Conv1d(2, 1, k)


def sparse_block(h: int, f: int) -> int:
    """Sparse attention + residual + one LayerNorm, then FFN h -> f -> h + residual."""
    return sparse_attention(h) + layernorm(h) + linear(h, f) + linear(f, h)


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def cnn_count(c: int) -> int:
    convs = conv(c, 32, 7) + batchnorm(32) + conv(32, 64, 5) + batchnorm(64) + conv(64, 128, 3) + batchnorm(128)
    return convs + linear(128, 64) + linear(64, 32) + linear(32, 1)


def lightweight_count(c: int) -> int:
    return (
        channel_attention(c, 16)
        + conv(c, 128, 7)
        + batchnorm(128)
        + conv(128, 256, 5)
        + batchnorm(256)
        + sparse_block(256, 512)
        + linear(256, 128)
        + linear(128, 32)
        + linear(32, 1)
    )


def improved_count(c: int) -> int:
    return (
        channel_attention(c, 8)
        + temporal_attention(7)
        + conv(c, 256, 7)
        + batchnorm(256)
        + conv(256, 512, 5)
        + batchnorm(512)
        + conv(512, 512, 3)
        + batchnorm(512)
        + 2 * sparse_block(512, 1024)
        + linear(2 * 512, 256)
        + linear(256, 64)
        + linear(64, 1)  # avg + max pooled: 1024 in
    )


def test_stated_totals_agree_with_the_layer_arithmetic():
    assert cnn_count(129) == 74_753
    assert lightweight_count(129) == 846_289
    assert improved_count(129) == 6_163_375


@pytest.mark.parametrize("channels", [129, 64])
def test_models_have_exactly_the_described_parameters(channels):
    assert n_params(EEGCNN(EEGCNNConfig(), channels)) == cnn_count(channels)
    assert n_params(EEGSparseLightweight(EEGSparseLightweightConfig(), channels)) == lightweight_count(channels)
    assert n_params(EEGSparseImproved(EEGSparseImprovedConfig(), channels)) == improved_count(channels)


def test_parts_match_their_share_of_the_count():
    light = EEGSparseLightweight(EEGSparseLightweightConfig(), 129)
    assert n_params(light.gates) == channel_attention(129, 16)
    assert n_params(light.blocks) == sparse_block(256, 512)
    assert n_params(light.head) == linear(256, 128) + linear(128, 32) + linear(32, 1)
    improved = EEGSparseImproved(EEGSparseImprovedConfig(), 129)
    assert n_params(improved.gates) == channel_attention(129, 8) + temporal_attention(7)
    assert n_params(improved.blocks) == 2 * sparse_block(512, 1024)
    assert n_params(improved.features) == (
        conv(129, 256, 7) + batchnorm(256) + conv(256, 512, 5) + batchnorm(512) + conv(512, 512, 3) + batchnorm(512)
    )
    cnn = EEGCNN(EEGCNNConfig(), 129)
    assert n_params(cnn.head) == linear(128, 64) + linear(64, 32) + linear(32, 1)


@pytest.mark.parametrize("channels", [129, 64])
def test_readouts_change_the_counts_by_their_own_parameters(channels):
    cfg_l, cfg_i = EEGSparseLightweightConfig, EEGSparseImprovedConfig
    light_head = linear(256, 128) + linear(128, 32) + linear(32, 1)
    improved_head = linear(1024, 256) + linear(256, 64) + linear(64, 1)
    cases = {
        ("light", "attention"): (
            EEGSparseLightweight(cfg_l(readout="attention"), channels),
            lightweight_count(channels) + 256,
        ),
        ("light", "latency"): (
            EEGSparseLightweight(cfg_l(readout="latency"), channels),
            lightweight_count(channels) - light_head + 256 + 2,
        ),
        ("improved", "attention"): (
            EEGSparseImproved(cfg_i(readout="attention"), channels),  # attention-pooled 512 into the head, not 1024
            improved_count(channels) - linear(1024, 256) + linear(512, 256) + 512,
        ),
        ("improved", "latency"): (
            EEGSparseImproved(cfg_i(readout="latency"), channels),
            improved_count(channels) - improved_head + 512 + 2,
        ),
    }
    for key, (model, expected) in cases.items():
        assert n_params(model) == expected, key
    assert lightweight_count(129) + 256 == 846_545 and improved_count(129) - improved_head + 514 == 5_884_976
