"""Position information without learned tables: sinusoidal encodings (Vaswani et al., 2017) and
rotary embeddings (Su et al., 2021)."""

from __future__ import annotations

import math

import torch


def sinusoidal_positions(
    length: int, dim: int, *, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """``(length, dim)`` encodings: ``PE[p, 2i] = sin(p / 10000^(2i/dim))``, ``PE[p, 2i+1] = cos(...)``.

    ``dim`` must be even. Computed in float64 and cast to ``dtype``.
    """
    if length < 1 or dim < 2 or dim % 2:
        raise ValueError(f"sinusoidal_positions needs length >= 1 and an even dim >= 2, got {length}, {dim}")
    position = torch.arange(length, dtype=torch.float64)[:, None]
    frequency = torch.exp(torch.arange(0, dim, 2, dtype=torch.float64) * (-math.log(10000.0) / dim))
    angles = position * frequency
    encoding = torch.stack([angles.sin(), angles.cos()], dim=-1).reshape(length, dim)
    return encoding.to(device=device, dtype=dtype)


def rotary(x: torch.Tensor, positions: torch.Tensor | None = None, *, base: float = 10000.0) -> torch.Tensor:
    """Rotary position embedding (RoPE, Su et al., 2021) of ``x`` ``(..., T, dim)`` with ``dim`` even.

    The feature pair ``(x[..., 2i], x[..., 2i+1])`` of the row at position ``p`` is rotated by the
    angle ``p * base^(-2i/dim)`` (the frequencies of :func:`sinusoidal_positions`):
    ``(a, b) -> (a cos - b sin, a sin + b cos)``. Applied to queries and keys, it makes their dot
    product depend on the two positions only through their difference.

    ``positions`` ``(T,)`` defaults to ``0, 1, ..., T-1``. Computed in float32 (float64 for a
    float64 ``x``) and returned in ``x``'s dtype.
    """
    if x.dim() < 2 or x.shape[-1] < 2 or x.shape[-1] % 2:
        raise ValueError(f"rotary needs x of shape (..., T, dim) with an even dim >= 2, got {tuple(x.shape)}")
    length, dim = x.shape[-2:]
    if positions is None:
        positions = torch.arange(length, device=x.device)
    elif tuple(positions.shape) != (length,):
        raise ValueError(
            f"positions must have shape ({length},) to match x {tuple(x.shape)}, got {tuple(positions.shape)}"
        )
    work = torch.float64 if x.dtype == torch.float64 else torch.float32
    frequency = base ** (-torch.arange(0, dim, 2, device=x.device, dtype=work) / dim)  # (dim/2,)
    angles = positions.to(work)[:, None] * frequency  # (T, dim/2)
    cos, sin = angles.cos(), angles.sin()
    a, b = x.to(work).unflatten(-1, (dim // 2, 2)).unbind(-1)  # the two members of every pair
    rotated = torch.stack([a * cos - b * sin, a * sin + b * cos], dim=-1).flatten(-2)
    return rotated.to(x.dtype)
