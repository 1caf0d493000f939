"""Checkpoints: compiled and old prefixed state dicts load; corrupt, truncated and foreign files are clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from attn.errors import CheckpointError
from attn.training.checkpoint import load_checkpoint, load_model_weights, save_checkpoint


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
