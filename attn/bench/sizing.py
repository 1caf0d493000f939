"""Sizing a baseline to a parameter budget: the char-LSTM hidden size that matches a transformer.

The LSTM keeps the transformer's width for its embedding (``d_embed = d_model``) and has
``n_layer`` (2) layers; only ``hidden_size`` is solved for. A ``char-lstm`` with vocabulary V,
embedding E, hidden size H and L layers has

    V*E                      embedding
  + 4H(E + H) + 8H           first LSTM layer (input and recurrent weights, two bias vectors)
  + (L - 1) * (8H^2 + 8H)    further layers (their input is the previous layer's H outputs)
  + H*V + V                  output head

parameters, a quadratic in H; the solver takes the integer H whose count is closest to the target.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

DEFAULT_LSTM_LAYERS = 2
DEFAULT_TOLERANCE = 0.10


def lstm_parameter_count(vocab_size: int, d_embed: int, hidden_size: int, n_layer: int) -> int:
    """Parameters of a ``char-lstm`` (see the module docstring for the formula)."""
    v, e, h, n = vocab_size, d_embed, hidden_size, n_layer
    return v * e + 4 * h * (e + h) + 8 * h + (n - 1) * (8 * h * h + 8 * h) + h * v + v


def solve_lstm_hidden(target: int, vocab_size: int, d_embed: int, n_layer: int = DEFAULT_LSTM_LAYERS) -> int:
    """The hidden size whose ``char-lstm`` parameter count is closest to ``target`` (at least 1)."""
    if min(vocab_size, d_embed, n_layer) < 1:
        raise ValueError(f"vocab_size, d_embed and n_layer must be positive (got {vocab_size}, {d_embed}, {n_layer})")
    if target < 1:
        raise ValueError(f"target parameter count must be positive (got {target})")
    # count(H) = a H^2 + b H + c
    a = 4 + 8 * (n_layer - 1)
    b = 4 * d_embed + 8 + 8 * (n_layer - 1) + vocab_size
    c = vocab_size * d_embed + vocab_size
    root = (-b + math.sqrt(max(b * b - 4 * a * (c - target), 0.0))) / (2 * a)
    candidates = {max(1, math.floor(root)), max(1, math.ceil(root))}
    return min(candidates, key=lambda h: (abs(lstm_parameter_count(vocab_size, d_embed, h, n_layer) - target), h))


def count_model_parameters(model_name: str, cfg: Any, **data_info: Any) -> int:
    """Parameters of a registered model, built on the meta device (no memory, no initialisation cost).

    Tied weights count once, as in ``sum(p.numel() for p in model.parameters())``.
    """
    from attn.models import build_model

    with torch.device("meta"):
        model = build_model(model_name, cfg, **data_info)
    return sum(p.numel() for p in model.parameters())


@dataclass(frozen=True)
class LSTMSize:
    """The solved LSTM and how close it is to its target."""

    n_layer: int
    d_embed: int
    hidden_size: int
    parameters: int
    target: int

    @property
    def relative_difference(self) -> float:
        """(LSTM - target) / target."""
        return (self.parameters - self.target) / self.target


def size_lstm_like(
    target: int, vocab_size: int, d_embed: int, n_layer: int = DEFAULT_LSTM_LAYERS, tolerance: float = DEFAULT_TOLERANCE
) -> LSTMSize:
    """The LSTM closest to ``target`` parameters; ValueError if even that is off by more than ``tolerance``.

    (A very small target cannot be met: the embedding and head alone may exceed it.)
    """
    hidden = solve_lstm_hidden(target, vocab_size, d_embed, n_layer)
    size = LSTMSize(n_layer, d_embed, hidden, lstm_parameter_count(vocab_size, d_embed, hidden, n_layer), target)
    if abs(size.relative_difference) > tolerance:
        raise ValueError(
            f"no {n_layer}-layer LSTM with d_embed {d_embed} and vocabulary {vocab_size} comes within "
            f"{tolerance:.0%} of {target:,} parameters (closest: hidden {hidden}, {size.parameters:,})"
        )
    return size
