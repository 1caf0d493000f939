"""Recipe inheritance: ``base: NAME_OR_PATH`` with a deep merge, chains, cycles and named errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from attn.errors import RecipeError
from attn.recipe import builtin_recipes, deep_merge, load_recipe, parse_recipe
from tests.helpers import only_run_dir, run_cli, text_recipe

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "recipes-resolved-before-base"


def write(path: Path, raw: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def test_deep_merge_merges_mappings_and_replaces_lists_and_scalars() -> None:
    base = {"a": {"x": 1, "y": {"p": 1, "q": 2}, "l": [1, 2, 3]}, "b": 1, "c": {"k": 1}}
    over = {"a": {"y": {"q": 20}, "l": [9]}, "b": {"now": "a mapping"}, "c": None, "d": 4}
    assert deep_merge(base, over) == {
        "a": {"x": 1, "y": {"p": 1, "q": 20}, "l": [9]},
        "b": {"now": "a mapping"},
        "c": None,
        "d": 4,
    }
    assert base["a"]["y"] == {"p": 1, "q": 2} and base["a"]["l"] == [1, 2, 3]  # inputs untouched


def test_a_recipe_changes_only_what_differs_from_its_base(tmp_path: Path, corpus: Path) -> None:
    write(tmp_path / "common" / "base.yaml", text_recipe(corpus, lr=1e-3))
    child = write(
        tmp_path / "child.yaml",
        {"name": "child", "base": "common/base.yaml", "train": {"lr": 5e-4}, "data": {"corpora": [str(corpus)] * 2}},
    )
    recipe = load_recipe(str(child))
    expected = text_recipe(corpus, lr=5e-4)
    expected["name"] = "child"
    expected["data"]["corpora"] = [str(corpus)] * 2  # a list replaces the base's list
    assert recipe.to_dict() == parse_recipe(expected, "child").to_dict()


def test_a_relative_base_is_found_beside_the_recipe_not_in_the_working_directory(
    tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "recipes" / "base.yaml", text_recipe(corpus))
    child = write(tmp_path / "recipes" / "child.yaml", {"base": "base.yaml", "train": {"max_steps": 3}})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    recipe = load_recipe(str(child))
    assert recipe.train.max_steps == 3 and recipe.model.d_model == 32


def test_chains_resolve_nearest_first(tmp_path: Path, corpus: Path) -> None:
    write(tmp_path / "a.yaml", text_recipe(corpus, lr=1e-3, min_lr=1e-4, seed=1))
    write(tmp_path / "sub" / "b.yaml", {"base": "../a.yaml", "train": {"lr": 2e-3, "seed": 2}})
    c = write(tmp_path / "c.yaml", {"base": "sub/b.yaml", "train": {"seed": 3}, "model": {"n_layer": 1}})
    recipe = load_recipe(str(c), ["train.min_lr=0"])
    assert (recipe.train.lr, recipe.train.min_lr, recipe.train.seed) == (2e-3, 0.0, 3)
    assert (recipe.model.n_layer, recipe.model.n_head) == (1, 2)


def test_the_name_is_the_recipes_own(tmp_path: Path, corpus: Path) -> None:
    write(tmp_path / "base.yaml", text_recipe(corpus))  # name: tiny
    child = write(tmp_path / "mine.yaml", {"base": "base.yaml"})
    recipe = load_recipe(str(child))
    assert recipe.name == "mine" and recipe.description == "tiny test recipe"  # the description is inherited


def test_a_recipe_that_names_another_model_replaces_the_base_model_section(tmp_path: Path, corpus: Path) -> None:
    write(tmp_path / "base.yaml", text_recipe(corpus))  # char-transformer keys: n_head, d_model, ...
    child = write(tmp_path / "lstm.yaml", {"base": "base.yaml", "model": {"name": "char-lstm", "n_layer": 1}})
    recipe = load_recipe(str(child))
    assert recipe.model_name == "char-lstm" and recipe.model.n_layer == 1


@pytest.mark.parametrize("length", [1, 2, 3])
def test_a_cycle_is_an_error_that_names_the_chain(tmp_path: Path, length: int) -> None:
    names = [f"r{i}.yaml" for i in range(length)]
    for i, name in enumerate(names):
        write(tmp_path / name, {"base": names[(i + 1) % length]})
    with pytest.raises(RecipeError, match="cycle") as err:
        load_recipe(str(tmp_path / "r0.yaml"))
    message = str(err.value)
    chain = message.split("cycle: ")[1].split(" -> ")
    assert [Path(p).name for p in chain] == [*names, names[0]]


def test_a_missing_base_file_names_the_recipe_and_the_base(tmp_path: Path) -> None:
    child = write(tmp_path / "child.yaml", {"base": "nowhere/base.yaml"})
    with pytest.raises(RecipeError) as err:
        load_recipe(str(child))
    message = str(err.value)
    assert str(child) in message and "'nowhere/base.yaml' does not exist" in message
    assert str(tmp_path / "nowhere" / "base.yaml") in message


def test_an_unknown_builtin_base_suggests_the_closest(tmp_path: Path) -> None:
    child = write(tmp_path / "child.yaml", {"base": "_eeg_simulatd"})
    with pytest.raises(
        RecipeError, match=r"base '_eeg_simulatd' is not a built-in recipe; did you mean '_eeg_simulated'"
    ):
        load_recipe(str(child))


@pytest.mark.parametrize("value", [None, "", 3, ["a.yaml"]])
def test_a_base_that_is_not_a_name_is_an_error(tmp_path: Path, value: object) -> None:
    child = write(tmp_path / "child.yaml", {"base": value})
    with pytest.raises(RecipeError, match=r"child.yaml': 'base' must name a built-in recipe or a recipe file"):
        load_recipe(str(child))


def test_errors_inside_a_base_name_the_base_file(tmp_path: Path, corpus: Path) -> None:
    (tmp_path / "broken.yaml").write_text("train: [unclosed\n", encoding="utf-8")
    child = write(tmp_path / "child.yaml", {"base": "broken.yaml"})
    with pytest.raises(RecipeError, match=r"broken.yaml' is not valid YAML"):
        load_recipe(str(child))
    write(tmp_path / "typo.yaml", {**text_recipe(corpus), "trian": {}})
    with pytest.raises(RecipeError, match=r"unknown recipe key 'trian'"):
        load_recipe(str(write(tmp_path / "child2.yaml", {"base": "typo.yaml"})))


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.yaml")), ids=lambda p: p.stem)
def test_builtin_recipes_resolve_to_what_they_did_before_they_used_base(path: Path) -> None:
    before = parse_recipe(yaml.safe_load(path.read_text(encoding="utf-8")), path.stem)
    assert load_recipe(path.stem).to_dict() == before.to_dict()
    assert "base:" in builtin_recipes()[path.stem].read_text(encoding="utf-8")


def test_bases_are_hidden_from_the_list_but_can_be_shown() -> None:
    assert not [n for n in builtin_recipes() if n.startswith("_")]
    assert {"_eeg_simulated", "_eeg_train"} <= set(builtin_recipes(include_bases=True))
    listed = run_cli("recipes", "list")
    assert listed.exit_code == 0 and "_eeg_" not in listed.output and "eeg_cnn" in listed.output
    shown = run_cli("recipes", "show", "_eeg_simulated")
    assert shown.exit_code == 0 and "base: _eeg_train" in shown.output


def test_show_prints_the_file_as_written_and_resolved_the_merged_recipe() -> None:
    written = run_cli("recipes", "show", "eeg_cnn")
    assert written.output == builtin_recipes()["eeg_cnn"].read_text(encoding="utf-8")
    resolved = yaml.safe_load(run_cli("recipes", "show", "eeg_cnn", "--resolved").output)
    assert "base" not in resolved and resolved == load_recipe("eeg_cnn").to_dict()
    assert resolved["data"]["n_subjects"] == 80 and resolved["train"]["epochs"] == 8


def test_a_run_writes_the_resolved_recipe_without_base(tmp_path: Path, corpus: Path) -> None:
    write(tmp_path / "base.yaml", text_recipe(corpus, max_steps=4, eval_interval=4, log_interval=2))
    child = write(tmp_path / "child.yaml", {"name": "child", "base": "base.yaml", "train": {"lr": 2e-3}})
    result = run_cli("train", child, "--runs-dir", tmp_path / "runs", "--quiet")
    assert result.exit_code == 0, result.output
    written = yaml.safe_load((only_run_dir(tmp_path / "runs") / "recipe.yaml").read_text(encoding="utf-8"))
    assert "base" not in written and written == load_recipe(str(child)).to_dict()
    assert written["train"]["lr"] == 2e-3 and written["model"]["d_model"] == 32
