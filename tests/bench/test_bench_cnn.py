"""`attn bench vs cnn` end to end on tiny simulated EEG (report files and fields; no speed is asserted)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from attn.datasets.eeg import load_eeg_dataset
from attn.datasets.eeg.features import band_power_features, fit_ridge
from attn.models.eegnex import braindecode_problem
from attn.recipe import load_recipe
from tests.helpers import eeg_recipe, independent_nrmse, run_cli

pytestmark = pytest.mark.slow  # two training processes each
STEPS = 6  # 2 epochs of 24 training windows in batches of 8: more than the 5 warm-up steps
cli = run_cli


def tiny_eeg_recipe(model: str) -> dict:
    recipe = eeg_recipe(epochs=50)
    recipe.update(name="tiny_eeg_bench", model={"name": model, "dropout": 0.1})
    del recipe["description"]
    return recipe


def column(path: Path, name: str) -> list[float]:
    with open(path, newline="") as handle:
        return [float(row[name]) for row in csv.DictReader(handle)]


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("vs_cnn")
    (root / "tiny.yaml").write_text(yaml.safe_dump(tiny_eeg_recipe("eeg-sparse-lightweight")))
    # A time budget (far away) with the step count capped by --set, which applies after it.
    result = cli(
        "bench",
        "vs",
        "cnn",
        "--recipe",
        root / "tiny.yaml",
        "--budget-s",
        900,
        "--device",
        "cpu",
        "--set",
        f"train.max_steps={STEPS}",
        "--runs-dir",
        root / "runs",
        "-q",
    )
    assert result.exit_code == 0, result.output
    (bench_dir,) = (root / "runs" / "bench-cnn").iterdir()
    return bench_dir


def test_report_fields_match_each_runs_own_files(bench: Path) -> None:
    report = json.loads((bench / "report.json").read_text())
    eegnex_usable = braindecode_problem() is None
    expected = ["attention", "cnn"] + (["eegnex"] if eegnex_usable else [])
    assert report["bench"] == "vs-cnn" and list(report["models"]) == expected
    assert ("eegnex" in report["skipped"]) == (not eegnex_usable)
    for model in report["models"].values():
        run = bench / model["run_dir"]
        summary = json.loads((run / "summary.json").read_text())
        final = summary["best_checkpoint_eval"]
        assert model["status"] == "completed" and model["steps"] == STEPS
        assert model["parameters"] == summary["parameters"] and model["win_per_s"] > 0 and model["peak_memory_mb"] > 0
        assert model["val_nrmse"] == final["val_nrmse"] and model["test_nrmse"] == final["test_nrmse"]
        for split in ("val", "test"):
            predictions = run / f"predictions_{split}.csv"
            assert model[f"{split}_nrmse"] == pytest.approx(
                independent_nrmse(column(predictions, "y_true"), column(predictions, "y_pred")), rel=1e-9
            )
    assert (bench / "val_nrmse_vs_time.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = (bench / "report.md").read_text()
    assert "test NRMSE (best checkpoint)" in text and "oracle floor" in text and "900 s of training wall time" in text
    assert report["environment"]["command"].startswith("attn bench vs cnn")


def test_every_side_has_the_same_split_data_and_training_settings(bench: Path) -> None:
    report = json.loads((bench / "report.json").read_text())
    runs = [bench / m["run_dir"] for m in report["models"].values()]
    splits = [json.loads((run / "split.json").read_text()) for run in runs]
    recipes = [yaml.safe_load((run / "recipe.yaml").read_text()) for run in runs]
    assert all(s == splits[0] for s in splits) and report["settings"]["same_split_verified"]
    assert all(r["data"] == recipes[0]["data"] and r["train"] == recipes[0]["train"] for r in recipes)
    assert recipes[0]["train"]["max_time_s"] == 900 and recipes[0]["train"]["max_steps"] == STEPS
    assert [r["model"]["name"] for r in recipes][:2] == ["eeg-sparse-lightweight", "eeg-cnn"]


def test_baselines_are_those_of_the_shared_split(bench: Path) -> None:
    report = json.loads((bench / "report.json").read_text())
    run = bench / report["models"]["cnn"]["run_dir"]
    mean = json.loads((run / "split.json").read_text())["target_mean"]
    for split in ("val", "test"):
        y = column(run / f"predictions_{split}.csv", "y_true")
        assert report["baselines"][f"{split}_mean_predictor_nrmse"] == pytest.approx(
            independent_nrmse(y, [mean] * len(y)), rel=1e-9
        )
        assert report["baselines"][f"{split}_oracle_floor"] > 0


def test_ridge_baseline_is_fitted_on_the_training_subjects_only(bench: Path) -> None:
    report = json.loads((bench / "report.json").read_text())
    run = bench / report["models"]["attention"]["run_dir"]
    subjects = json.loads((run / "split.json").read_text())["subjects"]
    data = load_eeg_dataset(load_recipe(str(run / "recipe.yaml")).data)
    owner = np.asarray(data.subjects).astype(str)
    rows = {name: np.isin(owner, ids) for name, ids in subjects.items()}
    features = band_power_features(data.X)
    ridge = fit_ridge(features[rows["train"]], data.y[rows["train"]], groups=owner[rows["train"]])
    for split in ("val", "test"):
        y = data.y[rows[split]].tolist()
        expected = independent_nrmse(y, ridge.predict(features[rows[split]]).tolist())
        assert report["baselines"][f"{split}_ridge_nrmse"] == pytest.approx(expected, rel=1e-9)
    text = (bench / "report.md").read_text()
    assert "band-power ridge" in text and "n/a" not in text.split("band-power ridge")[1].splitlines()[0]


def test_user_errors_exit_2(tmp_path: Path) -> None:
    (tmp_path / "cnn.yaml").write_text(yaml.safe_dump(tiny_eeg_recipe("eeg-cnn")))
    result = cli("bench", "vs", "cnn", "--recipe", tmp_path / "cnn.yaml", "--steps", 2, "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 2 and "baselines" in result.output
    result = cli("bench", "vs", "cnn", "--recipe", "shakespeare_char_cpu", "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 2 and "EEG recipe" in result.output
    assert not (tmp_path / "runs").exists()


def test_a_zoo_peer_is_the_attention_recipe_with_a_braindecode_model() -> None:
    from attn.bench.vs_cnn import attention_recipe, peer_recipe

    attention = attention_recipe("eeg_sparse_lightweight", [], ["train.max_steps=3", "train.epochs=null"])
    peer = peer_recipe(attention, "Deep4Net")
    assert peer.model_name == "eeg-braindecode" and peer.model.arch == "Deep4Net"
    assert peer.to_dict()["data"] == attention.to_dict()["data"]
    assert peer.to_dict()["train"] == attention.to_dict()["train"]
