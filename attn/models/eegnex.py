"""`eeg-eegnex`: braindecode's EEGNeX (Chen et al., 2024), the official challenge baseline.

Kept so that runs and checkpoints made with it still load (state dict ``net.*``, built with
``n_chans``, ``n_outputs``, ``n_times`` and ``drop_prob`` as before). New recipes use
``eeg-braindecode`` with ``arch: EEGNeX`` (:mod:`attn.models.eeg_braindecode`), which builds the
same network with the same state-dict keys; the built-in recipe ``eeg_eegnex`` does.

braindecode is an optional dependency (``pip install 'attn[braindecode]'``; ``attn[eegnex]`` is
the same extra under its old name), imported only when the model is built.
"""

from __future__ import annotations

from dataclasses import dataclass

from attn.models.eeg_braindecode import INSTALL_HINT, BraindecodeRegressor
from attn.models.eeg_braindecode import braindecode_problem as _problem
from attn.models.eeg_braindecode import import_braindecode_models as _import
from attn.models.registry import register_model
from attn.schema import option

__all__ = ["EEGNeXConfig", "EEGNeXRegressor", "INSTALL_HINT", "braindecode_problem", "import_braindecode_models"]


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


EEGNeXRegressor = BraindecodeRegressor  # the old name of the wrapper


def import_braindecode_models():
    """``braindecode.models``, or a RecipeError naming eeg-eegnex that says why it cannot be imported."""
    return _import("eeg-eegnex")


def braindecode_problem() -> str | None:
    """None when braindecode imports here (eeg-eegnex and eeg-braindecode can be built), else why not."""
    return _problem("eeg-eegnex")


@register_model(
    "eeg-eegnex",
    task="eeg",
    config=EEGNeXConfig,
    description="braindecode's EEGNeX, the official challenge baseline, for old runs "
    "(new recipes: eeg-braindecode with arch EEGNeX; needs the braindecode extra)",
)
def build_eegnex(cfg: EEGNeXConfig, *, n_channels: int, n_times: int) -> EEGNeXRegressor:
    models = import_braindecode_models()
    net = models.EEGNeX(n_chans=n_channels, n_outputs=1, n_times=n_times, drop_prob=cfg.dropout)
    return EEGNeXRegressor(net, "EEGNeX")
