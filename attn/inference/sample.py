"""Sampling text from a trained character model, one token at a time."""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch import nn
from torch.nn import functional as F

from attn.errors import UserError
from attn.models.registry import Recurrent


def check_temperature(temperature: float) -> None:
    """A sampling temperature must be a finite number > 0 (nan, inf and negatives are refused)."""
    if not (math.isfinite(temperature) and temperature > 0):
        raise UserError(f"--temperature must be a finite number > 0 (got {temperature})")


def next_token_probabilities(logits: torch.Tensor, temperature: float, top_k: int | None = None) -> torch.Tensor:
    """softmax(logits / temperature) over the last axis, in float64 on the CPU, among the ``top_k`` most likely.

    The logits are shifted so that their maximum is 0 before dividing: no temperature, however
    small, can overflow (the distribution tends to the most likely token instead).
    """
    logits = logits.detach().to("cpu", torch.float64)
    if top_k is not None:
        k = min(top_k, logits.size(-1))
        kth = torch.topk(logits, k).values[..., -1, None]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    shifted = logits - logits.max(dim=-1, keepdim=True).values
    return F.softmax(shifted / temperature, dim=-1)


@torch.no_grad()
def sample_tokens(
    model: nn.Module,
    prompt: torch.Tensor,
    length: int,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
) -> Iterator[int]:
    """Yield ``length`` sampled token ids continuing ``prompt`` (1-D tensor on the model's device).

    Transformers see at most their last ``block_size`` tokens (longer prompts are cropped);
    an LSTM carries its state, so it reads the prompt once and then one token per step.
    """
    check_temperature(temperature)
    idx = prompt[None, :]
    stateful = isinstance(model, Recurrent)
    state = None
    feed = idx
    for _ in range(length):
        if stateful:
            logits, state = model.forward_with_state(feed, state)
        else:
            logits = model(idx[:, -model.block_size :])
        probs = next_token_probabilities(logits[:, -1, :], temperature, top_k)
        next_id = torch.multinomial(probs, 1, generator=generator).to(idx.device)
        idx = torch.cat([idx, next_id], dim=1)
        feed = next_id
        yield int(next_id)
