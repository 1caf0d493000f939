"""Run directories: the metrics log survives torn and garbled lines; run folders never collide."""

from __future__ import annotations

from pathlib import Path

from attn.training.rundir import MetricsLog, create_run_dir


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
