"""The LSTM size solver: parameter counts checked by building the models and counting."""

from __future__ import annotations

import itertools

import pytest

from attn.bench.sizing import count_model_parameters, lstm_parameter_count, size_lstm_like, solve_lstm_hidden
from attn.models.char_lstm import CharLSTM, CharLSTMConfig
from attn.models.char_transformer import CharTransformer, CharTransformerConfig


def built_lstm_parameters(vocab: int, d_embed: int, hidden: int, layers: int) -> int:
    model = CharLSTM(
        CharLSTMConfig(n_layer=layers, d_embed=d_embed, hidden_size=hidden, block_size=8, dropout=0.0), vocab
    )
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    "vocab,d_embed,layers,hidden", [(24, 16, 1, 7), (65, 128, 2, 234), (65, 384, 3, 100), (300, 8, 2, 1)]
)
def test_count_formula_matches_a_built_model(vocab: int, d_embed: int, layers: int, hidden: int) -> None:
    assert lstm_parameter_count(vocab, d_embed, hidden, layers) == built_lstm_parameters(vocab, d_embed, hidden, layers)


@pytest.mark.parametrize(
    "vocab,d_embed,layers,target", list(itertools.product([24, 65], [16, 128], [1, 2, 3], [60_000, 300_000]))
)
def test_solver_picks_the_closest_hidden_size(vocab: int, d_embed: int, layers: int, target: int) -> None:
    hidden = solve_lstm_hidden(target, vocab, d_embed, layers)
    gap = abs(built_lstm_parameters(vocab, d_embed, hidden, layers) - target)
    for neighbour in (hidden - 1, hidden + 1):
        if neighbour >= 1:
            assert gap <= abs(built_lstm_parameters(vocab, d_embed, neighbour, layers) - target)
    assert gap / target < 0.10


def test_transformer_count_on_meta_equals_a_real_build_with_tied_weights() -> None:
    cfg = CharTransformerConfig(n_layer=2, n_head=2, d_model=32, block_size=16, dropout=0.0)
    real = CharTransformer(cfg, 40)
    assert real.head.weight is real.tok_emb.weight
    expected = sum(p.numel() for p in real.parameters())
    assert count_model_parameters("char-transformer", cfg, vocab_size=40) == expected


def test_sizing_a_builtin_transformer_within_tolerance() -> None:
    cfg = CharTransformerConfig(n_layer=4, n_head=4, d_model=128, block_size=64, dropout=0.0)
    target = count_model_parameters("char-transformer", cfg, vocab_size=65)
    size = size_lstm_like(target, 65, 128)
    built = built_lstm_parameters(65, 128, size.hidden_size, 2)
    assert size.parameters == built and size.target == target
    assert size.relative_difference == pytest.approx((built - target) / target)
    assert abs(size.relative_difference) < 0.01


def test_unreachable_target_and_bad_input_are_value_errors() -> None:
    with pytest.raises(ValueError, match="within 10%"):
        size_lstm_like(1_000, vocab_size=500, d_embed=64)  # the embedding alone is 32,000 parameters
    with pytest.raises(ValueError):
        solve_lstm_hidden(0, 65, 16)
    with pytest.raises(ValueError):
        solve_lstm_hidden(10_000, 65, 0)
