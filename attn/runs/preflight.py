"""Checks before a run allocates or writes anything: do the model and a batch fit in memory, do the
checkpoints fit on disk. Each refusal gives the estimate it is based on.

The memory estimate builds the model on PyTorch's ``meta`` device (shapes only, no storage) and
runs one forward pass there, adding up the tensors autograd saves for the backward pass; with the
weights, their gradients and AdamW's two moments (16 bytes per parameter in fp32) that is what a
training step holds at its peak. It is a lower bound on what the step allocates (temporaries
come and go), so a refused run would certainly not have fitted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from attn.fileio import check_free_space, format_bytes
from attn.models import build_model
from attn.process import check_memory, memory_bytes
from attn.recipe import Recipe
from attn.training.device import Runtime

TRAINING_BYTES_PER_PARAMETER = 16  # fp32 weights, gradients and AdamW's exp_avg and exp_avg_sq
CHECKPOINT_BYTES_PER_PARAMETER = 12  # weights and the two AdamW moments
DISK_MARGIN_BYTES = 32 * 2**20  # metrics, plots, per-window predictions, env and summary files


@dataclass
class RunEstimate:
    """What one training process of a recipe needs."""

    parameters: int
    batch_size: int  # per process
    activation_bytes: int | None  # saved for backward in one step; None where the meta pass failed

    @property
    def state_bytes(self) -> int:
        return self.parameters * TRAINING_BYTES_PER_PARAMETER

    @property
    def memory_bytes(self) -> int:
        return self.state_bytes + (self.activation_bytes or 0)

    @property
    def checkpoint_bytes(self) -> int:
        return self.parameters * CHECKPOINT_BYTES_PER_PARAMETER

    def describe(self) -> str:
        parts = f"{self.parameters:,} parameters: {format_bytes(self.state_bytes)} for weights, gradients and AdamW"
        if self.activation_bytes is not None:
            parts += f", {format_bytes(self.activation_bytes)} for the activations of a batch of {self.batch_size}"
        return parts


def example_input(recipe: Recipe, model_info: dict[str, Any], batch_size: int) -> torch.Tensor:
    """A batch of the model's input shape on the meta device."""
    if recipe.family == "text":
        return torch.zeros(batch_size, recipe.model.block_size, dtype=torch.long, device="meta")
    return torch.zeros(batch_size, model_info["n_channels"], model_info["n_times"], device="meta")


def estimate_run(recipe: Recipe, model_info: dict[str, Any], runtime: Runtime, batch_size: int) -> RunEstimate | None:
    """The memory of one training process of ``recipe``, or None where the model cannot be built on ``meta``."""
    try:
        with torch.device("meta"):
            model = build_model(recipe.model_name, recipe.model, **model_info)
    except Exception:  # noqa: BLE001 - a model that needs real storage to build: no estimate, no refusal
        return None
    parameters = sum(p.numel() for p in model.parameters())
    try:
        activations = _saved_for_backward_bytes(model, example_input(recipe, model_info, batch_size))
    except Exception:  # noqa: BLE001 - an op without a meta kernel: estimate from the parameters alone
        activations = None
    if activations is not None and runtime.autocast_dtype is not None:
        activations //= 2  # autocast saves most activations in 16 bits
    return RunEstimate(parameters, batch_size, activations)


def _saved_for_backward_bytes(model: torch.nn.Module, batch: torch.Tensor) -> int:
    """Bytes of the distinct storages autograd keeps from one forward pass of ``model`` on ``batch``."""
    saved: dict[int, int] = {}  # storage -> bytes (views of one storage count once)

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        saved[storage._cdata] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model.train()
        model(batch)
    return sum(saved.values())


def device_memory_bytes(runtime: Runtime) -> tuple[int, str]:
    """(total bytes, name) of the memory a run on ``runtime`` allocates from."""
    if runtime.device.type == "cuda":
        props = torch.cuda.get_device_properties(runtime.device)
        return props.total_memory, f"{runtime.device} ({props.name})"
    return memory_bytes()[0], "this machine"


def check_run_fits(estimate: RunEstimate | None, runtime: Runtime, folder: Path, resuming: bool) -> None:
    """Refuse a run whose model and batch cannot fit in memory, or whose checkpoints cannot fit on disk."""
    if estimate is None:
        return
    total, where = device_memory_bytes(runtime)
    check_memory(
        estimate.memory_bytes,
        f"this run ({estimate.describe()})",
        "lower train.batch_size or the model's size (model.* keys)",
        total_bytes=total,
        where=where,
    )
    # best.pt and last.pt, plus the temporary copy of an atomic write; a resumed run has its two already
    copies = 1 if resuming else 3
    check_free_space(folder, copies * estimate.checkpoint_bytes + DISK_MARGIN_BYTES, "the run's checkpoints")
