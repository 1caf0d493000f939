"""The text path end to end through the command line: train, resume, generate, eval, errors."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

import attn.training.trainer as trainer_module
from tests.helpers import attn_command, only_run_dir, read_records, run_cli

cli = run_cli
only_run = only_run_dir
records = read_records


@pytest.fixture
def trained(tmp_path: Path, recipe_file: Path) -> Path:
    result = cli("train", recipe_file, "--runs-dir", tmp_path / "runs", "-q")
    assert result.exit_code == 0, result.output
    return only_run(tmp_path / "runs")


def test_train_writes_a_complete_run_directory(trained: Path) -> None:
    for name in (
        "recipe.yaml",
        "metrics.jsonl",
        "summary.json",
        "env.json",
        "loss_curve.png",
        "checkpoints/best.pt",
        "checkpoints/last.pt",
    ):
        assert (trained / name).is_file(), name
    assert (trained / "loss_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((trained / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["steps"] == 20
    evals = records(trained, "eval")
    assert [r["step"] for r in evals] == [10, 20]
    best = min(evals, key=lambda r: r["val_loss"])
    assert summary["best"]["val_loss"] == best["val_loss"] and summary["best"]["step"] == best["step"]
    assert summary["final"]["val_loss"] == evals[-1]["val_loss"]
    assert summary["best_checkpoint_eval"]["full_split"] is True
    for key in ("tok_per_s", "wall_time_s", "parameters", "peak_memory_mb", "device"):
        assert key in summary
    train = records(trained, "train")
    assert train[0]["train_loss"] > train[-1]["train_loss"], "the tiny model should learn"
    resolved = yaml.safe_load((trained / "recipe.yaml").read_text())
    assert resolved["model"]["name"] == "char-transformer" and resolved["train"]["max_steps"] == 20
    env = json.loads((trained / "env.json").read_text())
    assert env["torch"] and env["family"] == "text"


def test_eval_recomputes_the_best_checkpoint_metrics(trained: Path) -> None:
    result = cli("eval", trained, "--device", "cpu")
    assert result.exit_code == 0, result.output
    report = json.loads((trained / "eval-val.json").read_text())
    summary = json.loads((trained / "summary.json").read_text())
    assert report["metrics"]["val_loss"] == pytest.approx(summary["best_checkpoint_eval"]["val_loss"], rel=1e-6)
    assert cli("eval", trained, "--split", "test").exit_code == 2


def test_generate_starts_with_the_seed_and_is_reproducible(trained: Path) -> None:
    def sample(seed: int) -> str:
        result = cli(
            "generate", trained, "--seed", "To be", "--length", "40", "--random-seed", str(seed), "--device", "cpu"
        )
        assert result.exit_code == 0, result.output
        return result.stdout

    first, again, other = sample(1), sample(1), sample(2)
    assert first == again and first != other
    assert first.startswith("To be") and first.endswith("\n") and len(first) == len("To be") + 40 + 1
    assert str(trained) in "".join(cli("generate", trained, "--seed", "To", "-n", "3").stderr.split())


def test_generate_with_a_prompt_longer_than_the_context(trained: Path) -> None:
    prompt = "to be or not to be that is the question " * 3  # 123 chars, block_size is 16
    result = cli("generate", trained, "--seed", prompt, "--length", "10", "--random-seed", "0")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(prompt) and len(result.stdout) == len(prompt) + 10 + 1


def test_generate_rejects_characters_outside_the_vocabulary(trained: Path) -> None:
    result = cli("generate", trained, "--seed", "To be \u00fc\u00e9")
    assert result.exit_code == 2
    assert "not in the model's vocabulary" in result.output and "'\u00fc'" in result.output
    assert f"(run {trained})" in result.output  # which run, since the newest one may not be the one meant
    assert "Traceback" not in result.output


def test_newest_text_run_is_the_default_for_generate(trained: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATTN_RUNS_DIR", str(trained.parent.parent))
    result = cli("generate", "--seed", "To", "--length", "5", "--random-seed", "0")
    assert result.exit_code == 0 and str(trained) in "".join(result.stderr.split())


def test_interrupt_then_resume_ends_exactly_where_an_uninterrupted_run_ends(
    tmp_path: Path, corpus: Path, make_recipe: object, monkeypatch: pytest.MonkeyPatch, interrupt_after: object
) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump(make_recipe(corpus, max_steps=24, eval_interval=8, log_interval=4)))
    assert cli("train", recipe, "--runs-dir", tmp_path / "full", "-q").exit_code == 0
    full = only_run(tmp_path / "full")

    with monkeypatch.context() as patch:
        interrupt_after(13, patch)
        result = cli("train", recipe, "--runs-dir", tmp_path / "split", "-q")
    assert result.exit_code == 130, result.output
    split = only_run(tmp_path / "split")
    assert json.loads((split / "summary.json").read_text())["status"] == "interrupted"
    result = cli("train", "--resume", split, "-q")
    assert result.exit_code == 0, result.output

    # Same evaluations, bit for bit, and the same final weights.
    def evals(run: Path) -> list[dict]:
        return [{k: v for k, v in r.items() if k != "elapsed_s"} for r in records(run, "eval")]

    assert evals(split) == evals(full)
    from attn.training.checkpoint import load_checkpoint

    weights_full = load_checkpoint(full / "checkpoints" / "last.pt")["model"]
    weights_split = load_checkpoint(split / "checkpoints" / "last.pt")["model"]
    assert all(torch.equal(weights_full[k], weights_split[k]) for k in weights_full)
    # Every logged step of the uninterrupted run is logged by the resumed one too (plus the stop at 13).
    assert {r["step"] for r in records(split, "train")} >= {r["step"] for r in records(full, "train")} | {13}
    summary_full = json.loads((full / "summary.json").read_text())
    summary_split = json.loads((split / "summary.json").read_text())
    assert summary_split["best"] == summary_full["best"] and summary_split["steps"] == 24


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(
    tmp_path: Path, recipe_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = trainer_module.Trainer._train_step

    def poisoned(self: object, at: int, progress: float) -> torch.Tensor:
        loss = original(self, at, progress)
        return loss * float("nan") if at >= 14 else loss

    monkeypatch.setattr(trainer_module.Trainer, "_train_step", poisoned)
    result = cli("train", recipe_file, "--runs-dir", tmp_path / "runs", "-q")
    assert result.exit_code == 3  # its own exit code: not bad input (2), not an interrupt (130)
    assert "became NaN or Inf" in result.output and "last good checkpoint" in result.output
    run = only_run(tmp_path / "runs")
    from attn.training.checkpoint import load_checkpoint

    assert load_checkpoint(run / "checkpoints" / "last.pt")["trainer"]["step"] == 10
    assert json.loads((run / "summary.json").read_text())["status"] == "diverged"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "no-such-recipe.yaml"], "recipe file 'no-such-recipe.yaml' does not exist"),
        (["train", "shakespeare_char_cpu", "model.n_heads=2"], "did you mean 'n_head'"),
        (["train", "shakespeare_char_cpu", "train.lr=-1"], "'train.lr' must be > 0"),
        (["train", "shakespeare_char_cpu", "data.corpora=[/no/such/file.txt]"], "nor an existing file"),
        (["train", "shakespeare_char_cpu", "--device", "cuda:7"], "device 'cuda:7'"),
        (["generate", "/no/such/run", "--seed", "x"], "does not exist"),
        (["eval", "/no/such/run"], "does not exist"),
        (["train", "--resume", "/no/such/run"], "run directory '/no/such/run' does not exist"),
    ],
)
def test_user_errors_are_one_line_with_exit_code_2(tmp_path: Path, args: list[str], message: str) -> None:
    result = cli(*args, "--runs-dir", tmp_path) if args[0] == "train" and "--resume" not in args else cli(*args)
    assert result.exit_code == 2, result.output
    assert message in result.output.replace("\n", " ")
    assert "Traceback" not in result.output


def test_corrupt_checkpoint_is_reported_not_raised(trained: Path) -> None:
    (trained / "checkpoints" / "best.pt").write_bytes(b"garbage")
    result = cli("generate", trained, "--seed", "To")
    assert result.exit_code == 2 and "corrupt" in result.output


def test_recipes_commands(tmp_path: Path) -> None:
    listing = cli("recipes", "list")
    assert listing.exit_code == 0 and "shakespeare_char_cpu" in listing.stdout
    assert "n_layer: 6" in cli("recipes", "show", "shakespeare_char").stdout
    copy = tmp_path / "mine.yaml"
    assert cli("recipes", "copy", "alice_char", copy).exit_code == 0
    assert cli("recipes", "validate", copy).exit_code == 0
    assert cli("recipes", "copy", "alice_char", copy).exit_code == 2  # no silent overwrite
    copy.write_text(copy.read_text().replace("n_head: 4", "n_head: 5"))
    bad = cli("recipes", "validate", copy)
    assert bad.exit_code == 2 and "divisible" in bad.output
    assert "block_size" in cli("recipes", "keys", "--family", "text").stdout


def test_every_command_has_help() -> None:
    for args in (
        ["--help"],
        ["train", "--help"],
        ["generate", "--help"],
        ["eval", "--help"],
        ["recipes", "--help"],
        ["recipes", "list", "--help"],
        ["bench", "--help"],
    ):
        result = cli(*args)
        assert result.exit_code == 0 and "Usage" in result.stdout, args


@pytest.mark.slow
def test_installed_entry_point_and_sigkill_resume(tmp_path: Path, recipe_file: Path) -> None:
    """Through the real `attn` script: a run killed with SIGKILL resumes from an intact checkpoint."""
    command = attn_command()
    assert subprocess.run([*command, "--help"], capture_output=True).returncode == 0
    recipe = yaml.safe_load(recipe_file.read_text())
    recipe["train"].update(max_steps=150, eval_interval=10)
    recipe_file.write_text(yaml.safe_dump(recipe))
    runs = tmp_path / "runs"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [*command, "train", str(recipe_file), "--runs-dir", str(runs), "-q"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not list(runs.glob("*/*/checkpoints/last.pt")):
            time.sleep(0.2)
        time.sleep(0.5)
    finally:
        proc.kill()
        proc.wait()
    run = only_run(runs)
    done = subprocess.run([*command, "train", "--resume", str(run), "-q"], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["steps"] == 150
    steps = [r["step"] for r in records(run, "train")]
    assert steps == sorted(steps) and len(steps) == len(set(steps)), "no duplicated steps after resume"


def test_eval_attention_maps_draw_every_layer_and_head(trained: Path) -> None:
    result = cli("eval", trained, "--attention-maps", "--text", "To be or not to be", "--device", "cpu")
    assert result.exit_code == 0, result.output
    stats = json.loads((trained / "attention_maps" / "stats.json").read_text())
    pngs = sorted((trained / "attention_maps").glob("layer*_head[0-9].png"))
    assert len(pngs) == 2 * 2 == len(stats["heads"])  # 2 layers x 2 heads in the tiny recipe
    overviews = sorted((trained / "attention_maps").glob("layer*_heads.png"))  # one per layer, all its heads
    assert [p.name for p in overviews] == ["layer0_heads.png", "layer1_heads.png"]
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in pngs + overviews)
    assert set(map(str, pngs + overviews)) <= set(result.stdout.split())  # every file written, on stdout
    for row in stats["heads"]:
        # Causal attention over n keys: entropy in [0, ln n]; sparsity and diversity in [0, 1].
        assert 0.0 <= row["entropy_nats"] <= math.log(len("To be or not to be")) + 1e-6
        assert 0.0 <= row["sparsity"] <= 1.0 and 0.0 <= row["layer_head_diversity"] <= 1.0
    assert cli("eval", trained, "--attention-maps").exit_code == 2  # --text is required


def test_early_stopping_after_patience_evaluations_without_improvement(
    tmp_path: Path, corpus: Path, make_recipe: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from attn.tasks.text import LanguageModelTask

    scores = iter([2.0, 1.5, 1.6, 1.7, 1.8, 1.9])  # best at the 2nd evaluation, then worse

    def fake_evaluate(self: object, model: object, runtime: object, full: bool = False, split: str = "val") -> dict:
        return {"val_loss": next(scores) if not full else 1.5}

    monkeypatch.setattr(LanguageModelTask, "evaluate", fake_evaluate)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump(make_recipe(corpus, max_steps=60, eval_interval=5, early_stopping_patience=2)))
    assert cli("train", recipe, "--runs-dir", tmp_path / "runs", "-q").exit_code == 0
    run = only_run(tmp_path / "runs")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "early_stopped" and summary["steps"] == 20  # evals at 5, 10, 15, 20
    assert summary["best"] == {"step": 10, "val_loss": 1.5}
    from attn.training.checkpoint import load_checkpoint

    assert load_checkpoint(run / "checkpoints" / "best.pt")["trainer"]["step"] == 10


def test_debug_shows_the_traceback_of_a_user_error(tmp_path: Path) -> None:
    quiet = subprocess.run(
        [sys.executable, "-m", "attn", "recipes", "validate", "missing.yaml"], capture_output=True, text=True
    )
    assert quiet.returncode == 2 and "Traceback" not in quiet.stderr and "does not exist" in quiet.stderr
    loud = subprocess.run(
        [sys.executable, "-m", "attn", "recipes", "validate", "missing.yaml"],
        capture_output=True,
        text=True,
        env={**os.environ, "ATTN_DEBUG": "1"},
    )
    assert loud.returncode != 0 and "Traceback" in loud.stderr and "RecipeError" in loud.stderr
    flag = subprocess.run(
        [sys.executable, "-m", "attn", "--debug", "recipes", "validate", "missing.yaml"], capture_output=True, text=True
    )
    assert "Traceback" in flag.stderr
