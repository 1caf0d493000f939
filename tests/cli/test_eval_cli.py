"""`attn eval`: the request checked before any work, one file per split, every fold of a cross-validation
pooled, a note when --text is cut, an overview of every head, and the newest run by default."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.helpers import eeg_recipe, independent_nrmse, only_run_dir, read_csv, run_cli, write_recipe


@pytest.fixture(scope="module")
def eeg_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("eval_eeg")
    result = run_cli("train", write_recipe(folder, eeg_recipe(epochs=1)), "--runs-dir", folder / "runs", "-q")
    assert result.exit_code == 0, result.output
    return only_run_dir(folder / "runs")


@pytest.fixture(scope="module")
def cv_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("eval_cv")
    result = run_cli("train", write_recipe(folder, eeg_recipe(folds=3, epochs=1)), "--runs-dir", folder / "runs", "-q")
    assert result.exit_code == 0, result.output
    return only_run_dir(folder / "runs")


@pytest.fixture
def text_run(tmp_path: Path, recipe_file: Path) -> Path:
    assert run_cli("train", recipe_file, "--runs-dir", tmp_path / "runs", "-q").exit_code == 0
    return only_run_dir(tmp_path / "runs")


def forbid_evaluation(monkeypatch: pytest.MonkeyPatch) -> None:
    import attn.inference.evaluate as evaluate

    def must_not_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("evaluated although the request could not work")

    monkeypatch.setattr(evaluate, "evaluate_trained", must_not_run)


def test_attention_maps_of_a_run_without_them_fail_before_evaluating(
    eeg_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    forbid_evaluation(monkeypatch)
    before = sorted(p.name for p in eeg_run.iterdir())
    result = run_cli("eval", eeg_run, "--attention-maps", "--text", "abc")
    assert result.exit_code == 2 and "model.readout=attention or latency" in result.stderr
    assert sorted(p.name for p in eeg_run.iterdir()) == before  # nothing written


def test_attention_maps_of_an_lstm_fail_before_evaluating(
    tmp_path: Path, corpus: Path, make_recipe, monkeypatch: pytest.MonkeyPatch
) -> None:
    recipe = make_recipe(corpus, max_steps=4, eval_interval=4)
    recipe["model"] = {"name": "char-lstm", "n_layer": 1, "d_embed": 8, "hidden_size": 16, "block_size": 16}
    assert (
        run_cli("train", write_recipe(tmp_path, recipe, "lstm.yaml"), "--runs-dir", tmp_path / "r", "-q").exit_code == 0
    )
    run = only_run_dir(tmp_path / "r")
    forbid_evaluation(monkeypatch)
    result = run_cli("eval", run, "--attention-maps", "--text", "to be")
    assert result.exit_code == 2 and "char-lstm has no attention" in result.stderr
    assert not list(run.glob("eval-*.json"))


def test_each_split_has_its_own_file(eeg_run: Path) -> None:
    for split in ("test", "val"):
        result = run_cli("eval", eeg_run, "--split", split)
        assert result.exit_code == 0, result.output
        assert result.stdout == f"{eeg_run / f'eval-{split}.json'}\n"
    summary = json.loads((eeg_run / "summary.json").read_text())["best_checkpoint_eval"]
    for split in ("val", "test"):
        metrics = json.loads((eeg_run / f"eval-{split}.json").read_text())["metrics"]
        assert metrics[f"{split}_nrmse"] == pytest.approx(summary[f"{split}_nrmse"], rel=1e-6)


def test_json_result_on_stdout(eeg_run: Path) -> None:
    result = run_cli("eval", eeg_run, "--split", "test", "--json")
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["metrics"] == json.loads((eeg_run / "eval-test.json").read_text())["metrics"]


def test_a_text_run_has_no_test_split_and_says_so_before_evaluating(
    text_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    forbid_evaluation(monkeypatch)
    result = run_cli("eval", text_run, "--split", "test")
    assert result.exit_code == 2 and "val split only" in result.stderr


def test_text_without_attention_maps_is_refused_before_evaluating(
    text_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    forbid_evaluation(monkeypatch)
    result = run_cli("eval", text_run, "--text", "To be")
    assert result.exit_code == 2 and "add --attention-maps" in result.stderr


def test_cross_validation_evaluates_every_fold_and_pools_them(cv_run: Path) -> None:
    result = run_cli("eval", cv_run, "--split", "test")
    assert result.exit_code == 0, result.output
    written = result.stdout.split()
    assert written == [str(cv_run / f"fold-{i}" / "eval-test.json") for i in range(3)] + [
        str(cv_run / "eval-test.json")
    ]
    pooled = json.loads((cv_run / "eval-test.json").read_text())
    y_true, y_pred, scores = [], [], []
    for i, fold in enumerate(pooled["folds"]):
        rows = read_csv(cv_run / f"fold-{i}" / "predictions_test.csv")  # written by training, same checkpoint
        y_true += [float(r["y_true"]) for r in rows]
        y_pred += [float(r["y_pred"]) for r in rows]
        scores.append(fold["metrics"]["test_nrmse"])
        trained = json.loads((cv_run / f"fold-{i}" / "summary.json").read_text())["best_checkpoint_eval"]
        assert fold["metrics"]["test_nrmse"] == pytest.approx(trained["test_nrmse"], rel=1e-6)
    assert pooled["pooled"]["test_nrmse"] == pytest.approx(independent_nrmse(y_true, y_pred), rel=1e-6)
    assert pooled["mean"]["test_nrmse"] == pytest.approx(float(np.mean(scores)))
    assert pooled["sd"]["test_nrmse"] == pytest.approx(float(np.std(scores, ddof=1)))
    assert "mean ± sd" in result.stderr and "pooled test NRMSE" in result.stderr


def test_one_fold_of_a_cross_validation(cv_run: Path) -> None:
    result = run_cli("eval", cv_run, "--fold", "1")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{cv_run / 'fold-1' / 'eval-val.json'}\n"
    bad = run_cli("eval", cv_run, "--fold", "7")
    assert bad.exit_code == 2 and "no fold 7 (folds: 0, 1, 2)" in bad.stderr


def test_a_text_longer_than_the_context_is_cut_with_a_note(text_run: Path) -> None:
    text = "to be or not to be that is the question"  # 39 characters; the tiny model's context is 16
    result = run_cli("eval", text_run, "--attention-maps", "--text", text)
    assert result.exit_code == 0, result.output
    assert f"--text has {len(text)} characters and the model's context is 16: the first {len(text) - 16}" in (
        result.stderr
    )
    stats = json.loads((text_run / "attention_maps" / "stats.json").read_text())
    assert stats["text"] == text[-16:] and stats["dropped_characters"] == len(text) - 16


def test_eval_defaults_to_the_newest_run(tmp_path: Path, recipe_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runs = tmp_path / "runs"
    assert run_cli("train", recipe_file, "--runs-dir", runs, "-q").exit_code == 0
    older = only_run_dir(runs)
    recipe = yaml.safe_load(recipe_file.read_text())
    recipe["name"] = "tiny_newer"
    newer_file = write_recipe(tmp_path, recipe)
    assert run_cli("train", newer_file, "--runs-dir", runs, "-q").exit_code == 0
    newer = only_run_dir(runs, "tiny_newer")
    stamp = time.time()
    os.utime(older / "recipe.yaml", (stamp - 100, stamp - 100))
    os.utime(newer / "recipe.yaml", (stamp, stamp))
    monkeypatch.setenv("ATTN_RUNS_DIR", str(runs))
    assert run_cli("eval", older).exit_code == 0  # writing into the older run does not make it the newest
    result = run_cli("eval")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{newer / 'eval-val.json'}\n"


@pytest.mark.parametrize(
    ("model", "n_slots"),
    [
        ({"name": "eeg-sparse-lightweight", "readout": "latency", "positional_encoding": "sinusoidal"}, 50),
        ({"name": "eeg-latency"}, 202),  # every sample and the two edge slots
    ],
    ids=["sparse-latency-readout", "eeg-latency"],
)
def test_eeg_attention_maps_draw_the_readout_over_time(tmp_path: Path, model: dict, n_slots: int) -> None:
    import json

    from tests.helpers import eeg_recipe, write_recipe

    recipe = eeg_recipe(epochs=1)
    recipe["model"] = model
    assert run_cli("train", write_recipe(tmp_path, recipe), "--runs-dir", tmp_path / "runs", "-q").exit_code == 0
    run = only_run_dir(tmp_path / "runs")
    result = run_cli("eval", run, "--split", "test", "--attention-maps", "--device", "cpu")
    assert result.exit_code == 0, result.output
    png = run / "attention_maps" / "readout_test.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    stats = json.loads((run / "attention_maps" / "readout_test.json").read_text())
    assert stats["readout"] == "latency" and len(stats["token_times_s"]) == n_slots
    split = json.loads((run / "split.json").read_text())["subjects"]["test"]
    for window in stats["windows"]:
        assert sum(window["weights"]) == pytest.approx(1.0, abs=1e-5) and window["subject"] in split
        # the expected time is the weights' expectation over the token times
        expected = sum(w * t for w, t in zip(window["weights"], stats["token_times_s"]))
        assert window["expected_time_s"] == pytest.approx(expected, abs=1e-4)


def test_eeg_attention_maps_need_an_attention_readout(tmp_path: Path, eeg_recipe_file: Path) -> None:
    assert run_cli("train", eeg_recipe_file, "--runs-dir", tmp_path / "runs", "-q").exit_code == 0
    run = only_run_dir(tmp_path / "runs")
    result = run_cli("eval", run, "--attention-maps", "--device", "cpu")
    assert result.exit_code == 2 and "model.readout=attention or latency" in result.output
    assert not (run / "eval-val.json").exists()  # refused before any work


@pytest.mark.parametrize(
    "command",
    [["eval"], ["generate", "--length", "5", "--prompt", "To"], ["export", "--format", "state-dict", "--out", "m.pt"]],
    ids=["eval", "generate", "export"],
)
def test_quiet_commands_print_their_result_alone(
    text_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    name, *rest = command
    loud = run_cli(name, text_run, *rest)
    quiet = run_cli(name, text_run, *rest, "-q")
    assert loud.exit_code == quiet.exit_code == 0, quiet.output
    assert loud.stderr.strip() and not quiet.stderr.strip()
    assert quiet.stdout.strip()


def test_attention_maps_of_a_cross_validation_name_a_fold_directory(cv_run: Path) -> None:
    before = {p: p.stat().st_mtime_ns for p in cv_run.rglob("*") if p.is_file()}
    result = run_cli("eval", cv_run, "--attention-maps", "--device", "cpu")
    assert result.exit_code == 2 and "cross-validation run" in result.stderr
    assert str(cv_run / "fold-0") in result.stderr  # the command to run instead
    assert {p: p.stat().st_mtime_ns for p in cv_run.rglob("*") if p.is_file()} == before  # refused before any work
