"""`eeg-eegnex`: braindecode's EEGNeX (Chen et al., 2024), the official challenge baseline.

braindecode is an optional dependency (``pip install 'attn[eegnex]'``), imported only when the
model is built; its ``(B, 1)`` output is flattened to the ``(B,)`` every EEG model returns.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

import torch
from torch import nn

from attn.errors import RecipeError
from attn.models.registry import register_model
from attn.schema import option


@dataclass
class EEGNeXConfig:
    """The ``model`` section of an eeg-eegnex recipe."""

    dropout: float = option(
        0.5,
        help="EEGNeX drop_prob (0.5 is braindecode's default, as in the official baseline)",
        min=0,
        max=1,
        max_exclusive=True,
    )


class EEGNeXRegressor(nn.Module):
    """Wraps a braindecode EEGNeX with one output so that it returns ``(B,)``."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).reshape(x.shape[0])


INSTALL_HINT = "pip install 'attn[eegnex]'"


def import_braindecode_models() -> ModuleType:
    """``braindecode.models``, or a RecipeError that says why it cannot be imported.

    An installed braindecode can still fail to import (torchaudio, which it imports, ships binaries
    built for one torch release and fails with OSError beside another), so any error counts.
    """
    try:
        return importlib.import_module("braindecode.models")
    except ImportError as err:
        raise RecipeError(f"model eeg-eegnex needs braindecode: {INSTALL_HINT} ({err})") from None
    except Exception as err:  # noqa: BLE001  (a broken third-party install can raise anything)
        raise RecipeError(
            f"model eeg-eegnex needs braindecode, which is installed but failed to import "
            f"({type(err).__name__}: {err}); braindecode imports torchaudio, whose release must match "
            f"torch {torch.__version__}"
        ) from None


def braindecode_problem() -> str | None:
    """None when eeg-eegnex can be built here, else why not (one line)."""
    try:
        import_braindecode_models()
    except RecipeError as err:
        return str(err)
    return None


@register_model(
    "eeg-eegnex",
    task="eeg",
    config=EEGNeXConfig,
    description="braindecode's EEGNeX, the official challenge baseline (needs attn[eegnex])",
)
def build_eegnex(cfg: EEGNeXConfig, *, n_channels: int, n_times: int) -> EEGNeXRegressor:
    models = import_braindecode_models()
    net = models.EEGNeX(n_chans=n_channels, n_outputs=1, n_times=n_times, drop_prob=cfg.dropout)
    return EEGNeXRegressor(net)
