"""`attn recipes`: whole key names at any width, measured times with their sources, copies that say where they came from."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from attn.formatting import format_duration
from attn.recipe import builtin_recipes, describe_recipe_keys, load_recipe
from attn.recipes.timings import DEVICES, EXPECTED_TIMES, expected_time
from tests.helpers import run_cli

ROOT = Path(__file__).resolve().parents[2]


def test_keys_shows_every_name_whole_on_an_80_column_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    import attn.cli.recipes as recipes_cli
    from attn.cli.output import StreamConsole

    terminal = StreamConsole(force_terminal=True, color_system=None, width=80, soft_wrap=True)
    monkeypatch.setattr(recipes_cli, "console", terminal)
    result = run_cli("recipes", "keys")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    first_cells = {line.split("│")[1].strip() for line in lines if line.startswith("│")}
    for _section, rows in describe_recipe_keys():
        for key, *_ in rows:
            assert key in first_cells, key  # e.g. early_stopping_patience, adaptive_augmentation


def test_list_shows_measured_times_from_benchmarks() -> None:
    result = run_cli("recipes", "list")
    assert result.exit_code == 0
    cells = [line.split("│") for line in result.stdout.splitlines() if line.startswith("│")]
    rows = {row[1].strip(): row for row in cells if row[1].strip()}  # wrapped descriptions continue below
    assert set(rows) == set(builtin_recipes())
    for name, cells in rows.items():
        for device, cell in zip(DEVICES, cells[3:5]):
            timing = expected_time(name, device)
            expected = "-" if timing is None else format_duration(timing.seconds)
            assert cell.strip().startswith(expected), (name, device, cell)
    assert "BENCHMARKS.md" in result.stdout


def test_every_expected_time_is_a_figure_of_the_benchmarks_section_it_names() -> None:
    text = (ROOT / "BENCHMARKS.md").read_text(encoding="utf-8")
    headings = {line.lstrip("#").strip() for line in text.splitlines() if line.startswith("#")}
    for recipe, per_device in EXPECTED_TIMES.items():
        assert recipe in builtin_recipes(), recipe
        for device, timing in per_device.items():
            assert device in DEVICES
            document, section = timing.source.split(", ", 1)
            assert document == "BENCHMARKS.md"
            assert section.split(":")[0] in headings, timing.source
            assert f"{timing.seconds:,g} s" in text, (recipe, device, timing.seconds)


def test_copy_names_the_copy_after_its_file_and_says_where_it_came_from(tmp_path: Path) -> None:
    copy = tmp_path / "my_text.yaml"
    result = run_cli("recipes", "copy", "shakespeare_char_cpu", copy)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{copy}\n"
    original = load_recipe("shakespeare_char_cpu")
    mine = load_recipe(str(copy))
    assert mine.name == "my_text"
    assert mine.description.startswith("copy of built-in recipe shakespeare_char_cpu")
    assert original.description in mine.description
    # everything else, comments included, is as it was
    strip = re.compile(r"^(name|description):.*\n", re.MULTILINE)
    source = builtin_recipes()["shakespeare_char_cpu"].read_text(encoding="utf-8")
    assert strip.sub("", copy.read_text(encoding="utf-8")) == strip.sub("", source)
    assert mine.to_dict()["model"] == original.to_dict()["model"]


def test_copy_of_a_recipe_file_without_a_description(tmp_path: Path) -> None:
    source = tmp_path / "plain.yaml"
    source.write_text(yaml.safe_dump({"model": {"name": "char-transformer"}}))
    copy = tmp_path / "copy.yaml"
    assert run_cli("recipes", "copy", source, copy).exit_code == 0
    recipe = load_recipe(str(copy))
    assert recipe.name == "copy" and recipe.description == f"copy of recipe file {source}"


def test_recipes_models_braindecode_lists_the_zoo_or_says_why_not() -> None:
    from attn.models.eegnex import braindecode_problem

    result = run_cli("recipes", "models", "--braindecode", "--json")
    if braindecode_problem() is None:  # braindecode imports here: every class with whether it builds
        import json

        archs = {row["arch"]: row["builds"] for row in json.loads(result.stdout)}
        assert archs.get("EEGNeX") == "ok"
    else:
        assert result.exit_code == 2 and "braindecode" in result.output and "Traceback" not in result.output
