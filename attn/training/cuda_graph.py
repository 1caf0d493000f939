"""A whole training step (forward, backward, clipping, optimizer) replayed as one CUDA graph.

Small models spend much of each step launching kernels from Python; a CUDA graph launches the
recorded kernels in one go, with no compilation. The first steps run eagerly on a side stream
(so workspaces and optimizer state exist), then one step is captured and replayed from then on.
Batches are copied into static input tensors and the learning rate lives in a device tensor.
Dropout stays random: PyTorch's CUDA generator advances its offset on every replay.

An optimizer that cannot be captured (torch.optim.Muon reads its learning rate as a host number,
so a graph would freeze the schedule) runs eagerly in ``after``, right after each replay, on the
same stream: it reads the gradients the replayed backward (and clipping) left in ``.grad``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

Update = Callable[..., torch.Tensor]  # update(batch, clear_grads: bool) -> detached loss


class CudaGraphStep:
    """Runs ``update(batch)`` eagerly for ``warmup`` calls, then as a captured CUDA graph."""

    def __init__(
        self,
        update: Update,
        param_groups: list[dict[str, Any]],
        params: list[torch.nn.Parameter],
        warmup: int = 3,
        after: Callable[[], None] | None = None,
    ):
        self.update = update
        self.after = after  # eager work after every update (an optimizer that cannot be captured)
        self.params = params
        self.warmup = warmup
        self.calls = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static: tuple[torch.Tensor, ...] = ()
        self.loss: torch.Tensor | None = None
        for group in param_groups:  # of every optimizer the graph replays
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
                loss = self.update(tensors, clear_grads=False)
                self._after()
                for p in self.params:  # the capture must see no gradients, so backward allocates them in its pool
                    p.grad = None
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
            loss = self.update(tensors, clear_grads=False)
            self._after()
            return loss
        for s, t in zip(self.static, tensors):
            s.copy_(t, non_blocking=True)
        self.graph.replay()
        self._after()
        assert self.loss is not None
        return self.loss.clone()

    def _after(self) -> None:
        if self.after is not None:
            self.after()
