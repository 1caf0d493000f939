"""The LSTM side of `attn bench vs lstm`: its own swept lr and dropout, AdamW, and the recipe's trainer features."""

from __future__ import annotations

import pytest

from attn.bench.vs_lstm import TUNED_LSTM, lstm_recipe, lstm_tuning
from attn.errors import UserError
from attn.recipe import load_recipe


@pytest.mark.parametrize("name", sorted(TUNED_LSTM))
def test_every_row_of_the_sweep_table_names_a_builtin_recipe_and_says_where_it_comes_from(name: str) -> None:
    transformer = load_recipe(name)
    tuning = lstm_tuning(transformer, None, None)
    row = TUNED_LSTM[name]
    assert (tuning["lr"], tuning["dropout"]) == (row.lr, row.dropout)
    assert row.source in tuning["lr_source"] and "sweep table" in tuning["dropout_source"]


def test_the_gpu_rows_are_never_weaker_than_the_issue_probe() -> None:
    # The H200 probe of issue #11: dropout 0.4 beat 0.3 and 0.2 for the 10.7M-parameter LSTM.
    assert TUNED_LSTM["shakespeare_char"].dropout == TUNED_LSTM["shakespeare_char_fast"].dropout == 0.4


def test_command_line_settings_win_and_untuned_recipes_say_so() -> None:
    transformer = load_recipe("alice_char")
    tuning = lstm_tuning(transformer, None, None)
    assert tuning["lr"] == transformer.train.lr and "no swept LSTM settings" in tuning["lr_source"]
    assert tuning["dropout"] == transformer.model.dropout and "no swept LSTM settings" in tuning["dropout_source"]
    given = lstm_tuning(load_recipe("shakespeare_char"), 1e-3, 0.25)
    assert (given["lr"], given["lr_source"], given["dropout"], given["dropout_source"]) == (
        1e-3,
        "--lstm-lr",
        0.25,
        "--lstm-dropout",
    )
    with pytest.raises(UserError, match="--lstm-dropout"):
        lstm_tuning(transformer, None, 1.0)


def test_the_lstm_shares_every_trainer_feature_but_trains_with_adamw() -> None:
    transformer = load_recipe(
        "shakespeare_char_cpu",
        ["train.optimizer=muon", "train.ema_decay=0.998", "train.schedule=wsd", "train.grad_accum_steps=2"],
    )
    lstm, _ = lstm_recipe(transformer, 65, 8e-3, 0.3)
    mine, theirs = lstm.to_dict()["train"], transformer.to_dict()["train"]
    assert mine["optimizer"] == "adamw" and mine["lr"] == 8e-3 and lstm.model.dropout == 0.3
    assert mine["min_lr"] == pytest.approx(transformer.train.min_lr * 8e-3 / transformer.train.lr)
    different = {k for k in theirs if mine[k] != theirs[k]}
    assert different == {"optimizer", "lr", "min_lr"}  # ema_decay, schedule, accumulation... are shared
