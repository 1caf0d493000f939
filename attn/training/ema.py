"""An exponential moving average of a model's weights (``train.ema_decay``), kept in a copy of the model.

After optimizer step ``t`` the average moves towards the live weights ``w``::

    avg <- avg + (w - avg) * (1 - d) / (1 - d**t)

which is the usual EMA with decay ``d`` and Adam's bias correction: at ``t = 1`` the average is
the weights themselves, and the weights of steps ``1..t`` always carry the whole average (the
plain EMA would keep a share ``d**t`` of the random initial weights: 13% after 2000 steps at
0.999). Floating-point parameters and buffers are averaged with one ``torch._foreach_lerp_``
call (one multi-tensor kernel per device and dtype, no Python loop over parameters), other
buffers (counters) are copied. The copy is a plain module: it is evaluated, saved as the weights
of ``best.pt`` and restored from ``last.pt``.

Under the whole-step CUDA graph the update runs eagerly right after each replay, not inside the
graph: it is queued on the same stream, so it reads the weights the replayed optimizer step has
just written, and its weight changes every step (bias correction), which a captured graph would
freeze at its capture-time value. It costs one multi-tensor launch per step.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn


def _tensors(model: nn.Module) -> list[tuple[str, torch.Tensor]]:
    return [*model.named_parameters(), *model.named_buffers()]


class WeightAverage:
    """The bias-corrected EMA of ``model``'s weights (``model`` is the plain module the optimizer updates)."""

    def __init__(self, model: nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.updates = 0
        self.model = copy.deepcopy(model).requires_grad_(False)
        live, averaged = _tensors(model), _tensors(self.model)
        assert [n for n, _ in live] == [n for n, _ in averaged], "the copy has another structure"
        pairs = [(a.detach(), w.detach()) for (_, w), (_, a) in zip(live, averaged)]
        self._average = [a for a, w in pairs if a.is_floating_point()]
        self._live = [w for a, w in pairs if a.is_floating_point()]
        self._copied = [a for a, w in pairs if not a.is_floating_point()]
        self._sources = [w for a, w in pairs if not a.is_floating_point()]

    def weight(self) -> float:
        """The share of the live weights in the next update (1 at the first)."""
        return (1.0 - self.decay) / (1.0 - self.decay ** (self.updates + 1))

    @torch.no_grad()
    def update(self) -> None:
        """Fold the model's current weights into the average (call after every optimizer step)."""
        torch._foreach_lerp_(self._average, self._live, self.weight())
        if self._copied:
            torch._foreach_copy_(self._copied, self._sources)
        self.updates += 1

    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "updates": self.updates, "weights": self.model.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue an average saved by :meth:`state_dict` (the decay is this run's)."""
        self.model.load_state_dict(state["weights"])
        self.updates = int(state["updates"])

    def describe(self) -> str:
        return f"exponential moving average of the weights (decay {self.decay:g}, bias-corrected)"
