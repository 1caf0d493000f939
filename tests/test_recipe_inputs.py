"""Hostile recipes: aliases, repeated keys, URLs, the wrong kind of file, odd names, relative paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from attn.errors import RecipeError
from attn.recipe import MAX_RECIPE_BYTES, load_recipe
from attn.schema import closest_key
from attn.training.config import TrainConfig
from tests.helpers import make_corpus, run_cli, text_recipe, write_recipe

BASE = "name: r\nmodel: {name: char-transformer, n_layer: 1, n_head: 1, d_model: 8, block_size: 4}\n"


def billion_laughs(levels: int = 9) -> str:
    """A YAML document whose aliases expand to 9**levels strings (about 10**9 for 9 levels)."""
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"


def write(tmp_path: Path, text: str, name: str = "r.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_an_alias_bomb_in_a_value_fails_at_the_first_alias(tmp_path: Path) -> None:
    bomb = billion_laughs().replace("\n", "\n  ").rstrip()
    path = write(tmp_path, f"{BASE}data:\n  {bomb}\n")
    with pytest.raises(RecipeError, match=r"line 5, column \d+: YAML aliases \(\*a0\) are not allowed"):
        load_recipe(str(path))


def test_an_alias_bomb_under_an_unknown_key_fails_the_same_way(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match="YAML aliases"):
        load_recipe(str(write(tmp_path, BASE + billion_laughs())))


def test_an_alias_in_an_override_is_refused() -> None:
    with pytest.raises(RecipeError, match=r"override train.lr.*YAML aliases \(\*x\)"):
        load_recipe("shakespeare_char_cpu", ["train.lr=*x"])


def test_a_key_given_twice_is_refused_naming_both_lines(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + "train:\n  lr: 0.1\n  max_steps: 5\n  lr: 0.2\n")
    with pytest.raises(RecipeError, match=r"line 6, column 3: key 'lr' is given twice \(first at line 4\)"):
        load_recipe(str(path))
    with pytest.raises(RecipeError, match="key 'model' is given twice"):
        load_recipe(str(write(tmp_path, BASE + "model: {name: char-lstm}\n")))


def test_deep_nesting_is_a_clear_error(tmp_path: Path) -> None:
    path = write(tmp_path, "model: " + "[" * 20000 + "]" * 20000 + "\n")
    with pytest.raises(RecipeError, match="nested too deeply"):
        load_recipe(str(path))


@pytest.mark.parametrize(
    "ref", ["https://example.com/recipes/shakespeare_char_cpu.yaml", "s3://bucket/shakespeare_char_cpu.yaml"]
)
def test_a_url_is_refused_even_when_its_file_name_is_a_builtin(ref: str) -> None:
    with pytest.raises(RecipeError, match=r"is a URL: attn reads recipes from local files only"):
        load_recipe(ref)


def test_a_folder_a_device_and_a_huge_file_are_named_for_what_they_are(tmp_path: Path) -> None:
    (tmp_path / "folder.yaml").mkdir()
    with pytest.raises(RecipeError, match="'.*folder.yaml' is a folder, not a recipe file"):
        load_recipe(str(tmp_path / "folder.yaml"))
    with pytest.raises(RecipeError, match="is not a regular file"):
        load_recipe("/dev/zero")  # reading it would never end
    huge = write(tmp_path, BASE + "description: '" + "x" * MAX_RECIPE_BYTES + "'\n", "huge.yaml")
    with pytest.raises(RecipeError, match="is larger than 1024 KiB"):
        load_recipe(str(huge))


def test_a_recipe_in_another_encoding_is_named(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes((BASE + "description: caf\u00e9\n").encode("latin-1"))
    with pytest.raises(RecipeError, match=r"is not UTF-8 text \(byte \d+"):
        load_recipe(str(path))
    path.write_bytes(b"\xef\xbb\xbf" + BASE.encode())  # a UTF-8 byte-order mark is fine
    assert load_recipe(str(path)).name == "r"


@pytest.mark.parametrize("name", ["a/b", "..", ".hidden", "tab\there", "x" * 101, "", "back\\slash"])
def test_recipe_names_must_be_folder_names_the_file_system_accepts(name: str) -> None:
    with pytest.raises(RecipeError, match="recipe key 'name' must be a plain name"):
        load_recipe("shakespeare_char_cpu", [f"name={yaml.safe_dump(name).splitlines()[0]}"])


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("learning_rate", "lr"),
        ("min_learning_rate", "min_lr"),
        ("patience", "early_stopping_patience"),
        ("steps", "max_steps"),
        ("batchsize", "batch_size"),
        ("warmup", "warmup_steps"),
        ("epoch", "epochs"),
    ],
)
def test_close_matches_are_ranked_by_meaning_before_spelling(typed: str, meant: str) -> None:
    keys = [field for field in TrainConfig.__dataclass_fields__]
    assert closest_key(typed, keys) == meant
    result = run_cli("recipes", "validate", "shakespeare_char_cpu", f"train.{typed}=1")
    assert result.exit_code == 2 and f"did you mean '{meant}'" in result.output


def test_relative_corpus_paths_are_relative_to_the_recipe_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    make_corpus(folder / "zoe.txt")
    recipe = text_recipe("zoe.txt")
    recipe["data"]["corpora"] = ["zoe.txt", "alice"]  # a built-in name stays a name
    path = write_recipe(folder, recipe, "mine.yaml")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    loaded = load_recipe(str(path))
    assert loaded.data.corpora == [str(folder / "zoe.txt"), "alice"]
    checked = run_cli("recipes", "validate", path)
    assert checked.exit_code == 0 and "zoe" in checked.output
    # an override on the command line is relative to the current directory
    make_corpus(elsewhere / "here.txt")
    assert load_recipe(str(path), ["data.corpora=[here.txt]"]).data.corpora == ["here.txt"]
    assert os.path.isfile(load_recipe(str(path), ["data.corpora=[here.txt]"]).data.corpora[0])


def test_relative_hbn_root_is_relative_to_the_recipe_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "name: h\nmodel: {name: eeg-cnn}\ndata: {source: hbn, root: data/hbn}\ntrain: {epochs: 1, max_steps: null}\n",
    )
    assert load_recipe(str(path)).data.root == str(tmp_path / "data" / "hbn")
    assert load_recipe(str(path), ["data.root=/abs/hbn"]).data.root == "/abs/hbn"


def test_validate_checks_the_data_it_can_without_training(tmp_path: Path) -> None:
    missing = run_cli("recipes", "validate", "shakespeare_char_cpu", "data.corpora=[/nonexistent.txt]")
    assert missing.exit_code == 2 and "/nonexistent.txt" in missing.output
    (tmp_path / "folder.txt").mkdir()
    folder = run_cli("recipes", "validate", "shakespeare_char_cpu", f"data.corpora=[{tmp_path / 'folder.txt'}]")
    assert folder.exit_code == 2 and "is a folder, not a file" in folder.output
    binary = tmp_path / "bin.txt"
    binary.write_bytes(b"\x00\x01" * 100)
    assert "looks binary" in run_cli("recipes", "validate", "shakespeare_char_cpu", f"data.corpora=[{binary}]").output
    short = make_corpus(tmp_path / "short.txt", n_chars=50)
    assert "too short" in run_cli("recipes", "validate", "shakespeare_char_cpu", f"data.corpora=[{short}]").output
    two = run_cli("recipes", "validate", "eeg_cnn", "data.n_subjects=2")
    assert two.exit_code == 2 and "2 subjects cannot be split into train/val/test" in two.output
    folds = run_cli("recipes", "validate", "eeg_cnn", "data.n_subjects=4", "train.folds=5")
    assert folds.exit_code == 2 and "train.folds=5 is more than the 4 subjects" in folds.output
    ok = run_cli("recipes", "validate", "eeg_cnn", "data.n_subjects=10", "train.folds=5")
    assert ok.exit_code == 0 and "10 simulated subjects; 5 folds" in " ".join(ok.output.split())
