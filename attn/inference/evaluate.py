"""Re-scoring a finished run from its best checkpoint (what `attn eval` does)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from attn.fileio import atomic_write_json
from attn.inference.load import is_exported_file, load_trained
from attn.tasks import build_task
from attn.training.device import resolve_runtime
from attn.training.distributed import World


def evaluate_run(
    run_dir: Path, *, split: str = "val", checkpoint: str = "best", device: str = "auto", full: bool = True
) -> dict[str, Any]:
    """Recompute the metrics of ``run_dir``'s checkpoint (or an exported file's model) on ``split``; write :func:`eval_path`."""
    trained = load_trained(run_dir, checkpoint, "cpu")
    recipe = trained.recipe
    runtime = resolve_runtime(device, recipe.train.precision, False)
    task = build_task(recipe, trained.extras)
    task.setup(runtime, World(), recipe.train.batch_size)
    model = trained.model.to(runtime.device)
    start = time.perf_counter()
    metrics = task.evaluate(model, runtime, full=full, split=split)
    result = {
        "run_dir": str(run_dir),
        "checkpoint": str(trained.checkpoint_path),
        "step": trained.step,
        "split": split,
        "full_split": full,
        "device": runtime.describe(),
        "seconds": round(time.perf_counter() - start, 3),
        "metrics": metrics,
    }
    atomic_write_json(eval_path(run_dir), result)
    return result


def eval_path(source: Path) -> Path:
    """``RUN_DIR/eval.json``, or ``FILE.eval.json`` beside an exported model file."""
    source = Path(source)
    return source.with_name(source.name + ".eval.json") if is_exported_file(source) else source / "eval.json"
