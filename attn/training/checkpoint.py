"""Checkpoints: model, optimizer, step, random states and what the task needs to rebuild itself.

Files are written atomically and loaded with ``weights_only=True`` (no arbitrary code from a
file). Weights are always those of the plain model: no ``_orig_mod.`` (torch.compile) or
``module.`` (DDP) prefixes reach a file, and either is stripped if found in an older one.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from attn.errors import CheckpointError
from attn.fileio import atomic_write_bytes

FORMAT = "attn-checkpoint-1"
_PREFIXES = ("_orig_mod.", "module.")


def atomic_torch_save(obj: Any, path: Path) -> None:
    """``torch.save`` to memory, then write the bytes atomically (temporary file, fsync, rename)."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module inside a DDP and/or torch.compile wrapper."""
    while True:
        if hasattr(model, "_orig_mod"):
            model = model._orig_mod
        elif isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        else:
            return model


def clean_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Strip wrapper prefixes from parameter names."""
    cleaned = {}
    for key, value in state.items():
        changed = True
        while changed:
            changed = False
            for prefix in _PREFIXES:
                if key.startswith(prefix):
                    key, changed = key[len(prefix) :], True
        cleaned[key] = value
    return cleaned


def capture_rng(device: torch.device) -> dict[str, Any]:
    """Random states of torch on the CPU and the run's device (dropout, initialisation)."""
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def restore_rng(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def save_checkpoint(path: Path, **content: Any) -> None:
    """Write a checkpoint atomically. ``content`` must hold ``model`` (a module or state dict)."""
    model = content["model"]
    if isinstance(model, nn.Module):
        content["model"] = unwrap(model).state_dict()
    content["format"] = FORMAT
    atomic_torch_save(content, path)


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and check a checkpoint; anything unreadable is a :class:`CheckpointError`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint '{path}' does not exist")
    try:
        content = torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError, zipfile.BadZipFile) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"checkpoint '{path}' is corrupt or not a torch checkpoint ({first[:200]})") from None
    if not isinstance(content, dict) or content.get("format") != FORMAT:
        raise CheckpointError(f"'{path}' is not an attn checkpoint (format {FORMAT} expected)")
    content["model"] = clean_state_dict(content["model"])
    return content


def evaluation_weights(content: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The weights to evaluate or sample with: the average of the weights where a checkpoint keeps one.

    ``best.pt`` of a run with ``train.ema_decay`` already holds the average as its model;
    ``last.pt`` holds the trained weights as its model and the average under ``ema``.
    """
    average = content.get("ema")
    return clean_state_dict(average["weights"]) if average else content["model"]


def load_model_weights(model: nn.Module, state: dict[str, torch.Tensor], source: Path) -> None:
    """Load weights into ``model``; a mismatch (another architecture) is a CheckpointError."""
    try:
        unwrap(model).load_state_dict(clean_state_dict(state))
    except RuntimeError as err:
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        raise CheckpointError(
            f"checkpoint '{source}' does not fit the model of its recipe: {' '.join(lines[:3])[:300]}"
        ) from None
