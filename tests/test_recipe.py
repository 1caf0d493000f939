"""Recipes: every built-in one loads, and every kind of mistake is named precisely."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from attn.errors import RecipeError
from attn.recipe import apply_overrides, builtin_recipes, load_recipe, parse_recipe, recipe_from_dict

TEXT = {
    "name": "r",
    "data": {"corpora": ["alice"]},
    "model": {"name": "char-transformer", "n_layer": 2, "n_head": 2, "d_model": 32, "block_size": 16},
    "train": {"max_steps": 10},
}


def parse(raw: dict) -> object:
    return parse_recipe(raw, "r")


def with_key(section: str, key: str, value: object) -> dict:
    raw = yaml.safe_load(yaml.safe_dump(TEXT))
    raw[section][key] = value
    return raw


@pytest.mark.parametrize("name", sorted(builtin_recipes()))
def test_every_builtin_recipe_loads_and_round_trips(name: str) -> None:
    recipe = load_recipe(name)
    assert recipe.name == name
    assert recipe.description, f"{name} needs a one-line description"
    again = recipe_from_dict(yaml.safe_load(recipe.to_yaml()))
    assert again.to_dict() == recipe.to_dict()


def test_builtin_recipes_cover_the_issue_list() -> None:
    expected = {"shakespeare_char", "shakespeare_char_cpu", "shakespeare_alice", "alice_char", "shakespeare_lstm"}
    assert expected <= set(builtin_recipes())


def test_unknown_key_names_key_section_and_closest_valid_key() -> None:
    with pytest.raises(RecipeError) as err:
        parse(with_key("model", "n_heads", 4))
    message = str(err.value)
    assert "'model.n_heads'" in message and "section 'model'" in message and "did you mean 'n_head'" in message


def test_unknown_top_level_key() -> None:
    raw = dict(TEXT, trian={"lr": 1})
    with pytest.raises(RecipeError, match=r"unknown recipe key 'trian'.*did you mean 'train'"):
        parse(raw)


@pytest.mark.parametrize(
    ("section", "key", "value", "pattern"),
    [
        ("train", "lr", 0, r"'train.lr' must be > 0 \(got 0"),
        ("train", "lr", -1e-3, r"'train.lr' must be > 0"),
        ("model", "dropout", 1.0, r"'model.dropout' must be in \[0, 1\) \(got 1.0\)"),
        ("model", "dropout", -0.1, r"'model.dropout' must be in \[0, 1\)"),
        ("model", "block_size", 0, r"'model.block_size' must be >= 1 \(got 0\)"),
        ("model", "n_head", 3, r"'model.d_model' \(32\) must be divisible by 'model.n_head' \(3\)"),
        ("train", "lr", "fast", r"'train.lr' must be float \(got 'fast'\)"),
        ("train", "batch_size", 2.5, r"'train.batch_size' must be int \(got 2.5\)"),
        ("train", "precision", "bf-16", r"'train.precision' must be one of .*did you mean 'bf16'"),
        ("model", "bias", "yes", r"'model.bias' must be bool"),
        ("train", "min_lr", 1.0, r"'train.min_lr' must be <= train.lr"),
    ],
)
def test_bad_values_name_the_key_and_the_allowed_range(section: str, key: str, value: object, pattern: str) -> None:
    with pytest.raises(RecipeError, match=pattern):
        parse(with_key(section, key, value))


def test_yaml_exponent_written_without_dot_is_a_float() -> None:
    # YAML 1.1 (PyYAML) reads 3e-4 as a string; the recipe still means a number.
    recipe = parse(with_key("train", "lr", "3e-4"))
    assert recipe.train.lr == pytest.approx(3e-4)


def test_integral_float_is_accepted_for_int_keys() -> None:
    assert parse(with_key("train", "max_steps", 5e3)).train.max_steps == 5000


def test_unknown_model_name_suggests_the_closest() -> None:
    raw = yaml.safe_load(yaml.safe_dump(TEXT))
    raw["model"]["name"] = "char-transfomer"
    with pytest.raises(RecipeError, match=r"unknown model.name 'char-transfomer'; did you mean 'char-transformer'"):
        parse(raw)


def test_eeg_only_train_keys_are_rejected_for_text() -> None:
    with pytest.raises(RecipeError, match=r"'train.folds' applies to EEG recipes only"):
        parse(with_key("train", "folds", 5))


def test_malformed_yaml_reports_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\nmodel:\n  name: char-lstm\n  n_layer: [1, 2\ntrain: {}\n", encoding="utf-8")
    with pytest.raises(RecipeError, match=r"not valid YAML at line \d+"):
        load_recipe(str(path))


def test_missing_recipe_file_and_unknown_builtin() -> None:
    with pytest.raises(RecipeError, match="recipe file 'nope.yaml' does not exist"):
        load_recipe("nope.yaml")
    with pytest.raises(RecipeError, match="did you mean 'shakespeare_char'"):
        load_recipe("shakespeare_chr")


def test_overrides_are_parsed_and_checked_like_the_file() -> None:
    recipe = load_recipe("shakespeare_char_cpu", ["train.lr=3e-4", "model.n_layer=2", "data.corpora=[alice]"])
    assert recipe.train.lr == pytest.approx(3e-4)
    assert recipe.model.n_layer == 2
    assert recipe.data.corpora == ["alice"]
    with pytest.raises(RecipeError, match="did you mean 'n_layer'"):
        load_recipe("shakespeare_char_cpu", ["model.n_layers=2"])
    with pytest.raises(RecipeError, match="must look like section.key=value"):
        load_recipe("shakespeare_char_cpu", ["model.n_layer"])
    with pytest.raises(RecipeError, match="'train.lr' must be > 0"):
        load_recipe("shakespeare_char_cpu", ["train.lr=0"])


def test_override_does_not_mutate_the_input() -> None:
    raw = {"train": {"lr": 1.0}}
    out = apply_overrides(raw, ["train.lr=2"])
    assert raw == {"train": {"lr": 1.0}} and out["train"]["lr"] == 2


def test_the_torch_free_model_families_match_the_registry() -> None:
    import attn.models.catalog  # noqa: F401
    from attn.models import model_specs
    from attn.recipe import MODEL_FAMILIES

    assert MODEL_FAMILIES == {spec.name: spec.task for spec in model_specs()}
