"""The char-transformer's key/value cache: cached logits equal the uncached forward over the whole text so far."""

from __future__ import annotations

import pytest
import torch

from attn.models.char_lstm import CharLSTM, CharLSTMConfig
from attn.models.char_transformer import CharTransformer, CharTransformerConfig
from attn.models.registry import CachesKeys

VOCAB = 13


def model(**kw: object) -> CharTransformer:
    cfg = CharTransformerConfig(**{"n_layer": 2, "n_head": 2, "d_model": 16, "block_size": 12, "dropout": 0.0, **kw})
    torch.manual_seed(0)
    return CharTransformer(cfg, vocab_size=VOCAB).double().eval()


VARIANTS = [
    {},
    {"position": "rope"},
    {"position": "rope", "qk_norm": True, "norm": "rmsnorm", "mlp": "swiglu", "tie_embeddings": False},
    {"attention": "manual", "bias": True},
]


@pytest.mark.parametrize("options", VARIANTS, ids=lambda o: "-".join(map(str, o.values())) or "default")
def test_prompt_then_one_token_at_a_time_equals_the_full_forward(options: dict) -> None:
    net = model(**options)
    tokens = torch.randint(VOCAB, (3, net.block_size), generator=torch.Generator().manual_seed(1))
    cache = net.new_cache(3)
    with torch.no_grad():
        prompt = 5
        cached = [net.forward_cached(tokens[:, :prompt], cache)]
        for t in range(prompt, net.block_size):
            cached.append(net.forward_cached(tokens[:, t : t + 1], cache))
        full = net(tokens)
    assert cache.length == net.block_size and cache.full
    torch.testing.assert_close(torch.cat(cached, dim=1), full, rtol=1e-10, atol=1e-10)


def test_the_cache_refuses_what_it_cannot_hold_or_order() -> None:
    net = model()
    cache = net.new_cache(1)
    with torch.no_grad():
        net.forward_cached(torch.zeros(1, 4, dtype=torch.long), cache)
        with pytest.raises(ValueError, match="one token per call"):
            net.forward_cached(torch.zeros(1, 2, dtype=torch.long), cache)
        with pytest.raises(ValueError, match="exceed"):
            net.forward_cached(torch.zeros(1, 9, dtype=torch.long), cache)  # 4 + 9 > block_size 12


def test_only_the_transformer_declares_a_cache() -> None:
    assert isinstance(model(), CachesKeys)
    assert not isinstance(CharLSTM(CharLSTMConfig(n_layer=1, d_embed=8, hidden_size=16), vocab_size=VOCAB), CachesKeys)


@pytest.mark.parametrize("options", VARIANTS, ids=lambda o: "-".join(map(str, o.values())) or "default")
def test_a_decoding_step_at_a_device_position_equals_the_full_forward(options: dict) -> None:
    """decode_step (fixed shapes, the position as a tensor: what a CUDA graph replays) against the plain forward
    over every token so far, in float64; stale values left in the cache beyond the position must not count."""
    net = model(**options)
    tokens = torch.randint(VOCAB, (3, net.block_size), generator=torch.Generator().manual_seed(1))
    cache = net.new_cache(3)
    cache.keys.normal_(generator=torch.Generator().manual_seed(2))  # what an earlier text left behind
    cache.values.normal_(generator=torch.Generator().manual_seed(3))
    full = net(tokens)
    with torch.no_grad():
        prompt = 4
        net.forward_cached(tokens[:, :prompt], cache)
        for t in range(prompt, net.block_size):
            logits = net.decode_step(tokens[:, t : t + 1], cache, torch.tensor(t))
            torch.testing.assert_close(logits, full[:, t], rtol=1e-10, atol=1e-10)
    assert cache.length == prompt  # the caller counts the decoded tokens
