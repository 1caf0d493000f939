"""SIGKILL at random points of a run, resume after each: the run ends exactly where an uninterrupted one ends.

The kills come from inside the process that trains (a real SIGKILL: no handler, no clean-up) at moments
chosen by a seeded generator: after a training step, halfway through writing a checkpoint, halfway
through appending a metrics line, between best.pt and last.pt, during the final evaluation and while
writing the summary. A driver process imports torch once and forks one child per attempt, so the test
stays short; each child runs the real command line (``attn train`` then ``attn train --resume``).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from attn.training.checkpoint import load_checkpoint
from tests.helpers import only_run_dir, read_records, run_cli, text_recipe, write_recipe

REPO = Path(__file__).resolve().parents[2]
STEPS, EVAL_EVERY, CHECKPOINT_EVERY = 40, 10, 5


def kill_schedule(seed: int = 2026) -> list[dict]:
    """Five kills while training, in a random order, then one in the final evaluation and one in the summary.

    ``nth`` counts within one attempt (the 3rd training step, checkpoint write or metrics line after
    the start or resume), small enough that every attempt reaches it before the 40 steps are done.
    """
    rng = random.Random(seed)
    training = [
        {"kind": "step", "nth": rng.randint(3, 7)},
        {"kind": "step", "nth": rng.randint(3, 7)},
        {"kind": "checkpoint_write", "nth": rng.randint(1, 3)},  # a torn temporary file
        {"kind": "metrics_append", "nth": rng.randint(2, 12)},  # a torn last line
        {"kind": "before_last", "nth": 1},  # best.pt written, last.pt not yet
    ]
    rng.shuffle(training)
    return [*training, {"kind": "final_eval", "nth": 1}, {"kind": "summary_write", "nth": 1}]


@pytest.mark.slow
def test_sigkill_at_random_points_then_resume_ends_bit_identical(tmp_path: Path, corpus: Path) -> None:
    settings = dict(max_steps=STEPS, eval_interval=EVAL_EVERY, checkpoint_interval=CHECKPOINT_EVERY, log_interval=1)
    recipe = write_recipe(tmp_path, text_recipe(corpus, **settings), "r.yaml")
    assert run_cli("train", recipe, "--runs-dir", tmp_path / "whole", "-q").exit_code == 0
    whole = only_run_dir(tmp_path / "whole")

    schedule = kill_schedule()
    driver = subprocess.run(
        [sys.executable, __file__, str(recipe), str(tmp_path / "killed"), json.dumps(schedule)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)},
        timeout=600,
    )
    log = (tmp_path / "attempts.log").read_text() if (tmp_path / "attempts.log").exists() else ""
    assert driver.returncode == 0, driver.stderr[-3000:] + log[-3000:]
    attempts = [json.loads(line) for line in driver.stdout.splitlines()]
    assert [a["killed"] for a in attempts] == [True] * len(schedule) + [False], (attempts, log[-3000:])
    assert attempts[-1]["code"] == 0
    killed = only_run_dir(tmp_path / "killed")

    for name in ("last.pt", "best.pt"):
        a, b = load_checkpoint(whole / "checkpoints" / name), load_checkpoint(killed / "checkpoints" / name)
        assert a["trainer"]["step"] == b["trainer"]["step"]
        assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"]), name
    for kind in ("train", "eval"):
        steps = [r["step"] for r in read_records(killed, kind)]
        assert steps == sorted(set(steps)), f"{kind} records strictly increasing"
    untimed = [{k: v for k, v in r.items() if k != "elapsed_s"} for r in read_records(killed, "eval")]
    assert untimed == [{k: v for k, v in r.items() if k != "elapsed_s"} for r in read_records(whole, "eval")]
    summary = json.loads((killed / "summary.json").read_text())
    reference = json.loads((whole / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["best"] == reference["best"]
    assert summary["best_checkpoint_eval"] == reference["best_checkpoint_eval"]
    leftovers = [p.name for p in killed.rglob(".*")]
    assert leftovers == [], f"temporary or lock files left: {leftovers}"


# ---- the driver: runs in its own process, forks one child per attempt ---------------------------


def _arm(kill: dict) -> None:
    """Patch this (child) process to SIGKILL itself at the ``nth`` moment of ``kill["kind"]``."""
    import attn.fileio as fileio
    import attn.runs.single as single
    import attn.training.checkpoint as checkpoint
    import attn.training.rundir as rundir
    import attn.training.trainer as trainer
    from attn.tasks.text import LanguageModelTask

    count = {"n": 0}

    def due() -> bool:
        count["n"] += 1
        return count["n"] == kill["nth"]

    def die() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    kind = kill["kind"]
    if kind == "step":
        original_step = trainer.Trainer._train_step

        def step(self: trainer.Trainer, at: int, progress: float) -> torch.Tensor:
            loss = original_step(self, at, progress)
            if due():
                die()
            return loss

        trainer.Trainer._train_step = step
    elif kind == "checkpoint_write":

        def torn_write(path: Path, data: bytes) -> None:
            if not due():
                return fileio.atomic_write_bytes(path, data)
            with fileio.atomic_writer(path) as handle:
                handle.write(data[: len(data) // 2])
                handle.flush()
                die()

        checkpoint.atomic_write_bytes = torn_write
    elif kind == "metrics_append":
        original_append = rundir.MetricsLog.append

        def torn_append(self: rundir.MetricsLog, record: dict) -> None:
            if not due():
                return original_append(self, record)
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record)[:20])
            die()

        rundir.MetricsLog.append = torn_append
    elif kind == "before_last":
        original_save = trainer.Trainer.save

        def save(self: trainer.Trainer, name: str, *args: object, **kwargs: object) -> None:
            at_evaluation = self.state.step % EVAL_EVERY == 0 and (self.run_dir / "checkpoints" / "best.pt").is_file()
            if name == "last.pt" and at_evaluation and due():
                die()
            original_save(self, name, *args, **kwargs)

        trainer.Trainer.save = save
    elif kind == "final_eval":
        LanguageModelTask.final_report = lambda *args, **kwargs: die()
    elif kind == "summary_write":
        original_json = single.atomic_write_json

        def torn_summary(path: Path, data: object) -> None:
            if Path(path).name != "summary.json" or not due():
                return original_json(path, data)
            with fileio.atomic_writer(path) as handle:
                handle.write(b'{"status": "compl')
                die()

        single.atomic_write_json = torn_summary


def _drive(recipe: str, runs: str, schedule: list[dict]) -> None:
    torch.set_num_threads(1)
    import attn.runs  # noqa: F401  (everything imported once, before forking)
    import attn.tasks.text  # noqa: F401
    from attn.cli import main

    for kill in [*schedule, None]:
        done = sorted(Path(runs).glob("*/*/checkpoints/last.pt"))
        args = ["train", "--resume", str(done[0].parent.parent)] if done else ["train", recipe, "--runs-dir", runs]
        pid = os.fork()
        if pid == 0:  # the child: one attempt of the real command line, its output to a log
            code = 70
            log = os.open(Path(runs).parent / "attempts.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            os.dup2(log, 1)
            os.dup2(log, 2)
            try:
                if kill is not None:
                    _arm(kill)
                main([*args, "-q"])
            except SystemExit as stop:
                code = stop.code if isinstance(stop.code, int) else 1
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
        print(json.dumps({"kill": kill, "killed": killed, "code": code}), flush=True)


if __name__ == "__main__":
    _drive(sys.argv[1], sys.argv[2], json.loads(sys.argv[3]))
