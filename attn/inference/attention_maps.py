"""Attention maps of a trained text model: a heat map per layer and head, an overview per layer, and statistics."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from rich.table import Table

from attn.attention import (
    attention_entropy,
    attention_sparsity,
    capture_attention,
    head_diversity,
    save_attention_heatmaps,
)
from attn.errors import UserError
from attn.fileio import atomic_write_json
from attn.inference.load import TrainedModel
from attn.models.registry import HasContext


@dataclass
class AttentionReport:
    folder: Path
    files: list[Path]
    rows: list[dict[str, Any]]
    table: Table
    dropped: int = 0  # characters cut from the front of the text to fit the model's context


def check_attention_maps(trained: TrainedModel) -> None:
    """A UserError unless ``trained`` is a text model with attention to capture (checked before any work)."""
    recipe = trained.recipe
    if recipe.family != "text":
        raise UserError(
            f"--attention-maps draws the attention over --text characters: it needs a text run (this is an {recipe.family} run)"
        )
    if not any(hasattr(m, "weights_hook") for m in trained.model.modules()) or not isinstance(
        trained.model, HasContext
    ):
        raise UserError(f"--attention-maps needs a transformer run; model {recipe.model_name} has no attention to draw")


def write_attention_maps(trained: TrainedModel, run_dir: Path, text: str) -> AttentionReport:
    """Run ``text`` through the run's model, capture every layer's attention and draw it.

    Writes ``attention_maps/layer<l>_head<h>.png`` (one per head), ``attention_maps/layer<l>_heads.png``
    (every head of the layer side by side) and ``attention_maps/stats.json`` (per head: entropy in
    nats, sparsity = fraction of weights below 0.01; per layer: head diversity, the mean pairwise
    Jensen-Shannon divergence between heads in bits, 0 = identical heads). A text longer than the
    model's context keeps its last ``block_size`` characters (``dropped`` says how many went).
    """
    check_attention_maps(trained)
    model = trained.model
    dropped = max(len(text) - model.block_size, 0)
    text = text[dropped:]
    ids = torch.from_numpy(trained.vocab.encode(text)).to(next(model.parameters()).device)[None]
    with torch.no_grad(), capture_attention(model) as captured:
        model(ids)
    folder = Path(run_dir) / "attention_maps"
    folder.mkdir(exist_ok=True)
    tokens = [repr(c)[1:-1] for c in text]
    files: list[Path] = []
    rows: list[dict[str, Any]] = []
    for layer, (name, weights) in enumerate(captured.items()):
        files += save_attention_heatmaps(weights, folder / f"layer{layer}", tokens=tokens, title=f"layer {layer}")
        files += save_attention_heatmaps(
            weights, folder / f"layer{layer}", tokens=tokens, title=f"layer {layer}", grid=True
        )
        entropy = attention_entropy(weights).tolist()
        diversity = float(head_diversity(weights)) if weights.shape[1] > 1 else 0.0
        for head in range(weights.shape[1]):
            rows.append(
                {
                    "layer": layer,
                    "module": name,
                    "head": head,
                    "entropy_nats": entropy[head],
                    "sparsity": float(attention_sparsity(weights[:, head])),
                    "layer_head_diversity": diversity,
                }
            )
    atomic_write_json(
        folder / "stats.json",
        {"text": text, "dropped_characters": dropped, "checkpoint": str(trained.checkpoint_path), "heads": rows},
    )
    table = Table(title=f"attention statistics ({len(text)} characters)", title_justify="left")
    for column in ("layer", "head", "entropy (nats)", "sparsity (<0.01)", "layer head diversity"):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(
            str(row["layer"]),
            str(row["head"]),
            f"{row['entropy_nats']:.3f}",
            f"{row['sparsity']:.3f}",
            f"{row['layer_head_diversity']:.3f}",
        )
    return AttentionReport(folder, files, rows, table, dropped)
