"""Run-directory files: atomic writes, metrics log, checkpoints and the learning-rate schedule."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
import torch
from torch import nn

from attn.errors import CheckpointError
from attn.fileio import atomic_write_json, atomic_write_text
from attn.training.checkpoint import load_checkpoint, load_model_weights, save_checkpoint
from attn.training.config import TrainConfig
from attn.training.rundir import MetricsLog, create_run_dir
from attn.training.schedule import learning_rate, step_progress


def test_atomic_write_replaces_whole_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "summary.json"
    atomic_write_json(target, {"a": 1})
    atomic_write_json(target, {"a": 2, "nan": float("nan")})
    assert json.loads(target.read_text()) == {"a": 2, "nan": None}
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]
    assert oct(target.stat().st_mode & 0o777) != oct(0o600), "files get the usual permissions, not mkstemp's 0600"


def test_failed_atomic_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "last.pt"
    atomic_write_text(target, "old")

    def crash(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_metrics_log_skips_a_torn_line_and_truncates_after_a_step(tmp_path: Path) -> None:
    log = MetricsLog(tmp_path / "metrics.jsonl")
    for step in (10, 20, 30):
        log.append({"step": step, "loss": step / 10})
    with open(log.path, "a") as handle:
        handle.write('{"step": 40, "lo')  # a process killed mid-write
    assert [r["step"] for r in log.read()] == [10, 20, 30]
    log.truncate_after(20)
    assert [r["step"] for r in log.read()] == [10, 20]
    assert log.path.read_text().endswith("\n")


def test_run_dirs_never_collide(tmp_path: Path) -> None:
    dirs = {create_run_dir(tmp_path, "r") for _ in range(3)}
    assert len(dirs) == 3 and all((d / "checkpoints").is_dir() for d in dirs)


def _model() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))


def test_checkpoint_of_a_compiled_model_loads_into_a_plain_one(tmp_path: Path) -> None:
    model = _model()
    compiled = torch.compile(model)  # compilation itself happens lazily, at the first call
    assert any(k.startswith("_orig_mod.") for k in compiled.state_dict())
    save_checkpoint(tmp_path / "c.pt", model=compiled, step=3)
    content = load_checkpoint(tmp_path / "c.pt")
    assert not any(k.startswith(("_orig_mod.", "module.")) for k in content["model"])
    fresh = _model()
    load_model_weights(fresh, content["model"], tmp_path / "c.pt")
    for a, b in zip(model.parameters(), fresh.parameters()):
        assert torch.equal(a, b)


def test_old_prefixed_state_dicts_are_cleaned(tmp_path: Path) -> None:
    model = _model()
    prefixed = {f"module._orig_mod.{k}": v for k, v in model.state_dict().items()}
    torch.save({"format": "attn-checkpoint-1", "model": prefixed}, tmp_path / "old.pt")
    fresh = _model()
    load_model_weights(fresh, load_checkpoint(tmp_path / "old.pt")["model"], tmp_path / "old.pt")
    assert torch.equal(fresh[0].weight, model[0].weight)


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", b"PK\x03\x04garbage"])
def test_corrupt_checkpoint_is_a_clear_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "best.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="corrupt or not a torch checkpoint"):
        load_checkpoint(path)


def test_truncated_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "c.pt", model=_model())
    data = (tmp_path / "c.pt").read_bytes()
    (tmp_path / "c.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "c.pt")


def test_foreign_torch_file_is_not_an_attn_checkpoint(tmp_path: Path) -> None:
    torch.save({"weights": torch.zeros(2)}, tmp_path / "x.pt")
    with pytest.raises(CheckpointError, match="not an attn checkpoint"):
        load_checkpoint(tmp_path / "x.pt")


def test_weights_of_another_architecture_are_a_clear_error(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "c.pt", model=_model())
    other = nn.Sequential(nn.Linear(4, 3))
    with pytest.raises(CheckpointError, match="does not fit the model"):
        load_model_weights(other, load_checkpoint(tmp_path / "c.pt")["model"], tmp_path / "c.pt")


def test_schedule_warmup_then_cosine_matches_hand_values() -> None:
    cfg = TrainConfig(lr=1.0, min_lr=0.1, warmup_steps=4, max_steps=14)
    lrs = [learning_rate(cfg, s, step_progress(cfg, s, 14)) for s in range(14)]
    assert lrs[:4] == pytest.approx([1 / 5, 2 / 5, 3 / 5, 4 / 5])
    # After warmup: 0.1 + 0.45 * (1 + cos(pi * (s - 4) / 10)).
    for s in range(4, 14):
        assert lrs[s] == pytest.approx(0.1 + 0.45 * (1 + math.cos(math.pi * (s - 4) / 10)))
    assert learning_rate(cfg, 100, 2.0) == pytest.approx(0.1)
    constant = TrainConfig(lr=0.5, min_lr=0.0, warmup_steps=0, schedule="constant")
    assert learning_rate(constant, 7, 0.9) == 0.5
