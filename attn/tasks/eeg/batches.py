"""Shuffled epochs of EEG training windows, resumable exactly and sharded over DDP ranks.

Every epoch is a fresh permutation of the training windows drawn from a ``torch.Generator``;
batches are consecutive slices of it, and the last, shorter batch is kept unless it would hold a
single window (BatchNorm cannot train on one), in which case that window sits out this epoch.
The generator state at the start of the epoch, the epoch and the position within it are the
state, so a resumed run draws exactly the batches the interrupted one would have drawn. Under
DDP every rank draws the same permutation and takes every ``world_size``-th window of it.
"""

from __future__ import annotations

from typing import Any

import torch

from attn.errors import DataError


class EpochBatches:
    """Shuffled epochs over ``n`` windows in batches of ``batch_size`` (this rank's share)."""

    def __init__(
        self, n: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1, device: torch.device | str = "cpu"
    ):
        if batch_size < 1 or world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"invalid batching: batch_size={batch_size}, rank={rank}, world_size={world_size}")
        self.n, self.batch_size, self.rank, self.world_size = n, batch_size, rank, world_size
        self.device = torch.device(device)
        self.shard = n // world_size
        if self.shard < 2:
            raise DataError(
                f"the training split has {n} window(s), too few to train on"
                f"{f' with {world_size} processes' if world_size > 1 else ''} (BatchNorm needs batches of 2 or more)"
            )
        full, rest = divmod(self.shard, batch_size)
        self.batches_per_epoch = full + (1 if rest > 1 else 0)  # a last batch of 1 window is dropped
        self.generator = torch.Generator().manual_seed(seed)
        self.epoch = -1  # no epoch drawn yet
        self.position = 0
        self.order: torch.Tensor | None = None
        self._epoch_start_state = self.generator.get_state()

    def _draw(self) -> None:
        self._epoch_start_state = self.generator.get_state()
        perm = torch.randperm(self.n, generator=self.generator)
        self.order = perm[self.rank : self.shard * self.world_size : self.world_size].to(self.device)
        self.position = 0

    def next(self) -> tuple[torch.Tensor, bool]:
        """Indices of the next batch (on the device) and whether it starts a new epoch."""
        new_epoch = self.order is None or self.position >= self.batches_per_epoch
        if new_epoch:
            self._draw()
            self.epoch += 1
        assert self.order is not None
        start = self.position * self.batch_size
        self.position += 1
        return self.order[start : start + self.batch_size], new_epoch

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "position": self.position, "generator": self._epoch_start_state.clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
        self.epoch = int(state["epoch"])
        if self.epoch >= 0:
            self._draw()  # the same permutation as before the interruption
            self.position = int(state["position"])
        else:
            self.order, self.position = None, 0
