"""The task interface: what a kind of model tells the one trainer (batches, loss, metrics)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import torch
from torch import nn

from attn.training.device import Runtime
from attn.training.distributed import World


class Task(ABC):
    """Batches, loss and evaluation for one kind of model; the trainer does the rest.

    ``metric`` names the evaluation result (lower is better) that picks the best checkpoint
    and drives early stopping; ``items`` names what throughput counts (tokens, windows).
    """

    metric: str = "val_loss"
    items: str = "items"

    @abstractmethod
    def model_info(self) -> dict[str, Any]:
        """Facts the model builder needs from the data (the model family's builder keywords)."""

    @abstractmethod
    def setup(self, runtime: Runtime, world: World, batch_size: int) -> None:
        """Move data to the device and prepare this process's batches of ``batch_size`` (its share)."""

    def steps_per_epoch(self) -> int | None:
        """Optimizer steps in one pass over the training split (None: sampled, no epochs)."""
        return None

    @abstractmethod
    def next_batch(self) -> Any:
        """The next training batch, on the device."""

    @abstractmethod
    def loss(self, model: nn.Module, batch: Any) -> torch.Tensor:
        """Scalar training loss of ``model`` on ``batch``: a mean over its items (called inside autocast)."""

    def split_batch(self, batch: Any, parts: int) -> list[Any]:
        """``batch`` as at most ``parts`` micro-batches, for gradient accumulation.

        The default splits a tuple of tensors along their first dimension into pieces of
        ceil(n / parts) examples; a last piece of a single example behind larger ones joins the one
        before it (layers with batch statistics cannot train on one example).
        """
        n = int(batch[0].shape[0])
        size = -(-n // parts)
        pieces = [list(t.split(size)) for t in batch]
        if size > 1 and len(pieces[0][-1]) == 1:
            pieces = [[*p[:-2], torch.cat(p[-2:])] for p in pieces]
        return [tuple(micro) for micro in zip(*pieces)]

    @abstractmethod
    def items_in(self, batch: Any) -> int:
        """Tokens or windows in a batch, for throughput."""

    @abstractmethod
    def evaluate(self, model: nn.Module, runtime: Runtime, full: bool = False, split: str = "val") -> dict[str, float]:
        """Metrics on ``split`` (``self.metric`` among them, named for val); ``full`` uses the whole split."""

    def eval_items(self, full: bool = False) -> int | None:
        """Items one :meth:`evaluate` call reads (for time estimates); None: unknown."""
        return None

    def final_items(self, full: bool = True) -> int | None:
        """Items :meth:`final_report` reads (for time estimates); by default one evaluation's."""
        return self.eval_items(full)

    def state_dict(self) -> dict[str, Any]:
        """Where the batches are (for an exact resume)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass

    def reseed(self, seed: int) -> None:
        """Start a fresh batch stream (a resumed DDP run with another number of processes)."""

    def checkpoint_extras(self) -> dict[str, Any]:
        """What must travel with the weights to use them later (a vocabulary, target scaling...)."""
        return {}

    def final_report(self, model: nn.Module, runtime: Runtime, run_dir: Path, full: bool = True) -> dict[str, Any]:
        """Metrics of the best checkpoint at the end of a run (and any files it writes)."""
        return self.evaluate(model, runtime, full=full)

    def after_evaluation(self, metrics: dict[str, float]) -> dict[str, Any]:
        """Hook after each evaluation (e.g. an adaptive augmentation); returns extra fields to log."""
        return {}

    def summary_rows(self, report: dict[str, Any]) -> list[tuple[str, Any]]:
        """Extra rows for the end-of-run table, from :meth:`final_report`'s result (test metrics, baselines)."""
        return []
