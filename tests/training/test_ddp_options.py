"""The trainer options under DDP (two gloo processes on the CPU): accumulation, Muon, the weight average."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from tests.helpers import only_run_dir
from tests.runs.test_ddp import torchrun


@pytest.mark.slow
def test_two_processes_accumulating_micro_batches_train_like_whole_batches(
    tmp_path: Path, corpus: Path, make_recipe: object
) -> None:
    """Each process splits its 4 examples into 2 micro-batches (no_sync before the last backward):
    the run must end where the run without accumulation ends, up to float32 rounding."""
    final = {}
    for k in (1, 2):
        recipe = make_recipe(corpus, batch_size=8, max_steps=12, eval_interval=6, grad_accum_steps=k, ema_decay=0.9)
        recipe["model"]["dropout"] = 0.0  # dropout draws differ with the micro-batch shapes
        path = tmp_path / f"k{k}.yaml"
        path.write_text(yaml.safe_dump(recipe))
        done = torchrun("train", str(path), "--runs-dir", str(tmp_path / f"runs{k}"), "-q")
        assert done.returncode == 0, done.stderr[-3000:]
        run = only_run_dir(tmp_path / f"runs{k}")
        final[k] = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
        best = torch.load(run / "checkpoints" / "best.pt", weights_only=True)
        assert best["model_weights"] == "ema" and final[k]["ema"]["updates"] == 12  # rank 0's average, saved
    for key in ("model", "ema"):
        one, two = final[1][key], final[2][key]
        weights = (one, two) if key == "model" else (one["weights"], two["weights"])
        for name, tensor in weights[0].items():
            torch.testing.assert_close(weights[1][name], tensor, rtol=1e-4, atol=1e-5, msg=f"{key} {name}")


@pytest.mark.slow
def test_two_processes_train_with_muon(tmp_path: Path, corpus: Path, make_recipe: object) -> None:
    recipe = make_recipe(corpus, batch_size=8, max_steps=6, eval_interval=3, optimizer="muon", schedule="wsd")
    (tmp_path / "muon.yaml").write_text(yaml.safe_dump(recipe))
    done = torchrun("train", str(tmp_path / "muon.yaml"), "--runs-dir", str(tmp_path / "runs"), "-q")
    assert done.returncode == 0, done.stderr[-3000:]
    checkpoint = torch.load(only_run_dir(tmp_path / "runs") / "checkpoints" / "last.pt", weights_only=True)
    assert checkpoint["trainer"]["step"] == 6 and set(checkpoint["optimizer"]) == {"adamw", "muon"}
    assert len(checkpoint["rank_states"]) == 2
