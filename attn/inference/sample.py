"""Sampling text from a trained character model, one token at a time."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn
from torch.nn import functional as F

from attn.errors import UserError
from attn.models.registry import Recurrent


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
    if temperature <= 0:
        raise UserError(f"--temperature must be > 0 (got {temperature})")
    idx = prompt[None, :]
    stateful = isinstance(model, Recurrent)
    state = None
    feed = idx
    for _ in range(length):
        if stateful:
            logits, state = model.forward_with_state(feed, state)
        else:
            logits = model(idx[:, -model.block_size :])
        logits = logits[:, -1, :].float() / temperature
        if top_k is not None:
            k = min(top_k, logits.size(-1))
            kth = torch.topk(logits, k).values[:, -1, None]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        probs = F.softmax(logits, dim=-1)
        next_id = torch.multinomial(probs.cpu(), 1, generator=generator).to(idx.device)
        idx = torch.cat([idx, next_id], dim=1)
        feed = next_id
        yield int(next_id)
