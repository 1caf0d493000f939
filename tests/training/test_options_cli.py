"""Every trainer option at once through `attn train`, `attn eval` and `attn generate` on a tiny text recipe."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from attn.inference import load_trained
from tests.helpers import only_run_dir, read_records, run_cli, text_recipe, write_recipe

OPTIONS = {"optimizer": "muon", "ema_decay": 0.9, "schedule": "wsd", "decay_fraction": 0.3, "grad_accum_steps": 2}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.helpers import make_corpus

    root = tmp_path_factory.mktemp("options")
    recipe = write_recipe(root, text_recipe(make_corpus(root / "corpus.txt"), **OPTIONS), "tiny.yaml")
    result = run_cli("train", recipe, "--runs-dir", root / "runs")
    assert result.exit_code == 0, result.output
    assert "evaluated weights" in result.output and "exponential moving average" in result.output
    return only_run_dir(root / "runs")


def test_the_summary_says_how_the_run_trained(trained: Path) -> None:
    summary = json.loads((trained / "summary.json").read_text())
    optimizer = summary["training"]["optimizer"]
    assert optimizer.startswith("adamw (lr 0.003") and "+ muon (lr 0.02, 12 matrices" in optimizer
    assert summary["training"]["evaluated_weights"].startswith("exponential moving average of the weights (decay 0.9")
    lrs = [(r["lr"], r["muon_lr"]) for r in read_records(trained, "train")]
    assert all(muon == pytest.approx(0.02 * lr / 3e-3) for lr, muon in lrs)
    assert lrs[-1][0] < lrs[-2][0] == 3e-3  # held at the peak, then decaying over the last 30% (wsd)


def test_eval_and_generate_use_the_average(trained: Path) -> None:
    result = run_cli("eval", trained, "--device", "cpu")
    assert result.exit_code == 0, result.output
    summary = json.loads((trained / "summary.json").read_text())
    evaluated = json.loads((trained / "eval-val.json").read_text())["metrics"]["val_loss"]
    assert evaluated == pytest.approx(summary["best_checkpoint_eval"]["val_loss"], rel=1e-6)
    last = torch.load(trained / "checkpoints" / "last.pt", weights_only=True)
    from_last = load_trained(trained, "last").model.state_dict()
    assert all(torch.equal(from_last[k], v) for k, v in last["ema"]["weights"].items())
    assert not all(torch.equal(from_last[k], v) for k, v in last["model"].items())
    assert run_cli("generate", trained, "--seed", "To be", "--length", "20").exit_code == 0
