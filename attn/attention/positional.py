"""Fixed sinusoidal position encodings (Vaswani et al., 2017): no parameters to learn."""

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
