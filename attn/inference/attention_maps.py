"""Attention maps of a trained text model: a heat map per layer and head, and their statistics."""

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
from attn.inference.load import load_trained
from attn.training.device import resolve_device


@dataclass
class AttentionReport:
    folder: Path
    files: list[Path]
    rows: list[dict[str, Any]]
    table: Table


def write_attention_maps(
    run_dir: Path, text: str, *, checkpoint: str = "best", device: str = "auto"
) -> AttentionReport:
    """Run ``text`` through the run's model, capture every layer's attention and draw it.

    Writes ``attention_maps/<layer>_head<h>.png`` and ``attention_maps/stats.json`` (per head:
    entropy in nats, sparsity = fraction of weights below 0.01; per layer: head diversity, the
    mean pairwise Jensen-Shannon divergence between heads in bits, 0 = identical heads).
    """
    trained = load_trained(run_dir, checkpoint, resolve_device(device))
    model = trained.model
    if trained.recipe.model_name != "char-transformer":
        raise UserError(f"--attention-maps needs a transformer run (this run is {trained.recipe.model_name})")
    text = text[-model.block_size :]
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
    atomic_write_json(folder / "stats.json", {"text": text, "checkpoint": str(trained.checkpoint_path), "heads": rows})
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
    return AttentionReport(folder, files, rows, table)
