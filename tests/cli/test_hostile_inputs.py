"""Hostile inputs on the command line: each is one error line with exit code 2, and nothing is left half-written."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from attn.cli.errors import env_flag
from attn.datasets.eeg.hbn import read_events
from attn.errors import DataError
from attn.inference.sample import next_token_probs as next_token_probabilities
from tests.helpers import eeg_recipe, one_error_line, only_run_dir, run_cli, write_recipe


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["generate", "--length", "0"], "Invalid value for '--length' / '-n'"),
        (["generate", "--top-k", "0"], "Invalid value for '--top-k'"),
        (["generate", "--random-seed", str(2**64)], "Invalid value for '--random-seed'"),
        (["trian"], "No such command 'trian'. Did you mean 'train'?"),
        (["train", "--no-such-option"], "No such option: --no-such-option"),
        (["recipes", "shw"], "No such command 'shw'"),
    ],
)
def test_command_line_mistakes_are_one_line_naming_the_help(args: list[str], expected: str) -> None:
    line = one_error_line(run_cli(*args))
    assert expected in line and "--help`)" in line


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "-inf"])
def test_temperatures_that_mean_nothing_are_refused_before_loading(value: str) -> None:
    line = one_error_line(run_cli("generate", "/no/such/run", "--temperature", value))
    assert "--temperature must be a finite number >= 0" in line


def test_tiny_temperatures_do_not_overflow_and_tend_to_the_most_likely_token() -> None:
    logits = torch.tensor([[3.0, 1.0, 2.75, -50.0]])
    for temperature in (1e-3, 1e-30, 1e-300, 5e-324):
        probs = next_token_probabilities(logits, temperature)
        assert torch.isfinite(probs).all() and probs.dtype == torch.float64
        assert probs.sum().item() == pytest.approx(1.0) and probs.argmax().item() == 0
    reference = [math.exp(v / 0.7) for v in (3.0, 1.0, 2.75, -50.0)]  # float64 by hand
    expected = torch.tensor([[v / sum(reference) for v in reference]], dtype=torch.float64)
    assert torch.allclose(next_token_probabilities(logits, 0.7), expected, rtol=1e-12)
    top2 = next_token_probabilities(logits, 1.0, top_k=2)
    assert top2[0, 1].item() == 0.0 and top2[0, 3].item() == 0.0


def test_a_trained_run_samples_at_a_tiny_temperature(tmp_path: Path, recipe_file: Path) -> None:
    assert run_cli("train", recipe_file, "--runs-dir", tmp_path / "runs", "-q").exit_code == 0
    run = only_run_dir(tmp_path / "runs")
    result = run_cli("generate", run, "--seed", "To", "-n", "20", "--temperature", "1e-300", "--random-seed", "1")
    assert result.exit_code == 0, result.output
    again = run_cli("generate", run, "--seed", "To", "-n", "20", "--temperature", "1e-300", "--random-seed", "2")
    assert result.stdout == again.stdout  # the limit is deterministic: the most likely character each time


def test_seeds_too_large_for_torch_are_recipe_errors() -> None:
    line = one_error_line(run_cli("recipes", "validate", "shakespeare_char_cpu", f"train.seed={2**64}"))
    assert f"'train.seed' must be in [0, {2**63 - 1}]" in line


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["model.d_model=65536", "model.n_head=64", "model.n_layer=64"], r"TiB for weights, gradients and AdamW"),
        (["train.batch_size=100000000"], r"TiB for the activations of a batch of 100000000"),
    ],
)
def test_a_model_or_batch_that_cannot_fit_in_memory_is_refused_with_the_estimate(
    tmp_path: Path, overrides: list[str], expected: str
) -> None:
    result = run_cli("train", "shakespeare_char_cpu", *overrides, "--runs-dir", tmp_path / "runs", "--device", "cpu")
    line = one_error_line(result)
    assert "this run (" in line and "of memory and this machine has" in line
    assert __import__("re").search(expected, line)
    assert not (tmp_path / "runs").exists()


def test_simulated_eeg_that_cannot_fit_in_memory_is_refused_before_generating(tmp_path: Path) -> None:
    args = ["eeg_cnn", "data.n_subjects=10000", "data.trials_per_subject=10000"]
    for command in (["recipes", "validate"], ["train", "--runs-dir", str(tmp_path / "runs")]):
        line = one_error_line(
            run_cli(*command[:2], *args, *command[2:])
            if command[0] == "recipes"
            else run_cli("train", *args, *command[1:])
        )
        assert "the simulated EEG (10000 subjects x 10000 windows of 129x200) needs about 9.4 TiB" in line


def test_too_little_free_disk_space_stops_the_run_before_its_directory_exists(
    tmp_path: Path, recipe_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(2**40, 2**40 - 2**20, 2**20))
    line = one_error_line(run_cli("train", recipe_file, "--runs-dir", tmp_path / "runs"))
    assert "not enough free disk space for the run's checkpoints" in line and "1.0 MiB free" in line
    assert not (tmp_path / "runs").exists()


def test_a_runs_directory_that_is_a_file_or_too_long_a_name(tmp_path: Path, recipe_file: Path) -> None:
    (tmp_path / "runs").write_text("not a folder")
    line = one_error_line(run_cli("train", recipe_file, "--runs-dir", tmp_path / "runs" / "sub"))
    assert f"'{tmp_path / 'runs'}' is a file, not a folder" in line
    long = tmp_path / ("x" * 300)
    line = one_error_line(run_cli("train", recipe_file, "--runs-dir", long))
    assert "a name in the path is too long for the file system (ENAMETOOLONG)" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus.txt", "runs", "tiny.yaml"]


def test_a_corpus_that_is_a_folder_and_a_run_directory_that_is_a_file(tmp_path: Path) -> None:
    line = one_error_line(
        run_cli("train", "shakespeare_char_cpu", f"data.corpora=[{tmp_path}]", "--runs-dir", tmp_path)
    )
    assert "is a folder, not a file" in line
    (tmp_path / "run").write_text("x")
    for command in (["train", "--resume"], ["eval"], ["generate"]):
        line = one_error_line(run_cli(*command, tmp_path / "run"))
        assert any(
            what in line
            for what in ("is a file, not a folder", "is not a run directory", "is a file, not a run directory")
        )


def test_a_cache_directory_that_is_a_file_only_costs_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache-file"
    cache.write_text("not a folder")
    monkeypatch.setenv("ATTN_CACHE", str(cache))
    recipe = write_recipe(tmp_path, eeg_recipe(epochs=1))
    result = run_cli("train", recipe, "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 0, result.output
    assert "could not write the EEG cache" in " ".join(result.output.split())
    assert cache.read_text() == "not a folder"


def test_an_events_file_in_another_encoding_is_named(tmp_path: Path) -> None:
    events = tmp_path / "sub-01_task-contrastChangeDetection_events.tsv"
    events.write_text("onset\tvalue\n1.0\tcontrastTrial_start\n", encoding="utf-16")
    with pytest.raises(DataError, match=r"events file \(BIDS requires UTF-8\) '.*' is not UTF-8 text"):
        read_events(events)
    events.write_text("\ufeffonset\tvalue\n1.0\tcontrastTrial_start\n", encoding="utf-8")  # a BOM is fine
    assert read_events(events) == [(1.0, "contrastTrial_start")]


def test_recipes_copy_onto_a_folder_writes_into_it(tmp_path: Path) -> None:
    assert run_cli("recipes", "copy", "alice_char", tmp_path).exit_code == 0
    assert (tmp_path / "alice_char.yaml").is_file()
    line = one_error_line(run_cli("recipes", "copy", "alice_char", tmp_path))
    assert "alice_char.yaml' already exists" in line
    assert run_cli("recipes", "copy", "alice_char", tmp_path, "--force").exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alice_char.yaml"]


@pytest.mark.parametrize("device", ["foo", "cuda:x", "gpu0", ""])
def test_bad_device_strings_in_bench_attention(device: str, tmp_path: Path) -> None:
    line = one_error_line(run_cli("bench", "attention", "--device", device, "--runs-dir", tmp_path))
    assert "device" in line


@pytest.mark.parametrize(
    ("value", "on"),
    [("1", True), ("yes", True), ("On", True), ("2", True), ("0", False), ("00", False), ("false", False)]
    + [("", False), ("n", False), ("none", False), ("off", False), ("maybe", False)],
)
def test_attn_debug_is_on_only_for_a_true_value(value: str, on: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATTN_DEBUG", value)
    assert env_flag("ATTN_DEBUG") is on


def test_attn_debug_0_shows_no_traceback() -> None:
    env = {**os.environ, "ATTN_DEBUG": "0"}
    result = subprocess.run(
        [sys.executable, "-m", "attn", "recipes", "validate", "missing.yaml"], capture_output=True, text=True, env=env
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr and result.stderr.startswith("error:")


def test_a_corpus_too_large_for_memory_is_refused_before_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = tmp_path / "huge.txt"
    with open(corpus, "wb") as handle:  # a sparse file: 64 GiB that take no disk space
        handle.truncate(64 * 2**30)
    monkeypatch.setattr("attn.process.memory_bytes", lambda: (16 * 2**30, 8 * 2**30))
    line = one_error_line(run_cli("recipes", "validate", "shakespeare_char_cpu", f"data.corpora=[{corpus}]"))
    assert f"corpus '{corpus}' (64.0 GiB of text) needs about 832.0 GiB of memory and this machine has 16.0 GiB" in line


def test_paths_of_the_wrong_kind_are_named_as_such(tmp_path: Path, recipe_file: Path) -> None:
    (tmp_path / "afile").write_text("x")
    blocked = tmp_path / "afile" / "x"
    for args in (["train", "--resume", blocked], ["eval", blocked], ["train", f"{blocked}.yaml"]):
        assert f"'{tmp_path / 'afile'}' is a file, not a folder" in one_error_line(run_cli(*args))
    assert run_cli("train", recipe_file, "--runs-dir", tmp_path / "runs", "-q").exit_code == 0
    run = only_run_dir(tmp_path / "runs")
    (run / "checkpoints" / "last.pt").unlink()
    (run / "checkpoints" / "last.pt").mkdir()
    assert "last.pt' is a folder, not a checkpoint file" in one_error_line(run_cli("train", "--resume", run))
    text = (run / "recipe.yaml").read_text()
    (run / "recipe.yaml").unlink()
    (run / "recipe.yaml").mkdir()
    assert "recipe.yaml' is a folder, not the run's recipe file" in one_error_line(run_cli("eval", run))
    (run / "recipe.yaml").rmdir()
    (run / "recipe.yaml").write_text(text.replace("  lr: 0.003", "  lr: -1"))
    line = one_error_line(run_cli("eval", run))
    assert f"'{run / 'recipe.yaml'}': recipe key 'train.lr' must be > 0" in line


def test_a_corpus_changed_after_training_is_named(tmp_path: Path, corpus: Path, recipe_file: Path) -> None:
    assert run_cli("train", recipe_file, "--runs-dir", tmp_path / "runs", "-q").exit_code == 0
    with open(corpus, "a", encoding="utf-8") as handle:
        handle.write("\u00fc\u00e9")
    line = one_error_line(run_cli("eval", only_run_dir(tmp_path / "runs")))
    assert f"corpus '{corpus}'" in line and "not in the model's vocabulary" in line
