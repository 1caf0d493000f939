"""What an EEG attention readout attends to: its weights over the time of a window, drawn per window.

For ``model.readout: attention`` or ``latency`` (attn.models.eeg_sparse), ``attn eval --attention-maps``
runs the first windows of a split through the run's model and draws each window's softmax over time
with the true response time (solid) and, for ``latency``, the expected time the model read off (dashed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from attn.errors import UserError
from attn.fileio import atomic_write_json
from attn.inference.load import TrainedModel
from attn.models.eeg_readouts import plot_readout_weights
from attn.models.registry import HasReadoutWeights
from attn.tasks import build_task
from attn.training.device import resolve_runtime
from attn.training.distributed import World


def check_readout_maps(trained: TrainedModel) -> None:
    """A UserError unless ``trained`` is an EEG model with an attention readout (checked before any work)."""
    readout = trained.model.readout_kind if isinstance(trained.model, HasReadoutWeights) else None
    if readout in (None, "mean"):
        what = "averages its tokens (model.readout: mean)" if readout == "mean" else "has no attention readout"
        raise UserError(
            f"--attention-maps on an EEG run draws the readout's weights over time; model {trained.recipe.model_name} "
            f"{what}: train with model.readout=attention or latency"
        )


def write_readout_maps(
    trained: TrainedModel, run_dir: Path, *, split: str = "val", device: str = "auto", n_windows: int = 6
) -> list[Path]:
    """``attention_maps/readout_<split>.png`` and ``readout_<split>.json`` for the first ``n_windows`` of ``split``."""
    runtime = resolve_runtime(device, trained.recipe.train.precision, False)
    task = build_task(trained.recipe, trained.extras, quiet=True)
    task.setup(runtime, World(), trained.recipe.train.batch_size)
    windows = task.split_windows(split)[:n_windows]
    model = trained.model.to(runtime.device).eval()
    check_readout_maps(trained)
    assert isinstance(model, HasReadoutWeights)
    with torch.no_grad():
        model(windows)
    readout = model.readout_weights()
    assert readout is not None  # a readout with weights: checked above
    weights, times = readout
    expected = model.latency_expected_time()
    rows = task.split[split][: len(windows)]
    response = np.asarray(task.dataset.y, dtype=np.float64)[rows]
    folder = Path(run_dir) / "attention_maps"
    folder.mkdir(exist_ok=True)
    png = plot_readout_weights(
        weights,
        times,
        folder / f"readout_{split}.png",
        response_times=response,
        expected_times=None if expected is None else expected.detach().cpu().numpy(),
        n_windows=n_windows,
        title=f"{trained.recipe.name}: readout ({model.readout_kind}) weights over time, {split} windows",
    )
    stats: dict[str, Any] = {
        "readout": model.readout_kind,
        "split": split,
        "token_times_s": times.cpu().tolist(),
        "windows": [
            {
                "subject": str(task.subjects[row]),
                "response_time_s": float(rt),
                "weights": w.cpu().tolist(),
                **({"expected_time_s": float(expected[i])} if expected is not None else {}),
            }
            for i, (row, rt, w) in enumerate(zip(rows, response, weights))
        ],
    }
    atomic_write_json(folder / f"readout_{split}.json", stats)
    return [Path(png), folder / f"readout_{split}.json"]
