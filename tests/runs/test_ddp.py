"""DistributedDataParallel on the CPU: two gloo processes under torchrun, then a resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml


def torchrun(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "attn", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.slow
def test_two_processes_train_and_resume(tmp_path: Path, corpus: Path, make_recipe: object) -> None:
    recipe = tmp_path / "ddp.yaml"
    recipe.write_text(yaml.safe_dump(make_recipe(corpus, batch_size=8, max_steps=20, eval_interval=10)))
    done = torchrun("train", str(recipe), "--runs-dir", str(tmp_path / "runs"), "-q")
    assert done.returncode == 0, done.stderr[-3000:]
    (run,) = list((tmp_path / "runs").glob("*/*"))
    assert json.loads((run / "env.json").read_text())["world_size"] == 2
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    train_steps = [r["step"] for r in records if r["kind"] == "train"]
    assert train_steps == sorted(set(train_steps)), "only rank 0 writes metrics"
    assert [r["step"] for r in records if r["kind"] == "eval"] == [10, 20]

    resumed = torchrun("train", "--resume", str(run), "train.max_steps=30", "-q")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    checkpoint = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert checkpoint["trainer"]["step"] == 30
    first, second = (state["task"]["generator"] for state in checkpoint["rank_states"])
    assert not torch.equal(first, second), "each process draws its own batches"
    assert json.loads((run / "summary.json").read_text())["status"] == "completed"
