"""One `python -m attn train` process per experiment, read back from its run directory.

Shared by the benchmark scripts (gpu.py, lstm_sweep.py, text_research.py). Each experiment gets its
own runs folder and a fresh torch.compile cache (so compile time is the cold-start cost a user
pays); the wall time is measured from outside, process start to exit. A failing or hanging
experiment comes back as ``{"name", "error", "command"}`` instead of raising, so a list of them
always runs to the end.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def run_train(
    name: str,
    recipe: str | Path,
    overrides: list[str],
    workdir: Path,
    *,
    device: str | None = None,
    timeout: float | None = None,
    env: dict[str, str] | None = None,
    cache: Path | None = None,
) -> dict[str, Any]:
    """Train ``recipe`` with ``overrides`` in ``workdir/name``: summary, metrics records, times.

    ``cache``: the torch.compile cache folder (kept); default a fresh one, removed afterwards, so
    that a compiled run pays its cold compile time.

    Returns ``name``, ``command``, ``outside_wall_s``, ``run_dir``, ``summary`` (summary.json) and
    ``metrics`` (metrics.jsonl records), or ``name``, ``command`` and ``error``. Only a run directory
    this call made counts: an earlier call's run of the same name in ``workdir`` is never read back.
    """
    runs = Path(workdir) / name
    earlier = set(runs.glob("*/*/summary.json"))
    fresh = cache is None
    cache = Path(tempfile.mkdtemp(prefix="inductor-", dir=workdir)) if cache is None else Path(cache)
    command = [sys.executable, "-m", "attn", "train", str(recipe), *overrides, "--runs-dir", str(runs), "--quiet"]
    if device:
        command += ["--device", device]
    environment = {**os.environ, **(env or {}), "TORCHINDUCTOR_CACHE_DIR": str(cache), "PYTHONUNBUFFERED": "1"}
    start = time.perf_counter()
    try:
        proc = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"name": name, "command": " ".join(command), "error": f"timed out after {timeout:g} s"}
    finally:
        if fresh:
            shutil.rmtree(cache, ignore_errors=True)
    wall = time.perf_counter() - start
    summaries = sorted(set(runs.glob("*/*/summary.json")) - earlier)
    if proc.returncode != 0 or not summaries:
        output = (proc.stderr or proc.stdout or f"exit code {proc.returncode}").strip()
        return {"name": name, "command": " ".join(command), "error": output[-2000:] or f"exit {proc.returncode}"}
    run_dir = summaries[0].parent
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return {
        "name": name,
        "command": " ".join(command),
        "outside_wall_s": wall,
        "run_dir": str(run_dir),
        "summary": json.loads(summaries[0].read_text()),
        "metrics": metrics,
    }


def error_line(result: dict[str, Any]) -> str:
    """The last line of a failed experiment's output, for a table cell."""
    lines = [line for line in result["error"].strip().splitlines() if line.strip()]
    return (lines[-1] if lines else "failed")[:160].replace("|", "/")


def best_whole_split(summary: dict[str, Any]) -> float | None:
    """The best checkpoint's val loss on the whole validation split (None if the final evaluation was sampled)."""
    final = summary.get("best_checkpoint_eval", {})
    return final.get("val_loss") if final.get("full_split") else None


def time_to_best(result: dict[str, Any]) -> float | None:
    """The trainer clock at the evaluation that made the best checkpoint."""
    step = result["summary"].get("best", {}).get("step")
    return next((r.get("elapsed_s") for r in result["metrics"] if r.get("kind") == "eval" and r["step"] == step), None)


def write_report(out: Path, stem: str, markdown: str, data: Any) -> None:
    """``out/<stem>.md`` (the table, as printed) and ``out/<stem>.json`` (the raw results)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.md").write_text(markdown.rstrip("\n") + "\n")
    (out / f"{stem}.json").write_text(json.dumps(data, indent=1))
