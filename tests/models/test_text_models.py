"""Text models and the language-model task, checked against independent computations."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from attn.datasets.text import Corpus, TextData, Vocabulary
from attn.models.char_lstm import CharLSTM, CharLSTMConfig
from attn.models.char_transformer import CharTransformer, CharTransformerConfig
from attn.tasks.text import LanguageModelTask
from attn.training.device import resolve_runtime
from attn.training.distributed import World


def transformer(**kw: object) -> CharTransformer:
    cfg = CharTransformerConfig(**{"n_layer": 2, "n_head": 2, "d_model": 32, "block_size": 16, "dropout": 0.0, **kw})
    torch.manual_seed(0)
    return CharTransformer(cfg, vocab_size=11).eval()


def test_transformer_is_causal() -> None:
    model = transformer()
    x = torch.randint(11, (2, 16))
    y = x.clone()
    y[:, 9:] = torch.randint(11, (2, 7))  # change only the future of position 8
    assert torch.allclose(model(x)[:, :9], model(y)[:, :9], atol=1e-6)
    assert not torch.allclose(model(x)[:, 9:], model(y)[:, 9:])


def test_manual_and_sdpa_backends_give_the_same_logits() -> None:
    fused, manual = transformer(attention="sdpa"), transformer(attention="manual")
    manual.load_state_dict(fused.state_dict())
    x = torch.randint(11, (3, 16))
    assert torch.allclose(fused(x), manual(x), atol=1e-5)


def test_embeddings_are_tied_and_parameters_counted_once() -> None:
    model = transformer(bias=False)
    assert model.head.weight is model.tok_emb.weight
    d, v, t, layers = 32, 11, 16, 2
    # per block: 2 LayerNorms (weights only) + q,k,v,out projections + MLP d->4d->d (no biases)
    per_block = 2 * d + 4 * d * d + 2 * 4 * d * d
    expected = v * d + t * d + layers * per_block + d
    assert model.num_params() == expected
    assert model.flops_per_token() == 6 * (expected - t * d) + 12 * layers * d * t


def test_context_longer_than_block_size_is_refused() -> None:
    with pytest.raises(ValueError, match="longer than block_size 16"):
        transformer()(torch.zeros(1, 17, dtype=torch.long))


def test_lstm_stepwise_state_equals_full_sequence() -> None:
    torch.manual_seed(0)
    model = CharLSTM(CharLSTMConfig(n_layer=2, d_embed=8, hidden_size=12, block_size=10, dropout=0.0), 7).eval()
    x = torch.randint(7, (2, 10))
    full = model(x)
    state, steps = None, []
    for t in range(10):
        logits, state = model.forward_with_state(x[:, t : t + 1], state)
        steps.append(logits)
    assert torch.allclose(full, torch.cat(steps, dim=1), atol=1e-5)


def test_full_split_loss_equals_a_token_by_token_reference() -> None:
    """Every validation token after the first is predicted exactly once, with in-window context."""
    vocab = Vocabulary(list("abcdefghijk"))
    g = torch.Generator().manual_seed(3)
    val = torch.randint(11, (45,), generator=g).numpy()
    data = TextData(vocab, [Corpus("c", torch.randint(11, (80,), generator=g).numpy(), val)])
    model = transformer().double()
    task = LanguageModelTask(data, block_size=16, eval_batches=1, seed=0)
    runtime = resolve_runtime("cpu", "fp32", False)
    task.setup(runtime, World(), batch_size=2)
    got = task.evaluate(model, runtime, full=True)["val_loss"]
    # Reference: windows start at 0, 16, 32; the last one is shorter (45 - 1 = 44 targets in all).
    total, count = 0.0, 0
    tokens = torch.as_tensor(val)
    for start in range(0, 44, 16):
        inputs = tokens[start : min(start + 16, 44)]
        targets = tokens[start + 1 : start + 1 + len(inputs)]
        logits = model(inputs[None].long())[0]
        for i in range(len(inputs)):
            total += -F.log_softmax(logits[i], -1)[targets[i]].item()
            count += 1
    assert count == 44
    assert got == pytest.approx(total / count, rel=1e-9)


def test_bits_per_char_and_perplexity_follow_from_the_loss() -> None:
    vocab = Vocabulary(list("abcdefghijk"))
    data = TextData(vocab, [Corpus("c", torch.randint(11, (200,)).numpy(), torch.randint(11, (100,)).numpy())])
    task = LanguageModelTask(data, block_size=16, eval_batches=3, seed=0)
    runtime = resolve_runtime("cpu", "fp32", False)
    task.setup(runtime, World(), batch_size=4)
    metrics = task.evaluate(transformer(), runtime)
    assert metrics["val_bpc"] == pytest.approx(metrics["val_loss"] / math.log(2))
    assert metrics["val_perplexity"] == pytest.approx(math.exp(metrics["val_loss"]))
    # Sampled evaluation uses the same windows every time.
    assert task.evaluate(transformer(), runtime)["val_loss"] == metrics["val_loss"]
