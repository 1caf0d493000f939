"""benchmarks/text_research.py, lstm_sweep.py and context_loss.py end to end with tiny variants and runs (fields and numerics, no speeds)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from attn.recipe import load_recipe

SCRIPTS = Path(__file__).resolve().parents[2] / "benchmarks"


def script(name: str, *args: object) -> subprocess.CompletedProcess:
    command = [sys.executable, str(SCRIPTS / f"{name}.py"), *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


def load(name: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(SCRIPTS))  # the scripts import their shared train_process module
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_builtin_research_variant_is_a_valid_recipe(monkeypatch: pytest.MonkeyPatch) -> None:
    research = load("text_research", monkeypatch)
    variants = research.builtin_variants(list(research.GROUPS))
    assert {"base", "rope", "muon", "wsd", "ema", "modern", "modern-no-ema", "fast-swiglu"} <= set(variants)
    for name, variant in variants.items():
        recipe = load_recipe(variant["recipe"], variant["overrides"])
        assert recipe.train.final_eval == "full" and recipe.model.n_layer == 6, name
    base = load_recipe(variants["base"]["recipe"], variants["base"]["overrides"])
    for name in ("rope", "rmsnorm", "qk_norm", "relu2", "untied", "zero_init", "muon", "wsd", "ema"):
        changed = load_recipe(variants[name]["recipe"], variants[name]["overrides"])
        assert changed.to_dict() != base.to_dict() and changed.train.max_steps == base.train.max_steps == 2000


@pytest.mark.slow
def test_research_runs_every_variant_even_after_a_failing_one(tmp_path: Path, recipe_file: Path) -> None:
    tiny = ["train.max_steps=4", "train.eval_interval=2", "train.log_interval=2"]
    variants = {
        "broken": {"recipe": str(recipe_file), "overrides": ["model.n_layer=0"]},
        "ema": {"recipe": str(recipe_file), "overrides": [*tiny, "train.ema_decay=0.9"]},
    }
    (tmp_path / "variants.yaml").write_text(yaml.safe_dump(variants))
    done = script(
        "text_research", "--variants", tmp_path / "variants.yaml", "--device", "cpu", "--out", tmp_path / "out"
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "[1/2" in done.stdout and "[2/2" in done.stdout  # progress
    table = (tmp_path / "out" / "text_research.md").read_text()
    (broken,) = [line for line in table.splitlines() if line.startswith("| broken |")]
    assert "failed:" in broken and "model.n_layer" in broken
    (ema,) = [line for line in table.splitlines() if line.startswith("| ema |")]
    results = json.loads((tmp_path / "out" / "text_research.json").read_text())
    summary = results[1]["summary"]
    loss = summary["best_checkpoint_eval"]["val_loss"]
    assert summary["best_checkpoint_eval"]["full_split"] and f"| {loss:.4f} ({summary['best']['step']}) |" in ema
    assert f"| {summary['parameters']:,} | 4 |" in ema

    stopped = script(
        "text_research", "--variants", tmp_path / "variants.yaml", "--max-minutes", 0, "--out", tmp_path / "none"
    )
    assert "not run (--max-minutes 0)" in (tmp_path / "none" / "text_research.md").read_text()
    assert not list((tmp_path / "none" / "runs").iterdir()), stopped.stdout


@pytest.mark.slow
def test_lstm_sweep_trains_the_benchs_lstm_and_writes_a_table(tmp_path: Path, recipe_file: Path) -> None:
    done = script(
        "lstm_sweep",
        "--recipe",
        recipe_file,
        "--dropouts",
        "0.3",
        "--lrs",
        "0.004",
        "--set",
        "train.max_steps=4",
        "--set",
        "train.eval_interval=2",
        "--device",
        "cpu",
        "--out",
        tmp_path / "sweep",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "sweep" / "lstm_sweep.json").read_text())
    assert [(r["dropout"], r["lr"]) for r in results] == [(0.3, 0.004)]
    (result,) = results
    table = (tmp_path / "sweep" / "lstm_sweep.md").read_text()
    assert f"| 0.3 | 0.004 | {result['summary']['best']['val_loss']:.4f} (4) |" in table
    assert f"**{result['summary']['best_checkpoint_eval']['val_loss']:.4f}**" in table  # the best, in bold
    recipe = yaml.safe_load((tmp_path / "sweep" / "recipes" / "lstm_d0.3_lr0.004.yaml").read_text())
    assert recipe["model"]["name"] == "char-lstm" and recipe["model"]["dropout"] == 0.3
    assert recipe["train"]["lr"] == 0.004 and recipe["train"]["optimizer"] == "adamw"


@pytest.mark.slow
def test_a_second_run_of_the_same_name_reads_back_its_own_run(
    tmp_path: Path, recipe_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    process = load("train_process", monkeypatch)
    tiny = ["train.eval_interval=1", "train.log_interval=1", "train.device=cpu"]
    first = process.run_train("same", recipe_file, [*tiny, "train.max_steps=3"], tmp_path, timeout=300)
    second = process.run_train("same", recipe_file, [*tiny, "train.max_steps=2"], tmp_path, timeout=300)
    assert first["summary"]["steps"] == 3 and second["summary"]["steps"] == 2, (first.get("error"), second.get("error"))
    assert first["run_dir"] != second["run_dir"] and len(list((tmp_path / "same").glob("*/*/summary.json"))) == 2


def test_context_loss_reads_each_position_with_exactly_its_context(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Position p of a window is predicted from its first p + 1 characters: the same loss as a forward pass
    over those characters alone (causality and indexing), averaged over the windows the stride gives."""
    import torch
    from torch.nn import functional as F

    from attn.datasets.text import load_text_data
    from attn.inference import load_trained
    from tests.helpers import train_tiny_text_run

    context_loss = load("context_loss", monkeypatch)
    run = train_tiny_text_run(tmp_path, steps=4)
    per_position, windows = context_loss.loss_by_position(run, stride=997, device="cpu", batch=3)
    trained = load_trained(run)
    block = trained.model.block_size
    val = load_text_data(trained.recipe.data, block, trained.vocab).corpora[0].val.astype("int64")
    starts = range(0, len(val) - block - 1, 997)
    assert windows == len(starts) and len(per_position) == block
    expected = torch.zeros(block, dtype=torch.float64)
    with torch.no_grad():
        for s in starts:
            for p in range(block):
                logits = trained.model(torch.from_numpy(val[s : s + p + 1])[None])[0, -1].double()
                expected[p] += F.cross_entropy(logits[None], torch.tensor([int(val[s + p + 1])]))
    assert torch.allclose(per_position, expected / len(starts), atol=1e-5)


def test_eeg_bench_keeps_the_folds_a_stopped_cross_validation_finished(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """benchmarks/eeg.py on a timeout: the folds finished before it are read back with their test NRMSE (the
    CV's own per-fold scores) and named in the row, not lost."""
    from tests.helpers import eeg_recipe, run_cli, write_recipe

    eeg = load("eeg", monkeypatch)
    recipe = write_recipe(tmp_path, eeg_recipe(folds=3, epochs=1))
    assert run_cli("train", recipe, "train.folds=3", "--runs-dir", tmp_path / "runs", "--quiet").exit_code == 0
    (summary_path,) = (tmp_path / "runs").glob("*/*/summary.json")
    per_fold = {f["fold"]: f["test_nrmse"] for f in json.loads(summary_path.read_text())["per_fold"]}
    summary_path.unlink()  # as if the process had been stopped after its last fold
    (summary_path.parent / "fold-2" / "summary.json").unlink()  # ... and before that fold's summary
    done = eeg.done_folds(tmp_path / "runs")
    assert done == {"done_folds": {0: per_fold[0], 1: per_fold[1]}}
    row = eeg.row({"name": "tiny", "error": "timed out after 9 s", **done}, shared=False)
    assert f"fold 0: {per_fold[0]:.3f}, fold 1: {per_fold[1]:.3f}" in row and "timed out after 9 s" in row
