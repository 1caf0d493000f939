"""The trainer's recipe keys: ranges and combinations are checked like every other key."""

from __future__ import annotations

import pytest

from attn.errors import RecipeError
from attn.recipe import describe_recipe_keys, load_recipe

NEW_KEYS = ("optimizer", "muon_lr", "muon_momentum", "muon_weight_decay", "schedule", "decay_fraction")
NEW_KEYS += ("ema_decay", "grad_accum_steps", "eval_interval_s", "muon_ns_steps")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.optimizer=sgd", "'train.optimizer' must be one of 'adamw', 'muon'"),
        ("train.schedule=linear", "'train.schedule' must be one of 'cosine', 'constant', 'wsd'"),
        ("train.ema_decay=1.0", "'train.ema_decay'"),
        ("train.ema_decay=0", "'train.ema_decay'"),
        ("train.decay_fraction=0", "'train.decay_fraction'"),
        ("train.decay_fraction=1.5", "'train.decay_fraction'"),
        ("train.muon_lr=0", "'train.muon_lr'"),
        ("train.muon_momentum=1", "'train.muon_momentum'"),
        ("train.muon_ns_steps=0", "'train.muon_ns_steps'"),
        ("train.eval_batches=1000000000000", "'train.eval_batches'"),
        ("train.max_steps=" + "9" * 5000, "has a value that cannot be read"),
        ("train.grad_accum_steps=0", "'train.grad_accum_steps'"),
        ("train.grad_accum_steps=25", "'train.grad_accum_steps' must be <= train.batch_size (24)"),
        ("train.eval_interval_s=0", "'train.eval_interval_s'"),
    ],
)
def test_out_of_range_values_name_the_key(override: str, message: str) -> None:
    with pytest.raises(RecipeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_recipe("shakespeare_char_cpu", [override])


def test_settings_of_an_option_that_is_off_are_allowed_and_unused() -> None:
    off = ["train.optimizer=adamw", "train.schedule=cosine"]
    recipe = load_recipe("shakespeare_char_cpu", [*off, "train.muon_lr=0.05", "train.decay_fraction=0.3"])
    assert recipe.train.optimizer == "adamw" and recipe.train.schedule == "cosine"
    assert recipe.train.muon_lr == 0.05 and recipe.train.decay_fraction == 0.3


def test_every_new_key_is_documented() -> None:
    (title, rows), *_ = describe_recipe_keys("text")
    documented = {name: meaning for name, _, _, meaning in rows}
    assert title == "train"
    for key in NEW_KEYS:
        assert len(documented[key]) > 20, key
