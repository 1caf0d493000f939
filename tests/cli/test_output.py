"""A Unix-clean command line: the result alone on stdout, everything else on stderr; --json, --version,
-h, shell completion, exit codes, and text that is never read as rich markup or hard-wrapped."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import only_run_dir, run_cli


def attn_command() -> list[str]:
    exe = shutil.which("attn")
    return [exe] if exe else [sys.executable, "-m", "attn"]


def test_train_prints_the_run_directory_alone_on_stdout(tmp_path: Path, recipe_file: Path) -> None:
    result = run_cli("train", recipe_file, "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 0, result.output
    run = only_run_dir(tmp_path / "runs")
    assert result.stdout == f"{run}\n"
    # progress, the estimate and the summary table all went to stderr
    for text in ("training tiny", "estimate: about", "step 20/20", "best val_loss", "tok/s"):
        assert text in result.stderr, text
    # every loss in the table to 4 significant figures, trailing zeros kept
    summary = json.loads((run / "summary.json").read_text())
    losses = {
        f"best val_loss (step {summary['best']['step']})": summary["best"]["val_loss"],
        "final val_loss": summary["final"]["val_loss"],
        "best checkpoint val_loss (whole val split)": summary["best_checkpoint_eval"]["val_loss"],
    }
    cells = {
        row[1].strip(): row[2].strip()
        for row in (line.split("│") for line in result.stderr.splitlines())
        if len(row) == 4
    }
    for label, value in losses.items():
        decimals = 3 - math.floor(math.log10(abs(value)))  # 4 significant figures
        assert cells[label] == f"{value:.{decimals}f}", (label, cells[label])


def test_train_json_is_the_summary_with_its_run_directory(tmp_path: Path, recipe_file: Path) -> None:
    result = run_cli("train", recipe_file, "--runs-dir", tmp_path / "runs", "-q", "--json")
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)  # `attn train ... --json | jq .best`
    run = only_run_dir(tmp_path / "runs")
    summary = json.loads((run / "summary.json").read_text())
    assert printed["run_dir"] == str(run)
    assert printed["best"] == summary["best"] and printed["steps"] == summary["steps"] == 20


def test_quiet_prints_nothing_but_the_result(tmp_path: Path, recipe_file: Path) -> None:
    result = run_cli("train", recipe_file, "--runs-dir", tmp_path / "runs", "-q")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""  # no header, no estimate, no progress, no table
    assert result.stdout == f"{only_run_dir(tmp_path / 'runs')}\n"


def test_a_long_run_directory_is_printed_on_one_line_when_not_a_terminal(tmp_path: Path, recipe_file: Path) -> None:
    runs = tmp_path / ("a-long-folder-name-" * 6) / "runs"
    result = run_cli("train", recipe_file, "--runs-dir", runs)
    assert result.exit_code == 0, result.output
    run = only_run_dir(runs)
    assert len(f"training tiny -> {run}") > 120
    header = next(line for line in result.stderr.splitlines() if line.startswith("training tiny"))
    assert header.endswith(f"-> {run}")


@pytest.mark.slow
def test_installed_entry_point_through_a_real_pipe(tmp_path: Path, recipe_file: Path) -> None:
    """`attn train ... | cat`: stdout is exactly the run directory; the summary went to stderr."""
    runs = tmp_path / "runs"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    train = subprocess.Popen(
        [*attn_command(), "train", str(recipe_file), "--runs-dir", str(runs)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    reader = subprocess.run(["cat"], stdin=train.stdout, capture_output=True, text=True, check=True)
    train.stdout.close()
    stderr = train.stderr.read().decode()
    assert train.wait() == 0, stderr
    assert reader.stdout == f"{only_run_dir(runs)}\n"
    assert "best val_loss" in stderr and "estimate: about" in stderr


def test_version() -> None:
    import attn

    result = run_cli("--version")
    assert result.exit_code == 0 and result.stdout == f"attn {attn.__version__}\n"


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["train"],
        ["eval"],
        ["generate"],
        ["recipes"],
        ["recipes", "list"],
        ["recipes", "keys"],
        ["bench"],
        ["bench", "attention"],
        ["bench", "vs", "lstm"],
        ["cache"],
        ["cache", "clear"],
    ],
)
def test_dash_h_is_help_everywhere(args: list[str]) -> None:
    short, long = run_cli(*args, "-h"), run_cli(*args, "--help")
    assert short.exit_code == 0 and "Usage" in short.stdout
    assert short.stdout == long.stdout


def test_train_without_a_recipe_is_one_error_line() -> None:
    result = run_cli("train")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("error: missing RECIPE") and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_shell_completion_is_enabled() -> None:
    assert "--install-completion" in run_cli("--help").stdout
    script = run_cli("--show-completion", "bash")
    assert script.exit_code == 0 and "complete" in script.stdout and "_ATTN_COMPLETE" in script.stdout
    env = {**os.environ, "_ATTN_COMPLETE": "complete_bash", "COMP_WORDS": "attn train shakespeare_c", "COMP_CWORD": "2"}
    words = subprocess.run(attn_command(), capture_output=True, text=True, env=env).stdout.split()
    assert words == [
        "shakespeare_char",
        "shakespeare_char_cpu",
        "shakespeare_char_fast",
        "shakespeare_char_modern",
        "shakespeare_char_sprint",
    ]


def test_recipe_and_model_text_is_not_read_as_markup(monkeypatch: pytest.MonkeyPatch) -> None:
    import attn.cli.recipes as recipes_cli
    import attn.models
    from attn.models.registry import ModelSpec

    text = "needs pip install attn[eegnex]; [bold]not bold[/bold]"
    row = {
        "name": "r[1]",
        "family": "eeg",
        "model": "m",
        "description": text,
        "expected_time": {"cpu": None, "gpu": None},
    }
    monkeypatch.setattr(recipes_cli, "recipe_listing", lambda: [row])
    listing = run_cli("recipes", "list")
    assert listing.exit_code == 0 and text in listing.stdout and "r[1]" in listing.stdout
    spec = ModelSpec("m[x]", "eeg", object, lambda cfg: None, text)
    monkeypatch.setattr(attn.models, "model_specs", lambda: [spec])
    models = run_cli("recipes", "models")
    assert models.exit_code == 0 and text in models.stdout and "m[x]" in models.stdout


def test_paths_in_messages_are_not_read_as_markup(tmp_path: Path, corpus: Path) -> None:
    from tests.helpers import text_recipe, write_recipe

    folder = tmp_path / "a[red]b"
    folder.mkdir()
    path = write_recipe(folder, text_recipe(corpus), "r.yaml")
    result = run_cli("recipes", "validate", path)
    assert result.exit_code == 0 and f"ok: {path} is a valid text recipe" in result.stderr


def test_json_listings_match_the_library() -> None:
    import attn.models.catalog  # noqa: F401
    from attn.models import model_specs
    from attn.recipe import builtin_recipes, describe_recipe_keys, load_recipe

    recipes = json.loads(run_cli("recipes", "list", "--json").stdout)
    assert [r["name"] for r in recipes] == list(builtin_recipes())
    for row in recipes:
        recipe = load_recipe(row["name"])
        assert (row["model"], row["family"], row["description"]) == (
            recipe.model_name,
            recipe.family,
            recipe.description,
        )
    keys = json.loads(run_cli("recipes", "keys", "--family", "eeg", "--json").stdout)
    expected = [(section, key) for section, rows in describe_recipe_keys("eeg") for key, *_ in rows]
    assert [(k["section"], k["key"]) for k in keys] == expected
    models = json.loads(run_cli("recipes", "models", "--json").stdout)
    assert [(m["name"], m["family"]) for m in models] == [(s.name, s.task) for s in model_specs()]


def test_divergence_exit_code_is_documented() -> None:
    from attn.errors import TrainingDiverged, UserError

    assert TrainingDiverged.exit_code == 3 and UserError.exit_code == 2
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert "exit code 3" in readme and "130" in readme
