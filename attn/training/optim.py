"""The optimizers of a run: AdamW, or torch's Muon for the blocks' weight matrices plus AdamW for the rest.

``train.optimizer: muon`` gives ``torch.optim.Muon`` (torch's own implementation) every 2-D
parameter inside the model's repeated blocks (:class:`attn.models.registry.HasBlocks`): the
attention and MLP matrices. Everything else (embeddings, the output head, norms, biases,
convolution kernels) stays with AdamW, as Muon's authors prescribe. A model without repeated
blocks has no such matrices and trains with AdamW alone (with a notice): Muon is an optimizer
for hidden layers, and which matrices of an arbitrary model are hidden is not ours to guess.

Both optimizers follow one schedule: each group's learning rate is its own peak (``lr`` or
``muon_lr``) times the schedule's factor. AdamW decays weight matrices by ``weight_decay``;
Muon's matrices decay by ``muon_weight_decay`` (decoupled, scaled by Muon's learning rate).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.optim import Optimizer

from attn.errors import CheckpointError, UserError
from attn.models.registry import has_blocks
from attn.training.config import TrainConfig


class Optimizers:
    """One or two optimizers stepped as one: ``{"adamw": ..., "muon": ...}`` with their peak learning rates."""

    def __init__(self, optimizers: dict[str, Optimizer], peak_lrs: dict[str, float], notice: str | None = None):
        self.optimizers = optimizers
        self.peak_lrs = peak_lrs
        self.notice = notice  # why the run's train.optimizer could not be used as asked, if it could not

    def param_groups(self, only: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """The parameter groups of every optimizer, or of those named in ``only``."""
        chosen = [opt for name, opt in self.optimizers.items() if only is None or name in only]
        return [group for optimizer in chosen for group in optimizer.param_groups]

    def uses(self, name: str) -> bool:
        return name in self.optimizers

    def set_lr_factor(self, factor: float) -> None:
        """Every group's learning rate = its optimizer's peak x ``factor`` (in place for device tensors)."""
        for name, optimizer in self.optimizers.items():
            lr = self.peak_lrs[name] * factor
            for group in optimizer.param_groups:
                if isinstance(group["lr"], torch.Tensor):
                    group["lr"].fill_(lr)
                else:
                    group["lr"] = lr

    def capturable(self) -> list[str]:
        """The optimizers a CUDA graph can replay: AdamW (``capturable``), not Muon (its learning rate is a host number)."""
        return [name for name in self.optimizers if name != "muon"]

    def step(self, scaler: torch.amp.GradScaler | None = None, only: Sequence[str] | None = None) -> None:
        """One update of every optimizer, or of those named in ``only`` (through ``scaler`` under fp16 loss scaling)."""
        for name, optimizer in self.optimizers.items():
            if only is not None and name not in only:
                continue
            if scaler is None:
                optimizer.step()
            else:
                scaler.step(optimizer)
        if scaler is not None:
            scaler.update()

    def unscale_(self, scaler: torch.amp.GradScaler) -> None:
        for optimizer in self.optimizers.values():
            scaler.unscale_(optimizer)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for optimizer in self.optimizers.values():
            optimizer.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict[str, Any]:
        return {name: optimizer.state_dict() for name, optimizer in self.optimizers.items()}

    def load_state_dict(self, state: dict[str, Any], source: Any) -> None:
        """Restore from a checkpoint's ``optimizer`` entry (older checkpoints hold one AdamW state dict)."""
        if "param_groups" in state:  # written before Muon existed here: AdamW alone
            state = {"adamw": state}
        if set(state) != set(self.optimizers):
            raise CheckpointError(
                f"checkpoint '{source}' was trained with {' + '.join(sorted(state))}, this run uses "
                f"{' + '.join(sorted(self.optimizers))}: train.optimizer cannot change when resuming"
            )
        for name, optimizer in self.optimizers.items():
            try:
                optimizer.load_state_dict(state[name])
            except (ValueError, KeyError, TypeError) as err:
                raise CheckpointError(
                    f"checkpoint '{source}': the {name} state does not fit this model ({err})"
                ) from None
            _check_state_shapes(optimizer, name, source)

    def describe(self) -> str:
        """One line, e.g. ``muon (lr 0.02, 24 matrices, 10.6M parameters) + adamw (lr 0.002, 0.1M parameters)``."""
        parts = []
        for name, optimizer in self.optimizers.items():
            params = [p for group in optimizer.param_groups for p in group["params"]]
            count = sum(p.numel() for p in params)
            what = f"{len(params)} matrices, " if name == "muon" else ""
            parts.append(f"{name} (lr {self.peak_lrs[name]:g}, {what}{_millions(count)} parameters)")
        return " + ".join(parts)


def _check_state_shapes(optimizer: Optimizer, name: str, source: Any) -> None:
    """Every per-parameter tensor of a loaded state (moments, momentum buffers) has its parameter's shape and
    finite values: torch's load_state_dict checks neither, and a misfit would fail only at the first step."""
    for group in optimizer.param_groups:
        for param in group["params"]:
            for key, value in optimizer.state.get(param, {}).items():
                if not isinstance(value, torch.Tensor) or value.ndim == 0:
                    continue  # step counts
                if value.shape != param.shape or (value.is_floating_point() and not bool(torch.isfinite(value).all())):
                    what = f"shape {tuple(value.shape)} for a parameter of shape {tuple(param.shape)}"
                    raise CheckpointError(
                        f"checkpoint '{source}': the {name} state does not fit this model "
                        f"('{key}' {what if value.shape != param.shape else 'has NaN or Inf values'})"
                    )


def _millions(count: int) -> str:
    return f"{count / 1e6:.2f}M" if count >= 10_000 else f"{count:,}"


def block_matrices(model: nn.Module) -> list[nn.Parameter]:
    """The trainable 2-D parameters inside the model's repeated blocks, in ``model.parameters()`` order."""
    if not has_blocks(model):
        return []
    inside = {id(p) for p in model.blocks.parameters() if p.requires_grad and p.ndim == 2}
    return [p for p in model.parameters() if id(p) in inside]


def build_optimizers(model: nn.Module, cfg: TrainConfig, device: torch.device) -> Optimizers:
    """AdamW (weight decay on parameters of 2 and more dimensions only; fused on CUDA), plus Muon if asked for."""
    matrices = block_matrices(model) if cfg.optimizer == "muon" else []
    notice = None
    if cfg.optimizer == "muon" and not matrices:
        notice = (
            f"train.optimizer=muon: {type(model).__name__} has no weight matrices inside repeated blocks "
            "(attn.models.registry.HasBlocks), so every parameter trains with AdamW"
        )
    taken = {id(p) for p in matrices}
    rest = [p for p in model.parameters() if p.requires_grad and id(p) not in taken]
    groups = [
        {"params": [p for p in rest if p.dim() >= 2], "weight_decay": cfg.weight_decay},
        {"params": [p for p in rest if p.dim() < 2], "weight_decay": 0.0},
    ]
    optimizers: dict[str, Optimizer] = {
        "adamw": torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), fused=device.type == "cuda")
    }
    peaks = {"adamw": cfg.lr}
    if matrices:
        muon = getattr(torch.optim, "Muon", None)
        if muon is None:
            raise UserError(
                f"train.optimizer=muon needs torch.optim.Muon (torch 2.9 or later); this is torch {torch.__version__}"
            )
        optimizers["muon"] = muon(
            matrices,
            lr=cfg.muon_lr,
            momentum=cfg.muon_momentum,
            weight_decay=cfg.muon_weight_decay,
            ns_steps=cfg.muon_ns_steps,
        )
        peaks["muon"] = cfg.muon_lr
    return Optimizers(optimizers, peaks, notice)
