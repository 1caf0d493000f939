"""Character language modelling: random windows in, next-character cross-entropy out."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from attn.datasets.text import TextData
from attn.errors import UserError
from attn.metrics import language_model_metrics
from attn.training.device import Runtime, eval_mode
from attn.training.distributed import World
from attn.training.seeds import batch_seed
from attn.training.task import Task

EVAL_SEED = 20240601  # evaluation windows are the same at every evaluation and in every run


class WindowSampler:
    """Uniform random windows of ``block_size + 1`` tokens from one or more token arrays.

    A window never crosses from one array into the next. Start positions are drawn by a
    generator on the tokens' device, so sampling a batch needs no host-device transfer or
    sync; the generator's state is the data position saved in checkpoints.
    """

    def __init__(self, arrays: list[torch.Tensor], block_size: int, batch_size: int, seed: int):
        device = arrays[0].device
        self.block_size = block_size
        self.batch_size = batch_size
        self.tokens = torch.cat(arrays)
        lengths = torch.tensor([len(a) for a in arrays], dtype=torch.int64)
        counts = lengths - block_size
        self.total_valid = int(counts.sum())
        valid_cum = torch.cumsum(counts, 0)
        starts = torch.cumsum(lengths, 0) - lengths
        # Position j among all valid starts -> offset into the concatenation.
        self.valid_cum = valid_cum.to(device)
        self.shift = (starts - (valid_cum - counts)).to(device)
        self.generator = torch.Generator(device=device).manual_seed(seed)
        self.arange = torch.arange(block_size + 1, device=device)

    def offsets(self, n: int) -> torch.Tensor:
        ix = torch.randint(self.total_valid, (n,), generator=self.generator, device=self.tokens.device)
        which = torch.searchsorted(self.valid_cum, ix, right=True)
        return ix + self.shift[which]

    def windows(self, offsets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        w = self.tokens[offsets[:, None] + self.arange].long()
        return w[:, :-1], w[:, 1:]

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.windows(self.offsets(self.batch_size))


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Next-token cross-entropy in nats; half-precision logits are upcast to float32 first."""
    if logits.dtype in (torch.bfloat16, torch.float16):
        logits = logits.float()
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), reduction=reduction)


class LanguageModelTask(Task):
    """Next-character prediction on the corpora of a text recipe."""

    family = "text"
    metric = "val_loss"
    items = "tok"

    def __init__(self, data: TextData, block_size: int, eval_batches: int, seed: int):
        self.data = data
        self.block_size = block_size
        self.eval_batches = eval_batches
        self.seed = seed
        self.sampler: WindowSampler | None = None

    def model_info(self) -> dict[str, Any]:
        return {"vocab_size": len(self.data.vocab)}

    def setup(self, runtime: Runtime, world: World, batch_size: int) -> None:
        device = runtime.device
        dtype = torch.int16 if len(self.data.vocab) < 2**15 else torch.int32
        self.train_arrays = [torch.from_numpy(c.train).to(device=device, dtype=dtype) for c in self.data.corpora]
        self.val_arrays = [torch.from_numpy(c.val).to(device=device, dtype=dtype) for c in self.data.corpora]
        self.batch_size = batch_size
        self.sampler = WindowSampler(self.train_arrays, self.block_size, batch_size, batch_seed(self.seed, world.rank))
        self.eval_samplers = [
            WindowSampler([arr], self.block_size, batch_size, EVAL_SEED + i) for i, arr in enumerate(self.val_arrays)
        ]
        # Fixed evaluation windows: drawn once, reused at every evaluation.
        self.eval_offsets = [
            s.offsets(self.eval_batches * batch_size).view(self.eval_batches, batch_size) for s in self.eval_samplers
        ]

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        assert self.sampler is not None, "setup() first"
        return self.sampler.next()

    def loss(self, model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = batch
        return cross_entropy(model(x), y)

    def items_in(self, batch: tuple[torch.Tensor, torch.Tensor]) -> int:
        return batch[0].numel()

    def evaluate(self, model: nn.Module, runtime: Runtime, full: bool = False, split: str = "val") -> dict[str, float]:
        if split != "val":
            raise UserError(
                f"text runs have a val split only (got --split {split}); the corpora are split 90/10 train/val"
            )
        per_corpus = []
        with eval_mode(model), runtime.autocast():
            for i, arr in enumerate(self.val_arrays):
                total, count = self._full_loss(model, arr) if full else self._sampled_loss(model, i)
                per_corpus.append((total, count))
        # Mean over all evaluated tokens, so each corpus counts by its share of the windows.
        weights = [len(a) for a in self.val_arrays]
        losses = [t / c for t, c in per_corpus]
        val_loss = sum(w * loss for w, loss in zip(weights, losses)) / sum(weights)
        metrics = {f"val_{k}": v for k, v in language_model_metrics(val_loss).items()}
        if len(self.data.corpora) > 1:
            for corpus, loss in zip(self.data.corpora, losses):
                metrics[f"val_loss_{corpus.name}"] = loss
        return metrics

    def eval_items(self, full: bool = False) -> int | None:
        if full:
            return sum(len(arr) - 1 for arr in self.val_arrays)
        return sum(offsets.numel() for offsets in self.eval_offsets) * self.block_size

    def _sampled_loss(self, model: nn.Module, corpus: int) -> tuple[float, int]:
        sampler = self.eval_samplers[corpus]
        total = torch.zeros((), device=sampler.tokens.device, dtype=torch.float64)
        for offsets in self.eval_offsets[corpus]:
            x, y = sampler.windows(offsets)
            total += cross_entropy(model(x), y, reduction="sum")
        return float(total), self.eval_offsets[corpus].numel() * self.block_size

    def _full_loss(self, model: nn.Module, tokens: torch.Tensor) -> tuple[float, int]:
        """Every validation token predicted once, in consecutive non-overlapping windows."""
        t = self.block_size
        n_windows = math.ceil((len(tokens) - 1) / t)
        total = torch.zeros((), device=tokens.device, dtype=torch.float64)
        full_windows = (len(tokens) - 1) // t
        for start in range(0, full_windows, self.batch_size):
            stop = min(start + self.batch_size, full_windows)
            base = torch.arange(start, stop, device=tokens.device)[:, None] * t
            idx = base + torch.arange(t + 1, device=tokens.device)
            w = tokens[idx].long()
            total += cross_entropy(model(w[:, :-1]), w[:, 1:], reduction="sum")
        if n_windows > full_windows:  # the shorter last window
            w = tokens[full_windows * t :].long()[None]
            total += cross_entropy(model(w[:, :-1]), w[:, 1:], reduction="sum")
        return float(total), len(tokens) - 1

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.sampler.generator.get_state()} if self.sampler else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.sampler and "generator" in state:
            self.sampler.generator.set_state(state["generator"])

    def reseed(self, seed: int) -> None:
        if self.sampler:
            self.sampler.generator.manual_seed(seed)

    def checkpoint_extras(self) -> dict[str, Any]:
        return {"vocab": self.data.vocab.to_list(), "corpora": [c.name for c in self.data.corpora]}
