"""`attn train RECIPE --init-from RUN_DIR`: a new run on new data that starts from a trained run's weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import attn.training.trainer as trainer_module
from attn.training.checkpoint import load_checkpoint
from tests.helpers import eeg_recipe, make_corpus, only_run_dir, run_cli, write_recipe


@pytest.fixture
def pretrained(tmp_path: Path, recipe_file: Path) -> Path:
    assert run_cli("train", recipe_file, "--runs-dir", tmp_path / "pre", "-q").exit_code == 0
    return only_run_dir(tmp_path / "pre")


def capture_start_weights(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, torch.Tensor]]:
    """The model's weights when the training loop starts, per run."""
    seen: list[dict[str, torch.Tensor]] = []
    original = trainer_module.Trainer.run

    def run(self: trainer_module.Trainer) -> object:
        seen.append({k: v.detach().clone() for k, v in self.raw_model.state_dict().items()})
        return original(self)

    monkeypatch.setattr(trainer_module.Trainer, "run", run)
    return seen


def test_fine_tuning_starts_from_the_trained_weights_on_new_text(
    tmp_path: Path, pretrained: Path, make_recipe, monkeypatch: pytest.MonkeyPatch
) -> None:
    # new text in fewer of the same characters: the vocabulary of the trained run is kept
    other = make_corpus(tmp_path / "mine.txt", seed=5, words=["to", "be", "or", "not"])
    recipe = write_recipe(tmp_path, {**make_recipe(other, max_steps=6, eval_interval=3), "name": "mine"})
    starts = capture_start_weights(monkeypatch)
    result = run_cli("train", recipe, "--init-from", pretrained, "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 0, result.output
    best = load_checkpoint(pretrained / "checkpoints" / "best.pt")
    (start,) = starts
    assert start.keys() == best["model"].keys()
    assert all(torch.equal(start[k], best["model"][k]) for k in start)
    run = only_run_dir(tmp_path / "runs")
    tuned = load_checkpoint(run / "checkpoints" / "last.pt")
    assert tuned["extras"]["vocab"] == best["extras"]["vocab"]
    assert len(set(other.read_text())) < len(best["extras"]["vocab"])
    assert tuned["trainer"]["step"] == 6  # a new run: its own steps, schedule and optimizer
    source = {"run_dir": str(pretrained), "checkpoint": str(pretrained / "checkpoints" / "best.pt")}
    for name in ("env.json", "summary.json"):
        recorded = json.loads((run / name).read_text())["init_from"]
        assert {k: recorded[k] for k in source} == source and recorded["step"] == best["trainer"]["step"]
    assert f"from {pretrained / 'checkpoints' / 'best.pt'}" in result.stderr


def test_text_with_characters_the_model_does_not_know_is_refused(tmp_path: Path, pretrained: Path, make_recipe) -> None:
    other = make_corpus(tmp_path / "german.txt", words=["über", "schön"])
    recipe = write_recipe(tmp_path, make_recipe(other), "german.yaml")
    result = run_cli("train", recipe, "--init-from", pretrained, "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 2
    assert "'ü'" in result.stderr and "keeps the" in result.stderr and "vocabulary" in result.stderr
    assert not (tmp_path / "runs").exists()


def test_another_architecture_is_refused_naming_the_keys(tmp_path: Path, pretrained: Path, make_recipe, corpus) -> None:
    recipe = make_recipe(corpus)
    recipe["model"].update(n_layer=3, dropout=0.3)  # dropout may differ, the depth may not
    result = run_cli(
        "train",
        write_recipe(tmp_path, recipe, "deeper.yaml"),
        "--init-from",
        pretrained,
        "--runs-dir",
        tmp_path / "runs",
    )
    assert result.exit_code == 2
    assert "model.n_layer is 2 there, 3 here" in result.stderr and "dropout" not in result.stderr.split("(only")[0]
    assert not (tmp_path / "runs").exists()


def test_init_from_and_resume_do_not_combine(pretrained: Path) -> None:
    result = run_cli("train", "--resume", pretrained, "--init-from", pretrained)
    assert result.exit_code == 2 and "--resume continues a run" in result.stderr


def test_eeg_fine_tuning_on_other_subjects(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = write_recipe(tmp_path, eeg_recipe(epochs=1))
    assert run_cli("train", first, "--runs-dir", tmp_path / "pre", "-q").exit_code == 0
    pretrained = only_run_dir(tmp_path / "pre")
    recipe = eeg_recipe(epochs=1)
    recipe["data"]["seed"] = 9  # other simulated subjects
    recipe["name"] = "tiny_eeg_tuned"
    starts = capture_start_weights(monkeypatch)
    result = run_cli(
        "train", write_recipe(tmp_path, recipe), "--init-from", pretrained, "--runs-dir", tmp_path / "r", "-q"
    )
    assert result.exit_code == 0, result.output
    best = load_checkpoint(pretrained / "checkpoints" / "best.pt")["model"]
    assert all(torch.equal(starts[0][k], best[k]) for k in best)
    run = only_run_dir(tmp_path / "r")
    assert json.loads((run / "summary.json").read_text())["init_from"]["model"] == "eeg-cnn"
