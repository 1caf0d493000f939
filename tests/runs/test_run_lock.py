"""One writer per run directory: a second one fails at once naming the first; a dead writer's lock is taken over."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from attn.errors import RunLocked
from attn.training.rundir import LOCK_NAME, RunLock, lock_path
from tests.helpers import attn_command, only_run_dir, read_records, run_cli, text_recipe, write_recipe

HOLD = "import sys, time; from attn.training.rundir import RunLock\nwith RunLock(sys.argv[1]):\n    print('held', flush=True); time.sleep(600)\n"


def hold_lock(folder: Path) -> subprocess.Popen:
    """Another process that holds the lock of ``folder`` until it is killed."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_the_lock_is_reentrant_in_one_process_and_removed_when_released(tmp_path: Path) -> None:
    with RunLock(tmp_path):
        words = (tmp_path / LOCK_NAME).read_text().split()
        assert words[0] == str(os.getpid())
        with RunLock(tmp_path):  # the run and its trainer both hold it
            pass
        assert (tmp_path / LOCK_NAME).is_file()
    assert not (tmp_path / LOCK_NAME).exists()


def test_a_second_process_fails_at_once_naming_the_holder_and_takes_over_when_it_dies(tmp_path: Path) -> None:
    holder = hold_lock(tmp_path)
    try:
        with pytest.raises(RunLocked, match=rf"is in use by process {holder.pid} \(since .*\): wait for it"):
            RunLock(tmp_path).__enter__()
    finally:
        holder.kill()  # SIGKILL: no clean-up, the lock file stays with a dead process id in it
        holder.wait()
    assert (tmp_path / LOCK_NAME).read_text().split()[0] == str(holder.pid)
    with RunLock(tmp_path):  # the kernel released the dead process's lock: taken over
        assert (tmp_path / LOCK_NAME).read_text().split()[0] == str(os.getpid())


def test_a_fold_shares_the_lock_of_its_cross_validation(tmp_path: Path) -> None:
    (tmp_path / "cv.json").write_text("{}")
    (tmp_path / "fold-1").mkdir()
    assert lock_path(tmp_path / "fold-1") == lock_path(tmp_path) == tmp_path.absolute() / LOCK_NAME


@pytest.mark.slow
def test_two_resumes_of_one_run_cannot_interleave(tmp_path: Path, corpus: Path) -> None:
    recipe = write_recipe(tmp_path, text_recipe(corpus, max_steps=10, log_interval=1))
    assert run_cli("train", recipe, "--runs-dir", tmp_path / "runs", "-q").exit_code == 0
    run = only_run_dir(tmp_path / "runs")
    first = subprocess.Popen(
        [*attn_command(), "train", "--resume", str(run), "train.max_steps=100000", "train.eval_interval=100000", "-q"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not (_held_by(run, first.pid) and _last_step(run) > 10):
            time.sleep(0.1)  # the first resume is training
        before = (run / "metrics.jsonl").read_bytes()
        second = run_cli("train", "--resume", run, "train.max_steps=200000", "-q")
        assert second.exit_code == 2 and f"is in use by process {first.pid}" in " ".join(second.output.split())
        assert (run / "metrics.jsonl").read_bytes().startswith(before[: before.rfind(b"\n") + 1])
        assert "200000" not in (run / "recipe.yaml").read_text()
        first.send_signal(signal.SIGINT)
        assert first.wait(timeout=120) == 130
    finally:
        if first.poll() is None:
            first.kill()
    steps = [r["step"] for r in read_records(run, "train")]
    assert steps == sorted(set(steps)), "strictly increasing: one writer only"
    assert json.loads((run / "summary.json").read_text())["status"] == "interrupted"
    assert not (run / LOCK_NAME).exists()


def _last_step(run: Path) -> int:
    lines = (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return max((json.loads(line)["step"] for line in lines[:-1] if line.strip()), default=0)


def _held_by(run: Path, pid: int) -> bool:
    try:
        return (run / LOCK_NAME).read_text().split()[0] == str(pid)
    except (FileNotFoundError, IndexError):
        return False
