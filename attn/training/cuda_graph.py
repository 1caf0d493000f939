"""A whole training step (forward, backward, clipping, optimizer) replayed as one CUDA graph.

Small models spend much of each step launching kernels from Python; a CUDA graph launches the
recorded kernels in one go, with no compilation. The first steps run eagerly on a side stream
(so workspaces and optimizer state exist), then one step is captured and replayed from then on.
Batches are copied into static input tensors and the learning rate lives in a device tensor.
Dropout stays random: PyTorch's CUDA generator advances its offset on every replay.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

Update = Callable[..., torch.Tensor]  # update(batch, clear_grads: bool) -> detached loss


class CudaGraphStep:
    """Runs ``update(batch)`` eagerly for ``warmup`` calls, then as a captured CUDA graph."""

    def __init__(
        self, update: Update, param_groups: list[dict[str, Any]], params: list[torch.nn.Parameter], warmup: int = 3
    ):
        self.update = update
        self.params = params
        self.warmup = warmup
        self.calls = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static: tuple[torch.Tensor, ...] = ()
        self.loss: torch.Tensor | None = None
        for group in param_groups:  # of every optimizer of the run
            group["capturable"] = True  # optimizer state and step counts stay on the device
            if not isinstance(group["lr"], torch.Tensor):  # replayed kernels read the rate from memory
                group["lr"] = torch.tensor(float(group["lr"]), device=params[0].device)

    def __call__(self, batch: Any) -> torch.Tensor:
        tensors = tuple(batch)
        if self.graph is None and self.calls < self.warmup:
            self.calls += 1
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                loss = self.update(tensors, clear_grads=True)
            torch.cuda.current_stream().wait_stream(side)
            return loss
        if self.graph is None:
            self.static = tuple(t.clone() for t in tensors)
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                self.loss = self.update(self.static, clear_grads=False)
        if any(s.shape != t.shape for s, t in zip(self.static, tensors)):
            # A batch of another shape (e.g. the last, shorter one of an epoch): one eager step.
            for p in self.params:
                if p.grad is not None:
                    p.grad.zero_()
            return self.update(tensors, clear_grads=False)
        for s, t in zip(self.static, tensors):
            s.copy_(t, non_blocking=True)
        self.graph.replay()
        assert self.loss is not None
        return self.loss.clone()
