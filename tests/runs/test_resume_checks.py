"""Resuming never corrupts a run: the checkpoint is checked against the run's recipe before any file is
touched, hand edits of recipe.yaml are used or refused (never ignored), and changes are recorded."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
import yaml

from attn.inference import load_trained
from attn.training.checkpoint import load_checkpoint
from tests.helpers import make_corpus, only_run_dir, read_records, run_cli, text_recipe, write_recipe


def train(tmp_path: Path, runs: str, **settings: object) -> Path:
    recipe = text_recipe(make_corpus(tmp_path / "corpus.txt"), **settings)
    result = run_cli("train", write_recipe(tmp_path, recipe, f"{runs}.yaml"), "--runs-dir", tmp_path / runs, "-q")
    assert result.exit_code in (0, 130), result.output
    return only_run_dir(tmp_path / runs)


def snapshot(run: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


def test_a_checkpoint_of_another_model_is_refused_before_any_file_is_touched(tmp_path: Path) -> None:
    run = train(tmp_path, "a", max_steps=10)
    other = text_recipe(make_corpus(tmp_path / "corpus.txt"), max_steps=10)
    other["model"]["d_model"] = 64
    result = run_cli("train", write_recipe(tmp_path, other, "b.yaml"), "--runs-dir", tmp_path / "b", "-q")
    assert result.exit_code == 0
    shutil.copy(only_run_dir(tmp_path / "b") / "checkpoints" / "last.pt", run / "checkpoints" / "last.pt")
    before = snapshot(run)
    result = run_cli("train", "--resume", run, "train.max_steps=20", "-q")
    assert result.exit_code == 2 and "Traceback" not in result.output
    message = " ".join(result.output.split())
    assert "does not match the run's checkpoint: model.d_model is 32 there but 64" in message
    assert snapshot(run) == before  # metrics.jsonl is not truncated, recipe.yaml not rewritten


def test_resume_records_its_overrides_in_recipe_yaml(tmp_path: Path) -> None:
    run = train(tmp_path, "r", max_steps=10)
    result = run_cli("train", "--resume", run, "train.max_steps=20", "train.lr=0.002", "-q")
    assert result.exit_code == 0, result.output
    text = (run / "recipe.yaml").read_text()
    assert yaml.safe_load(text)["train"]["max_steps"] == 20 and yaml.safe_load(text)["train"]["lr"] == 0.002
    note = [line for line in text.splitlines() if line.startswith("#")]
    assert len(note) == 1 and "resumed at step 10" in note[0]
    assert "train.max_steps 10 -> 20" in note[0] and "train.lr 0.003 -> 0.002" in note[0]
    assert load_checkpoint(run / "checkpoints" / "last.pt")["recipe"]["train"]["max_steps"] == 20
    assert read_records(run, "train")[-1]["step"] == 20
    # a second resume keeps the history and adds its own line
    assert run_cli("train", "--resume", run, "train.max_steps=25", "-q").exit_code == 0
    notes = [line for line in (run / "recipe.yaml").read_text().splitlines() if line.startswith("#")]
    assert len(notes) == 2 and "train.max_steps 20 -> 25" in notes[1]


def test_a_hand_edited_train_key_in_recipe_yaml_is_used_and_recorded(tmp_path: Path) -> None:
    run = train(tmp_path, "r", max_steps=10)
    recipe = yaml.safe_load((run / "recipe.yaml").read_text())
    recipe["train"]["max_steps"] = 15
    (run / "recipe.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    result = run_cli("train", "--resume", run, "-q")
    assert result.exit_code == 0, result.output
    assert read_records(run, "train")[-1]["step"] == 15
    assert "train.max_steps 10 -> 15" in (run / "recipe.yaml").read_text()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda r: r["model"].update(n_layer=3), "model.n_layer is 3 there but 2 in the checkpoint"),
        (lambda r: r["data"].update(val_fraction=0.2), "data.val_fraction is 0.2 there but 0.1"),
        (lambda r: r["train"].update(lr=-1.0), "'train.lr' must be > 0"),
        (lambda r: r["train"].update(learning_rate=1.0), "did you mean 'lr'"),
    ],
)
def test_a_hand_edit_that_cannot_be_used_is_refused_by_resume_eval_and_generate(
    tmp_path: Path, edit: object, message: str
) -> None:
    run = train(tmp_path, "r", max_steps=10)
    recipe = yaml.safe_load((run / "recipe.yaml").read_text())
    edit(recipe)
    (run / "recipe.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    before = snapshot(run)
    for command in (["train", "--resume", run], ["eval", run], ["generate", run, "--seed", "To", "-n", "2"]):
        result = run_cli(*command)
        assert result.exit_code == 2, (command, result.output)
        assert message in " ".join(result.output.split()), (command, result.output)
    assert snapshot(run) == before


def test_an_invalid_recipe_yaml_is_refused_naming_it(tmp_path: Path) -> None:
    run = train(tmp_path, "r", max_steps=10)
    (run / "recipe.yaml").write_text("train: [unclosed\n")
    result = run_cli("train", "--resume", run)
    assert result.exit_code == 2 and "recipe.yaml' is not valid YAML" in " ".join(result.output.split())


def test_eval_and_generate_use_the_train_keys_of_an_edited_recipe_yaml(tmp_path: Path) -> None:
    run = train(tmp_path, "r", max_steps=10)
    recipe = yaml.safe_load((run / "recipe.yaml").read_text())
    recipe["train"]["eval_batches"] = 3
    (run / "recipe.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    assert load_trained(run).recipe.train.eval_batches == 3
    assert run_cli("eval", run, "--sampled", "--device", "cpu").exit_code == 0
    assert torch.load(run / "checkpoints" / "best.pt", weights_only=True)["recipe"]["train"]["eval_batches"] == 2


OLD_CV = Path(__file__).resolve().parents[1] / "fixtures" / "runs-0.1.0" / "tiny_eeg" / "20261202-000001"


def test_a_cross_validation_checks_every_fold_first_and_records_its_changes(tmp_path: Path) -> None:
    run = Path(shutil.copytree(OLD_CV, tmp_path / "runs" / "tiny_eeg" / OLD_CV.name))
    recipe = yaml.safe_load((run / "recipe.yaml").read_text())
    recipe["model"]["dropout"] = 0.3  # the parent's recipe no longer fits fold-1's checkpoint
    (run / "recipe.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    before = snapshot(run)
    refused = run_cli("train", "--resume", run, "train.epochs=2", "-q")
    assert refused.exit_code == 2 and "model.dropout differs" in " ".join(refused.output.split())
    assert snapshot(run) == before
    recipe["model"]["dropout"] = 0.1
    (run / "recipe.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    assert run_cli("train", "--resume", run, "train.epochs=2", "-q").exit_code == 0
    for folder in (run, run / "fold-1"):  # the parent and the fold that resumed record the change
        notes = [line for line in (folder / "recipe.yaml").read_text().splitlines() if line.startswith("#")]
        assert len(notes) == 1 and "train.epochs 1 -> 2" in notes[0], folder
    assert yaml.safe_load((run / "fold-1" / "recipe.yaml").read_text())["train"]["epochs"] == 2
