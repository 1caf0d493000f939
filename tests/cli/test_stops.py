"""How a run stops: SIGINT and SIGTERM save at the step they arrive, also with broken output; a stop during the
final evaluation still writes the summary; the NaN guard never keeps weights that are not finite."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
import yaml

import attn.training.trainer as trainer_module
from attn.tasks.text import LanguageModelTask
from attn.training.checkpoint import load_checkpoint
from tests.helpers import attn_command, only_run_dir, read_records, run_cli, text_recipe, write_recipe


def summary_of(run: Path) -> dict:
    return json.loads((run / "summary.json").read_text())


def test_sigterm_stops_like_ctrl_c_and_exits_143(
    tmp_path: Path, recipe_file: Path, monkeypatch: pytest.MonkeyPatch, interrupt_after: object
) -> None:
    interrupt_after(7, monkeypatch, signal.SIGTERM)
    result = run_cli("train", recipe_file, "--runs-dir", tmp_path / "runs", "-q")
    assert result.exit_code == 143, result.output
    run = only_run_dir(tmp_path / "runs")
    summary = summary_of(run)
    assert summary["status"] == "interrupted" and summary["signal"] == "SIGTERM" and summary["steps"] == 7
    assert "SIGTERM" in summary["message"]
    assert load_checkpoint(run / "checkpoints" / "last.pt")["trainer"]["step"] == 7
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL or callable(signal.getsignal(signal.SIGTERM))


def test_a_stop_during_the_final_evaluation_still_writes_the_summary(
    tmp_path: Path, recipe_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = LanguageModelTask.final_report
    calls = []

    def slow_report(self: LanguageModelTask, *args: object, **kwargs: object) -> dict:
        calls.append(1)
        if len(calls) == 1:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C in the middle of the whole-split evaluation
            time.sleep(5)  # (never reached: the handler stops the evaluation at once)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(LanguageModelTask, "final_report", slow_report)
    result = run_cli("train", recipe_file, "--runs-dir", tmp_path / "runs", "-q")
    assert result.exit_code == 130, result.output
    run = only_run_dir(tmp_path / "runs")
    summary = summary_of(run)
    assert summary["status"] == "interrupted" and "final evaluation" in summary["message"]
    assert summary["steps"] == 20 and "best_checkpoint_eval" not in summary
    weights = load_checkpoint(run / "checkpoints" / "last.pt")["model"]
    resumed = run_cli("train", "--resume", run, "-q")  # only the evaluation is left to do
    assert resumed.exit_code == 0, resumed.output
    assert summary_of(run)["status"] == "completed" and "best_checkpoint_eval" in summary_of(run)
    again = load_checkpoint(run / "checkpoints" / "last.pt")["model"]
    assert all(torch.equal(weights[k], again[k]) for k in weights)


def test_a_second_signal_stops_at_once_with_one_line(
    tmp_path: Path, recipe_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = trainer_module.Trainer._train_step

    def twice(self: object, at: int, progress: float) -> object:
        if at == 3:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
        return original(self, at, progress)

    monkeypatch.setattr(trainer_module.Trainer, "_train_step", twice)
    result = run_cli("train", recipe_file, "--runs-dir", tmp_path / "runs", "-q")
    assert result.exit_code == 130 and result.output.strip().splitlines()[-1] == "error: interrupted"
    assert "Traceback" not in result.output
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("recipe.yaml")), (
        "a new run stopped before its first checkpoint leaves no directory behind"
    )


def test_weights_that_became_nan_after_a_finite_loss_are_never_checkpointed(
    tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = trainer_module.Trainer._update

    def poisoned(self: trainer_module.Trainer, batch: object, clear_grads: bool = True) -> torch.Tensor:
        loss = original(self, batch, clear_grads)  # this step's loss is finite: it was computed before the update
        if self.state.step == 19:  # the update that makes step 20, an evaluation and checkpoint step
            with torch.no_grad():
                next(self.raw_model.parameters()).fill_(float("nan"))
        return loss

    monkeypatch.setattr(trainer_module.Trainer, "_update", poisoned)
    recipe = write_recipe(tmp_path, text_recipe(corpus, max_steps=30, eval_interval=10), "r.yaml")
    result = run_cli("train", recipe, "--runs-dir", tmp_path / "runs", "-q")
    assert result.exit_code == 3  # TrainingDiverged: its own exit code
    assert "the weights became NaN or Inf by step 20" in " ".join(result.output.split())
    run = only_run_dir(tmp_path / "runs")
    for name in ("last.pt", "best.pt"):
        content = load_checkpoint(run / "checkpoints" / name)  # loads: its weights are finite
        assert content["trainer"]["step"] == 10
    assert summary_of(run)["status"] == "diverged"
    assert run_cli("generate", run, "--seed", "To", "-n", "5", "--checkpoint", "last").exit_code == 0


@pytest.mark.slow
def test_ctrl_c_under_tee_saves_at_the_interrupt_step_like_in_a_terminal(tmp_path: Path, corpus: Path) -> None:
    """`attn train ... | tee log` and Ctrl-C: the terminal sends SIGINT to both; tee dies first."""
    recipe = text_recipe(corpus, max_steps=100000, eval_interval=100000, log_interval=1)
    path = write_recipe(tmp_path, recipe, "r.yaml")
    runs = tmp_path / "runs"
    attn = subprocess.Popen(
        [*attn_command(), "train", str(path), "--runs-dir", str(runs)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=lambda: os.setpgid(0, 0),  # its own process group, like a terminal's foreground job
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    tee = subprocess.Popen(
        ["tee", str(tmp_path / "log")],
        stdin=attn.stdout,
        stdout=subprocess.DEVNULL,
        preexec_fn=lambda: os.setpgid(0, attn.pid),
    )
    assert attn.stdout is not None
    attn.stdout.close()  # only tee reads the pipe
    try:
        deadline = time.time() + 120
        while time.time() < deadline and len(list_train_steps(runs)) < 3:
            time.sleep(0.1)
        os.killpg(attn.pid, signal.SIGINT)
        assert tee.wait(timeout=30) != 0  # tee died of the Ctrl-C; attn's output has no reader now
        code = attn.wait(timeout=120)
    finally:
        for proc in (attn, tee):
            if proc.poll() is None:
                proc.kill()
    assert code == 130
    run = only_run_dir(runs)
    summary = summary_of(run)
    step = load_checkpoint(run / "checkpoints" / "last.pt")["trainer"]["step"]
    assert summary["status"] == "interrupted" and summary["steps"] == step >= 3
    assert read_records(run, "train")[-1]["step"] == step  # saved at the interrupt step, not an earlier one


@pytest.mark.slow
def test_a_closed_stdout_and_stderr_do_not_change_what_a_stop_saves(tmp_path: Path, corpus: Path) -> None:
    """The reader of attn's only output exits first; then SIGTERM arrives."""
    path = write_recipe(tmp_path, text_recipe(corpus, max_steps=100000, eval_interval=100000, log_interval=1))
    runs = tmp_path / "runs"
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before attn writes its first line
    attn = subprocess.Popen(
        [*attn_command(), "train", str(path), "--runs-dir", str(runs)],
        stdout=write_end,
        stderr=write_end,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    os.close(write_end)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and len(list_train_steps(runs)) < 3:
            time.sleep(0.1)
        attn.send_signal(signal.SIGTERM)
        code = attn.wait(timeout=120)
    finally:
        if attn.poll() is None:
            attn.kill()
    assert code == 143
    run = only_run_dir(runs)
    step = load_checkpoint(run / "checkpoints" / "last.pt")["trainer"]["step"]
    assert summary_of(run)["steps"] == step == read_records(run, "train")[-1]["step"] >= 3
    assert yaml.safe_load((run / "recipe.yaml").read_text())["train"]["max_steps"] == 100000


def list_train_steps(runs: Path) -> list[int]:
    logs = list(runs.glob("*/*/metrics.jsonl"))
    if not logs:
        return []
    lines = logs[0].read_text(encoding="utf-8", errors="replace").splitlines()
    return [json.loads(line)["step"] for line in lines[:-1] if '"kind": "train"' in line]
