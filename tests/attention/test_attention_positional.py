"""Sinusoidal encodings and rotary embeddings against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from attn.attention.positional import rotary, sinusoidal_positions


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


def rotate_by_hand(x: torch.Tensor, positions: list[int], base: float = 10000.0) -> torch.Tensor:
    """RoPE written out: pair (x[2i], x[2i+1]) of the row at position p turns by p / base^(2i/dim), in float64."""
    x = x.double()
    out = torch.empty_like(x)
    dim = x.shape[-1]
    for t, p in enumerate(positions):
        for i in range(dim // 2):
            angle = p / base ** (2 * i / dim)
            a, b = x[..., t, 2 * i], x[..., t, 2 * i + 1]
            out[..., t, 2 * i] = a * math.cos(angle) - b * math.sin(angle)
            out[..., t, 2 * i + 1] = a * math.sin(angle) + b * math.cos(angle)
    return out


@pytest.mark.parametrize("dtype, tolerance", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_rotary_equals_a_pairwise_rotation_by_hand(dtype: torch.dtype, tolerance: float) -> None:
    x = torch.randn(2, 3, 7, 6, generator=torch.Generator().manual_seed(0), dtype=dtype)
    got = rotary(x)
    assert got.dtype == dtype and got.shape == x.shape
    torch.testing.assert_close(got.double(), rotate_by_hand(x, list(range(7))), rtol=0, atol=tolerance)
    positions = [5, 0, 12, 3, 3, 40, 1]
    torch.testing.assert_close(
        rotary(x, torch.tensor(positions), base=100.0).double(),
        rotate_by_hand(x, positions, base=100.0),
        rtol=0,
        atol=tolerance,
    )
    # A rotation keeps every pair's length; position 0 is not rotated at all.
    torch.testing.assert_close(got.norm(dim=-1), x.norm(dim=-1))
    torch.testing.assert_close(got[..., 0, :], x[..., 0, :], rtol=0, atol=0)


def test_rotary_scores_depend_only_on_the_relative_position() -> None:
    g = torch.Generator().manual_seed(1)
    q, k = torch.randn(1, 16, generator=g, dtype=torch.float64), torch.randn(1, 16, generator=g, dtype=torch.float64)

    def score(i: int, j: int) -> float:
        return float(rotary(q, torch.tensor([i])) @ rotary(k, torch.tensor([j])).T)

    for i, j in [(0, 0), (5, 2), (2, 5), (17, 0), (3, 30)]:
        for shift in (1, 7, 100):
            assert score(i + shift, j + shift) == pytest.approx(score(i, j), abs=1e-10)
    assert score(5, 2) != pytest.approx(score(2, 5), abs=1e-3)  # the offset matters, and its sign


@pytest.mark.parametrize("shape", [(4, 5), (5,), (3, 0)])
def test_rotary_rejects_odd_or_missing_feature_dims(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="even dim"):
        rotary(torch.zeros(shape))
    with pytest.raises(ValueError, match="positions must have shape"):
        rotary(torch.zeros(3, 4), torch.arange(4))
