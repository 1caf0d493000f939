"""Distributed data parallel under torchrun: which rank am I, and the few collectives we need.

A single process is world size 1 and every helper here is then a no-op, so the trainer has one
code path for 1 or N processes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    """This process's place among the training processes."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_world(device: torch.device) -> World:
    """Join the process group that torchrun set up (NCCL on CUDA, gloo on CPU)."""
    if not launched_by_torchrun():
        return World()
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
    return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def shutdown_world(world: World) -> None:
    """Leave the process group together: rank 0 still writes the summary when the others are done,
    and a process that tears its connections down while a peer is busy can abort the peer (gloo)."""
    if world.distributed and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def mean_across(world: World, value: torch.Tensor) -> torch.Tensor:
    """The mean of a tensor over all ranks (the tensor itself with one process)."""
    if not world.distributed:
        return value
    value = value.clone()
    dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value / world.size


def broadcast_flags(world: World, flags: list[bool], device: torch.device) -> list[bool]:
    """Rank 0's flags on every rank (stop decisions must agree across ranks)."""
    if not world.distributed:
        return flags
    tensor = torch.tensor([int(f) for f in flags], dtype=torch.int32, device=device)
    dist.broadcast(tensor, src=0)
    return [bool(v) for v in tensor.tolist()]


def broadcast_values(world: World, values: list[float], device: torch.device) -> list[float]:
    """Rank 0's float64 values on every rank (e.g. augmentation settings that must agree)."""
    if not world.distributed:
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.broadcast(tensor, src=0)
    return [float(v) for v in tensor.tolist()]
