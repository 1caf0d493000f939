"""Run directories and checkpoints written by attn 0.1.0 before the package was reorganised still work.

tests/fixtures/runs-0.1.0 was written by commit bfd6a9b (the last one before the move): a text
run stopped at step 12 of 20 and a 2-fold EEG cross-validation with adaptive augmentation whose
fold 0 finished and whose fold 1 has only its checkpoint (its controller state in the old format).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from attn.inference import load_trained
from attn.training.checkpoint import load_checkpoint
from tests.helpers import read_records, run_cli

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "runs-0.1.0"


@pytest.fixture
def old_runs(tmp_path: Path) -> Path:
    return Path(shutil.copytree(FIXTURES, tmp_path / "runs"))


def test_an_old_text_checkpoint_loads_into_todays_model(old_runs: Path) -> None:
    run = old_runs / "tiny_text" / "20261202-000000"
    trained = load_trained(run, "last")
    stored = load_checkpoint(run / "checkpoints" / "last.pt")["model"]
    assert set(trained.model.state_dict()) == set(stored)  # strict load: no key renamed or lost
    assert trained.step == 12


@pytest.mark.slow
def test_an_old_text_run_resumes_generates_and_evaluates(old_runs: Path) -> None:
    run = old_runs / "tiny_text" / "20261202-000000"
    result = run_cli("train", "--resume", run, "train.max_steps=20", "-q")
    assert result.exit_code == 0, result.output
    steps = [r["step"] for r in read_records(run, "train")]
    assert steps == sorted(steps) and steps[-1] == 20
    generated = run_cli("generate", run, "--seed", "Alice", "--length", "20", "--random-seed", "1", "--device", "cpu")
    assert generated.exit_code == 0 and generated.stdout.startswith("Alice")
    assert run_cli("eval", run, "--device", "cpu").exit_code == 0


@pytest.mark.slow
def test_an_old_cross_validation_resumes_keeping_its_finished_fold(old_runs: Path) -> None:
    run = old_runs / "tiny_eeg" / "20261202-000001"
    fold0 = (run / "fold-0" / "summary.json").read_text()
    old_last = read_records(run / "fold-1", "eval")[-1]["step"]
    result = run_cli("train", "--resume", run, "train.epochs=2", "-q")  # fold 1 trains one more epoch
    assert result.exit_code == 0, result.output
    assert (run / "fold-0" / "summary.json").read_text() == fold0  # finished folds are kept as they were
    assert (run / "fold-1" / "summary.json").is_file() and (run / "summary.json").is_file()
    new = read_records(run / "fold-1", "eval")[-1]
    assert new["step"] == 2 * old_last and "aug_sigma" in new  # the old controller state kept adapting
