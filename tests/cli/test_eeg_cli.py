"""EEG end to end through the command line: train, files, resume, cross-validation, eval, errors."""

from __future__ import annotations

import importlib
import json
import math
import os
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import attn.training.trainer as trainer_module
from attn.datasets.eeg import load_eeg_dataset
from attn.recipe import builtin_recipes, load_recipe, parse_recipe
from attn.tasks.eeg.controller import HEADS
from attn.training.checkpoint import load_checkpoint
from tests.helpers import eeg_recipe as tiny_recipe
from tests.helpers import independent_nrmse, one_error_line, only_run_dir, read_csv, read_records, run_cli, write_recipe

STEPS_PER_EPOCH = 3  # 4 training subjects x 6 windows = 24 windows in batches of 8


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("eeg_run")
    result = run_cli("train", write_recipe(folder, tiny_recipe()), "--runs-dir", folder / "runs")
    assert result.exit_code == 0, result.output
    return only_run_dir(folder / "runs")


def test_a_run_logs_val_nrmse_each_epoch_and_reports_test_metrics(trained: Path) -> None:
    evals = read_records(trained, "eval")
    assert [r["step"] for r in evals] == [STEPS_PER_EPOCH, 2 * STEPS_PER_EPOCH]
    assert all(math.isfinite(r["val_nrmse"]) and r["val_nrmse"] > 0 for r in evals)
    summary = json.loads((trained / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["steps"] == 2 * STEPS_PER_EPOCH
    assert summary["metric"] == "val_nrmse" and "win_per_s" in summary
    report = summary["best_checkpoint_eval"]
    for split in ("val", "test"):
        for key in ("nrmse", "rmse", "mae", "r2", "pearson_r", "loss", "mean_predictor_nrmse", "oracle_floor"):
            assert f"{split}_{key}" in report, f"{split}_{key}"
    assert report["val_nrmse"] == pytest.approx(summary["best"]["val_nrmse"], rel=1e-6)
    for name in ("predictions.png", "loss_curve.png", "split.json", "checkpoints/best.pt", "env.json"):
        assert (trained / name).is_file(), name
    assert (trained / "predictions.png").read_bytes()[:4] == b"\x89PNG"


def test_prediction_files_match_the_split_and_the_reported_nrmse(trained: Path) -> None:
    summary = json.loads((trained / "summary.json").read_text())["best_checkpoint_eval"]
    extras = load_checkpoint(trained / "checkpoints" / "best.pt")["extras"]
    recipe = parse_recipe(yaml.safe_load((trained / "recipe.yaml").read_text()), "tiny_eeg")
    data = load_eeg_dataset(recipe.data)
    subjects = np.asarray(data.subjects).astype(str)
    train_subjects = set(extras["split"]["train"])
    for split in ("val", "test"):
        rows = read_csv(trained / f"predictions_{split}.csv")
        in_split = [i for i, s in enumerate(subjects) if s in set(extras["split"][split])]
        assert [r["subject"] for r in rows] == [subjects[i] for i in in_split]
        assert [float(r["y_true"]) for r in rows] == [float(data.y[i]) for i in in_split]
        assert not train_subjects & {r["subject"] for r in rows}
        nrmse = independent_nrmse([float(r["y_true"]) for r in rows], [float(r["y_pred"]) for r in rows])
        assert nrmse == pytest.approx(summary[f"{split}_nrmse"], rel=1e-9)
    # Per-subject table, recomputed from the predictions.
    rows = read_csv(trained / "predictions_test.csv")
    for entry in read_csv(trained / "per_subject_test.csv"):
        mine = [(float(r["y_true"]), float(r["y_pred"])) for r in rows if r["subject"] == entry["subject"]]
        assert int(entry["n"]) == len(mine)
        assert float(entry["rmse"]) == pytest.approx(math.sqrt(sum((p - t) ** 2 for t, p in mine) / len(mine)))
        assert float(entry["mean_pred"]) == pytest.approx(sum(p for _, p in mine) / len(mine))
    # The training-set statistics travel with the checkpoint.
    y_train = [float(y) for y, s in zip(data.y, subjects) if s in train_subjects]
    assert extras["target_mean"] == pytest.approx(sum(y_train) / len(y_train), rel=1e-12)


def test_eval_rescores_the_test_split_from_the_checkpoint(trained: Path) -> None:
    result = run_cli("eval", trained, "--split", "test", "--device", "cpu")
    assert result.exit_code == 0, result.output
    metrics = json.loads((trained / "eval-test.json").read_text())["metrics"]
    summary = json.loads((trained / "summary.json").read_text())["best_checkpoint_eval"]
    assert metrics["test_nrmse"] == pytest.approx(summary["test_nrmse"], rel=1e-6)


def test_interrupted_run_resumes_to_the_same_end_with_adaptive_augmentation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, interrupt_after: object
) -> None:
    recipe = write_recipe(tmp_path, tiny_recipe(epochs=3, adaptive_augmentation=True))
    assert run_cli("train", recipe, "--runs-dir", tmp_path / "full", "-q").exit_code == 0
    full = only_run_dir(tmp_path / "full")
    evals = read_records(full, "eval")
    assert len(evals) == 3  # one per epoch, each with the controller's state
    for record in evals:
        weights = [record[f"aug_weight_{h}"] for h in HEADS]
        assert sum(weights) == pytest.approx(1.0) and all(w > 0 for w in weights)
        assert record["aug_sigma"] > 0 and record["aug_tau"] > 0

    with monkeypatch.context() as patch:
        interrupt_after(STEPS_PER_EPOCH + 1, patch)  # in the middle of the second epoch
        result = run_cli("train", recipe, "--runs-dir", tmp_path / "split", "-q")
    assert result.exit_code == 130, result.output
    split = only_run_dir(tmp_path / "split")
    assert json.loads((split / "summary.json").read_text())["status"] == "interrupted"
    result = run_cli("train", "--resume", split, "-q")
    assert result.exit_code == 0, result.output

    def untimed(records: list[dict]) -> list[dict]:
        return [{k: v for k, v in r.items() if k != "elapsed_s"} for r in records]

    assert untimed(read_records(split, "eval")) == untimed(evals)
    last_full = read_records(full, "train")[-1]
    last_split = read_records(split, "train")[-1]
    assert last_split["step"] == last_full["step"] and last_split["train_loss"] == last_full["train_loss"]
    weights_full = load_checkpoint(full / "checkpoints" / "last.pt")["model"]
    weights_split = load_checkpoint(split / "checkpoints" / "last.pt")["model"]
    assert all(torch.equal(weights_full[k], weights_split[k]) for k in weights_full)


def test_kfold_holds_out_every_subject_once_and_summarises_the_folds(tmp_path: Path) -> None:
    recipe = write_recipe(tmp_path, tiny_recipe(folds=3, epochs=1))
    result = run_cli("train", recipe, "--runs-dir", tmp_path / "runs", "-q")
    assert result.exit_code == 0, result.output
    parent = only_run_dir(tmp_path / "runs")
    summary = json.loads((parent / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["folds"] == 3
    data = load_eeg_dataset(parse_recipe(tiny_recipe(), "tiny_eeg").data)
    all_subjects = sorted(set(np.asarray(data.subjects).astype(str)))
    held_out = []
    scores = []
    for i, fold in enumerate(summary["per_fold"]):
        fold_dir = parent / f"fold-{i}"
        rows = read_csv(fold_dir / "predictions_test.csv")
        held_out += sorted({r["subject"] for r in rows})
        assert sorted({r["subject"] for r in rows}) == fold["test_subjects"]
        extras = load_checkpoint(fold_dir / "checkpoints" / "best.pt")["extras"]
        assert not set(extras["split"]["train"]) & set(fold["test_subjects"])
        assert not set(extras["split"]["val"]) & set(fold["test_subjects"])
        assert len(extras["split"]["val"]) >= 1, "an inner validation split picks the checkpoint"
        fold_summary = json.loads((fold_dir / "summary.json").read_text())
        assert fold["test_nrmse"] == fold_summary["best_checkpoint_eval"]["test_nrmse"]
        assert fold["test_nrmse"] == pytest.approx(
            independent_nrmse([float(r["y_true"]) for r in rows], [float(r["y_pred"]) for r in rows]), rel=1e-9
        )
        scores.append(fold["test_nrmse"])
    assert sorted(held_out) == all_subjects, "every subject is held out exactly once"
    assert summary["test_nrmse_mean"] == pytest.approx(float(np.mean(scores)), rel=1e-12)
    assert summary["test_nrmse_sd"] == pytest.approx(float(np.std(scores, ddof=1)), rel=1e-12)
    for name in ("recipe.yaml", "env.json", "cv.json", "cv_summary.md", "cv_folds.png"):
        assert (parent / name).is_file(), name
    assert "± " in (parent / "cv_summary.md").read_text()


@pytest.mark.parametrize(
    "overrides,message",
    [
        (["train.folds=7"], "train.folds=7 is more than the 6 subjects"),
        (["data.val_fraction=0"], "val_fraction > 0"),
        (["train.folds=3", "data.val_fraction=0"], "val_fraction > 0"),
    ],
)
def test_bad_eeg_settings_exit_2_with_a_clear_message(
    tmp_path: Path, eeg_recipe_file: Path, overrides: list[str], message: str
) -> None:
    result = run_cli("train", eeg_recipe_file, *overrides, "--runs-dir", tmp_path / "runs", "-q")
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("summary.json"))


def test_a_broken_braindecode_install_exits_2_with_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = importlib.import_module

    def failing_import(name: str, *args: object, **kwargs: object):
        if name.startswith("braindecode"):
            raise OSError("Could not load this library: _torchaudio.abi3.so")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(importlib, "import_module", failing_import)
    recipe = tiny_recipe()
    recipe["model"] = {"name": "eeg-eegnex", "dropout": 0.1}
    result = run_cli("train", write_recipe(tmp_path, recipe), "--runs-dir", tmp_path / "runs", "-q")
    one_error_line(result)
    assert "braindecode, which is installed but failed to import (OSError" in " ".join(result.output.split())


def test_an_even_eeg_latency_kernel_is_one_error_line(tmp_path: Path) -> None:
    recipe = tiny_recipe()
    recipe["model"] = {"name": "eeg-latency", "kernel_size": 24}
    error = one_error_line(run_cli("train", write_recipe(tmp_path, recipe), "--runs-dir", tmp_path / "runs", "-q"))
    assert "model.kernel_size must be odd" in error and "got 24" in error


def test_builtin_eeg_recipes_validate_and_have_one_line_descriptions() -> None:
    names = [n for n in builtin_recipes() if n.startswith("eeg_")]
    assert {
        "eeg_cnn",
        "eeg_latency",
        "eeg_sparse_lightweight",
        "eeg_sparse_improved",
        "eeg_eegnex",
        "eeg_hbn_example",
    } <= set(names)
    for name in names:
        result = run_cli("recipes", "validate", name)
        # the HBN template's data.root is a placeholder: validate checks the folder exists
        assert result.exit_code == (2 if name == "eeg_hbn_example" else 0), result.output
        recipe = load_recipe(name)
        assert recipe.family == "eeg" and recipe.description and "\n" not in recipe.description.strip()
        if recipe.model_name == "eeg-braindecode":  # the braindecode model's own option
            assert recipe.model.kwargs["drop_prob"] == 0.4
        # eeg-latency is not one of the seed's models; the rest keep the seed's dropout
        elif recipe.model_name != "eeg-latency":
            assert recipe.model.dropout == 0.4
    assert load_recipe("eeg_hbn_example").data.source == "hbn"


def test_an_interrupted_cross_validation_resumes_fold_by_fold(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.console import Console

    from attn.runs.crossval import resume_cross_validation
    from attn.runs.single import RunOptions

    recipe = write_recipe(tmp_path, tiny_recipe(folds=2, epochs=1))
    FOLD_STEPS = 2  # 3 held-out subjects, 1 validation subject: 2 x 6 = 12 training windows, batches of 8
    with monkeypatch.context() as patch:
        calls = {"n": 0}
        original = trainer_module.Trainer._train_step

        def train_step(self: object, at: int, progress: float) -> object:
            loss = original(self, at, progress)
            calls["n"] += 1
            if calls["n"] == FOLD_STEPS + 1:  # fold 0 done, first step of fold 1
                os.kill(os.getpid(), signal.SIGINT)
            return loss

        patch.setattr(trainer_module.Trainer, "_train_step", train_step)
        result = run_cli("train", recipe, "--runs-dir", tmp_path / "runs", "-q")
    assert result.exit_code == 130, result.output
    parent = only_run_dir(tmp_path / "runs")
    partial = json.loads((parent / "summary.json").read_text())
    assert partial["status"] == "interrupted" and len(partial["per_fold"]) == 2
    fold0 = (parent / "fold-0" / "summary.json").read_bytes()

    outcome = resume_cross_validation(parent, [], RunOptions(quiet=True, console=Console(quiet=True)))
    summary = outcome.summary
    assert summary["status"] == "completed" and [f["status"] for f in summary["per_fold"]] == ["completed"] * 2
    assert (parent / "fold-0" / "summary.json").read_bytes() == fold0, "a finished fold is kept as it is"
    assert read_records(parent / "fold-1", "train")[-1]["step"] == FOLD_STEPS
    scores = [f["test_nrmse"] for f in summary["per_fold"]]
    assert summary["test_nrmse_mean"] == pytest.approx(float(np.mean(scores)))


def test_the_hbn_example_validates_but_training_without_the_data_is_a_clear_error(tmp_path: Path) -> None:
    checked = run_cli("recipes", "validate", "eeg_hbn_example")
    assert checked.exit_code == 2 and "data.root" in checked.output and "/path/to/hbn" in checked.output
    missing = tmp_path / "no-hbn-here"
    result = run_cli("train", "eeg_hbn_example", f"data.root={missing}", "--runs-dir", tmp_path / "runs", "-q")
    assert result.exit_code == 2, result.output
    assert str(missing) in "".join(result.output.split()) and "does not exist" in " ".join(result.output.split())
