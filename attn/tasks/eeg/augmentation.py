"""Noise and smoothing of EEG training batches, adapted by the feature-attention controller.

* temporal smoothing ``x <- (1 - tau) * x + tau * avgpool_5(x)``: a mix, with weight ``tau`` in
  [0.01, 1], of the window and its 5-sample (50 ms at 100 Hz) centred moving average;
* Gaussian noise ``x <- x + sigma * std_c * N(0, 1)`` with ``std_c`` the standard deviation of
  channel ``c`` over the training windows and ``sigma`` in [0.01, 0.5] (relative noise level).

``sigma`` and ``tau`` are driven by :class:`attn.tasks.eeg.controller.FeatureAttentionController`:
after each evaluation it scores patches of training windows (as the model currently sees them,
i.e. augmented) and moves sigma/tau by the change of the validation loss. New values take
effect at the start of the next epoch (rank 0's, on every rank alike).
"""

from __future__ import annotations

from typing import Any

import torch
from torch.nn import functional as F

from attn.tasks.eeg.controller import HEADS, FeatureAttentionController
from attn.training.distributed import World, broadcast_values

AUGMENTATION_OFFSET = 104729  # the augmentation generator's seed offset from train.seed (part of the checkpoint format)

SMOOTHING_KERNEL = 5  # samples in the moving average that tau mixes in
INITIAL_SIGMA, SIGMA_BOUNDS = 0.1, (0.01, 0.5)
INITIAL_TAU, TAU_BOUNDS = 0.1, (0.01, 1.0)
PATCH_WINDOWS, PATCH_SAMPLES = 16, 50  # what the controller scores after each evaluation


def augment(
    x: torch.Tensor, sigma: float, tau: float, channel_std: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Temporal smoothing (mix weight ``tau``), then Gaussian noise (``sigma`` x channel std).

    ``x`` is ``(B, C, T)``, ``channel_std`` ``(C,)``. Noise comes from the device's default
    generator, or from ``generator`` (a CPU generator) when given.
    """
    if tau > 0:
        smooth = F.avg_pool1d(x, SMOOTHING_KERNEL, stride=1, padding=SMOOTHING_KERNEL // 2, count_include_pad=False)
        x = torch.lerp(x, smooth, tau)
    if sigma > 0:
        if generator is None:
            noise = torch.randn_like(x)
        else:
            noise = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
        x = x + (sigma * channel_std.to(x.dtype))[None, :, None] * noise
    return x


class AdaptiveAugmentation:
    """Noise and smoothing of training batches, adapted by the feature-attention controller."""

    def __init__(self, channel_std: torch.Tensor, seed: int, world: World | None = None, adapt: bool = True):
        self.world = world or World()
        self.adapt = adapt  # False: sigma and tau stay at their starting values (train.augmentation=fixed)
        self.channel_std = channel_std
        self.controller = FeatureAttentionController(
            INITIAL_SIGMA, INITIAL_TAU, sigma_bounds=SIGMA_BOUNDS, tau_bounds=TAU_BOUNDS
        )
        self.active = dict(self.controller.params)  # what training batches use (set at epoch starts)
        self.generator = torch.Generator().manual_seed(seed + AUGMENTATION_OFFSET)

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        return augment(x, self.active["sigma"], self.active["tau"], self.channel_std)

    def start_epoch(self) -> None:
        """Take the controller's current values (rank 0's, broadcast under DDP)."""
        sigma, tau = broadcast_values(self.world, [self.controller.sigma, self.controller.tau], self.channel_std.device)
        self.active = {"sigma": sigma, "tau": tau}

    def observe(self, val_loss: float, windows: torch.Tensor) -> dict[str, float]:
        """Feed the controller patches of training windows and the new validation loss."""
        if not self.adapt:
            return {"aug_sigma": self.controller.sigma, "aug_tau": self.controller.tau}
        n, _, t = windows.shape
        size = min(PATCH_SAMPLES, t)
        pick = torch.randint(n, (min(PATCH_WINDOWS, n),), generator=self.generator)
        starts = torch.randint(t - size + 1, (len(pick),), generator=self.generator)
        rows = augment(
            windows[pick.to(windows.device)],
            self.active["sigma"],
            self.active["tau"],
            self.channel_std,
            generator=self.generator,
        ).cpu()
        patches = torch.stack([rows[i, :, s : s + size] for i, s in enumerate(starts.tolist())])
        centres = (starts + size / 2).double()
        features = self.controller.compute_patch_features(patches, centres, extent=t)
        self.controller.update_global_params(val_loss, 1.0 - float(features[0]), features=features)
        weights = {h: self.controller.attention_weights[h][-1] for h in HEADS}
        return {
            "aug_sigma": self.controller.sigma,
            "aug_tau": self.controller.tau,
            **{f"aug_weight_{h}": w for h, w in weights.items()},
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            "controller": self.controller.state_dict(),
            "active": dict(self.active),
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.controller.load_state_dict(state["controller"])
        self.active = {k: float(v) for k, v in state["active"].items()}
        self.generator.set_state(state["generator"])


class TimeShift:
    """Shift each training window by a random whole number of samples and its target by the same time.

    A window whose content appears ``s`` samples later shows a response ``s / sfreq`` seconds later,
    so the (standardised) target moves by ``s / (sfreq * target_std)``. Samples shifted in from
    outside the window repeat the edge sample. Shifts are uniform in ``[-max_shift, max_shift]``,
    drawn from a CPU generator whose state is saved for an exact resume.
    """

    def __init__(self, max_shift: int, target_step: float, seed: int):
        self.max_shift = max_shift
        self.target_step = target_step  # standardised target units per sample of shift
        self.generator = torch.Generator().manual_seed(seed + AUGMENTATION_OFFSET + 1)

    def apply(self, x: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shifts = torch.randint(-self.max_shift, self.max_shift + 1, (x.shape[0],), generator=self.generator)
        shifts = shifts.to(x.device)
        return shift_windows(x, shifts), z + shifts.to(z.dtype) * self.target_step

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])


def shift_windows(x: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """``x`` (B, C, T) with window ``b`` moved ``shifts[b]`` samples later (edge samples repeated)."""
    t = x.shape[-1]
    source = (torch.arange(t, device=x.device)[None, :] - shifts[:, None]).clamp(0, t - 1)
    return x.gather(2, source[:, None, :].expand(-1, x.shape[1], -1))
