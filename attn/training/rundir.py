"""Run directories and their metrics log.

``runs/<recipe-name>/<timestamp>/`` holds the resolved recipe, ``metrics.jsonl``,
``summary.json``, ``env.json``, ``checkpoints/`` and plots. Every file but the log is written
atomically (:mod:`attn.fileio`); the log is appended line by line and a torn last line (from a
killed process) is skipped when read.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch

from attn.errors import CheckpointError, UserError
from attn.fileio import atomic_write_text, read_json, to_json
from attn.process import attn_source_commit
from attn.training.sinks import MetricSink

RUNS_ENV = "ATTN_RUNS_DIR"


class MetricsLog:
    """``metrics.jsonl``: one JSON object per logged step or evaluation, appended line by line.

    Each appended record then goes to every ``sinks`` entry (the experiment trackers).
    """

    def __init__(self, path: Path, sinks: Sequence[MetricSink] = ()):
        self.path = Path(path)
        self.sinks = list(sinks)

    def append(self, record: dict[str, Any]) -> None:
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(to_json(record, indent=None) + "\n")
            handle.flush()
        for sink in self.sinks:
            sink.log(record)

    def read(self) -> list[dict[str, Any]]:
        """All complete records (a torn last line, from a killed process, is skipped)."""
        if not self.path.exists():
            return []
        records = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return records

    def truncate_after(self, step: int) -> None:
        """Keep only records up to ``step`` (a resumed run repeats the steps after its checkpoint)."""
        kept = [r for r in self.read() if r.get("step", 0) <= step]
        atomic_write_text(self.path, "".join(json.dumps(r) + "\n" for r in kept))


def runs_root(cli_value: str | os.PathLike | None = None) -> Path:
    """``--runs-dir`` if given, else ``$ATTN_RUNS_DIR``, else ``./runs``."""
    return Path(cli_value or os.environ.get(RUNS_ENV) or "runs")


def create_run_dir(root: Path, recipe_name: str, checkpoints: bool = True) -> Path:
    """A new ``root/<recipe_name>/<YYYYmmdd-HHMMSS>`` (suffixed when that second is taken)."""
    base = Path(root) / recipe_name
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(1000):
        candidate = base / (stamp if n == 0 else f"{stamp}-{n}")
        try:
            candidate.mkdir(parents=True, exist_ok=False)
        except FileExistsError:
            continue
        if checkpoints:
            (candidate / "checkpoints").mkdir()
        return candidate
    raise UserError(f"could not create a new run directory under '{base}'")


def iter_runs(root: Path) -> Iterable[Path]:
    """Every run directory (one holding a recipe.yaml) under ``root``."""
    root = Path(root)
    if not root.is_dir():
        return []
    return (p.parent for p in root.glob("*/*/recipe.yaml"))


def latest_run(root: Path, family: str | None = None) -> Path:
    """The newest run under ``root`` with a checkpoint (or folds: ``cv.json``), optionally of one task
    family (env.json). Newest by when the run started (its recipe.yaml, written once), so that
    writing an evaluation into an older run does not make it the newest."""
    candidates = []
    for run in iter_runs(root):
        has_checkpoint = any((run / "checkpoints" / n).exists() for n in ("best.pt", "last.pt"))
        if not has_checkpoint and not (run / "cv.json").is_file():
            continue
        if family is not None:
            try:
                run_family = read_json(run / "env.json").get("family")
            except CheckpointError:
                continue
            if run_family != family:
                continue
        candidates.append(run)
    if not candidates:
        what = f"{family} " if family else ""
        raise UserError(f"no {what}run with a checkpoint found under '{root}'; train one first")
    return max(candidates, key=lambda p: ((p / "recipe.yaml").stat().st_mtime, str(p)))


def environment_info(device: torch.device) -> dict[str, Any]:
    """Versions, machine and device facts for env.json and bench reports."""
    import attn

    info: dict[str, Any] = {
        "attn": attn.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
        "command": " ".join(sys.argv),
        "git_commit": attn_source_commit(),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(
            gpu=props.name,
            gpu_memory_gb=round(props.total_memory / 2**30, 1),
            cuda=torch.version.cuda,
            gpu_count=torch.cuda.device_count(),
        )
    return info
