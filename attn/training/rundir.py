"""Run directories and the files in them, all written atomically.

``runs/<recipe-name>/<timestamp>/`` holds the resolved recipe, ``metrics.jsonl``,
``summary.json``, ``env.json``, ``checkpoints/`` and plots. A file is written to a temporary
name in the same directory, flushed to disk and renamed over the target, so a reader (or a
resumed run after SIGKILL) sees either the old or the new file, never a torn one.
"""

from __future__ import annotations

import io
import json
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from attn.errors import CheckpointError, UserError
from attn.fileio import atomic_write_bytes, atomic_write_text

RUNS_ENV = "ATTN_RUNS_DIR"


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def to_json(data: Any) -> str:
    """JSON text with NaN/Inf written as null (strict JSON readers reject NaN)."""
    return json.dumps(_finite(data), indent=2, default=_json_default, allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, to_json(data) + "\n")


def atomic_torch_save(obj: Any, path: Path) -> None:
    """``torch.save`` to memory, then :func:`atomic_write_bytes`."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"'{path}' does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"'{path}' is not valid JSON ({err})") from None


class MetricsLog:
    """``metrics.jsonl``: one JSON object per logged step or evaluation, appended line by line."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def append(self, record: dict[str, Any]) -> None:
        line = json.dumps(_finite(record), default=_json_default, allow_nan=False)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()

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
    """The newest run under ``root`` with a checkpoint, optionally of one task family."""
    candidates = []
    for run in iter_runs(root):
        if not any((run / "checkpoints" / n).exists() for n in ("best.pt", "last.pt")):
            continue
        if family is not None:
            try:
                summary_family = read_json(run / "env.json").get("family")
            except CheckpointError:
                continue
            if summary_family != family:
                continue
        candidates.append(run)
    if not candidates:
        what = f"{family} " if family else ""
        raise UserError(f"no {what}run with a checkpoint found under '{root}'; train one first")
    return max(candidates, key=lambda p: (p.stat().st_mtime, str(p)))


def process_age_s() -> float:
    """Seconds since this process started (interpreter start-up and imports included)."""
    import psutil

    return time.time() - psutil.Process().create_time()


def git_commit(cwd: Path | None = None) -> str | None:
    """The current git commit of the working directory, if it is a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


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
        "git_commit": git_commit(Path(__file__).resolve().parent),
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
