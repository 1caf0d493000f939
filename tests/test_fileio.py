"""Run-directory files: atomic writes, metrics log, checkpoints and the learning-rate schedule."""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import pytest
import torch
from torch import nn

from attn.errors import CheckpointError, PathError, ResourceError, describe_os_error
from attn.fileio import atomic_write_json, atomic_write_text, check_free_space, read_text_file, remove_stale_temporaries
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


def test_metrics_log_skips_garbage_bytes_and_a_torn_line_before_the_next_record(tmp_path: Path) -> None:
    log = MetricsLog(tmp_path / "metrics.jsonl")
    log.append({"step": 1, "loss": 1.0})
    with open(log.path, "ab") as handle:
        handle.write(b'\xff\xfe\x00garbage\n[1, 2]\n"text"\n{"step": "x"}\n')
        handle.write(b'{"step": 2, "lo')  # torn by a kill: the next record must not join it
    resumed = MetricsLog(log.path)
    resumed.append({"step": 3, "loss": 0.5})
    assert [r["step"] for r in resumed.read()] == [1, 3]
    resumed.truncate_after(3)
    assert log.path.read_bytes().decode("utf-8").splitlines() == [
        '{"step": 1, "loss": 1.0}',
        '{"step": 3, "loss": 0.5}',
    ]


def test_an_atomic_write_onto_a_folder_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    (tmp_path / "target").mkdir()
    with pytest.raises(PathError, match="it is a folder, not a file"):
        atomic_write_text(tmp_path / "target", "x")
    assert [p.name for p in tmp_path.iterdir()] == ["target"]


def test_stale_temporaries_of_killed_writes_are_removed(tmp_path: Path) -> None:
    (tmp_path / ".last.pt.abc123.tmp").write_bytes(b"half a checkpoint")
    (tmp_path / "last.pt").write_bytes(b"whole")
    assert [p.name for p in remove_stale_temporaries(tmp_path)] == [".last.pt.abc123.tmp"]
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_the_free_space_check_reads_the_file_system_of_the_nearest_existing_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = []

    def fake_usage(path: str) -> shutil._ntuple_diskusage:
        asked.append(Path(path))
        return shutil._ntuple_diskusage(total=10 * 2**30, used=10 * 2**30 - 5 * 2**20, free=5 * 2**20)

    monkeypatch.setattr(shutil, "disk_usage", fake_usage)
    check_free_space(tmp_path / "runs" / "new", 4 * 2**20, "the checkpoints")  # 4 MiB of 5: fine
    with pytest.raises(ResourceError, match=r"needs about 6.0 MiB and the file system of '.*' has 5.0 MiB free"):
        check_free_space(tmp_path / "runs" / "new", 6 * 2**20, "the checkpoints")
    assert asked == [tmp_path, tmp_path]


@pytest.mark.parametrize(
    ("err", "message"),
    [
        (PermissionError(13, "Permission denied", "/x/y"), "'/x/y': permission denied (EACCES)"),
        (OSError(28, "No space left on device", "/x"), "'/x': no space left on the device (ENOSPC)"),
        (OSError(30, "Read-only file system", "/ro"), "'/ro': the file system is read-only (EROFS)"),
        (OSError(36, "File name too long", "/a" * 3), "a name in the path is too long for the file system"),
        (NotADirectoryError(20, "Not a directory", "/f/x"), "a part of the path is a file, not a folder (ENOTDIR)"),
        (OSError(18, "Invalid cross-device link", "/a", None, "/b"), "'/a' -> '/b': invalid cross-device link (EXDEV)"),
    ],
)
def test_os_errors_become_one_line_naming_the_path(err: OSError, message: str) -> None:
    assert message in describe_os_error(err) and "\n" not in describe_os_error(err)


def test_read_text_file_names_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(PathError, match="corpus '.*nope' does not exist"):
        read_text_file(tmp_path / "nope", "corpus")
    with pytest.raises(PathError, match="is a folder, not a file"):
        read_text_file(tmp_path, "corpus")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(PathError, match="is not a regular file"):
        read_text_file(fifo, "corpus")  # opening it would wait for a writer forever
    (tmp_path / "t.txt").write_bytes("h\u00e9".encode("utf-16"))
    with pytest.raises(PathError, match=r"is not UTF-8 text \(byte 0"):
        read_text_file(tmp_path / "t.txt", "corpus")
