"""Sinusoidal position encodings against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from attn.attention.positional import sinusoidal_positions


def test_values_match_the_formula_computed_by_hand():
    pe = sinusoidal_positions(3, 4, dtype=torch.float64)
    expected = torch.tensor(
        [[math.sin(p), math.cos(p), math.sin(p / 100.0), math.cos(p / 100.0)] for p in range(3)], dtype=torch.float64
    )  # 10000 ** (2 / 4) = 100
    torch.testing.assert_close(pe, expected, rtol=0, atol=1e-15)


def test_every_position_is_distinct_and_bounded():
    pe = sinusoidal_positions(50, 256)
    assert pe.shape == (50, 256) and pe.dtype == torch.float32
    assert pe.abs().max() <= 1.0
    assert torch.cdist(pe, pe).add(torch.eye(50) * 10).min() > 0.1  # no two positions coincide


@pytest.mark.parametrize("length, dim", [(0, 4), (5, 3), (5, 0)])
def test_bad_shapes_are_rejected(length, dim):
    with pytest.raises(ValueError, match="even dim"):
        sinusoidal_positions(length, dim)
