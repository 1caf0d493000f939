"""`eeg-braindecode`: any braindecode model as a peer of the toolkit's own EEG models.

``model.arch`` names a braindecode model class (``EEGNeX``, ``EEGNet``, ``ShallowFBCSPNet``,
``Deep4Net``, ``EEGConformer``, ``ATCNet``, ``CTNet``, ...) and ``model.kwargs`` holds that
class's own options (e.g. ``drop_prob: 0.5``). The data decide the rest: the model is built as
``cls(n_chans=n_channels, n_outputs=1, n_times=n_times, sfreq=100, **kwargs)`` and its
``(B, 1)`` output is flattened to the ``(B,)`` every EEG model returns. :func:`braindecode_archs`
says which classes build with those arguments here (for ``attn recipes models``).

braindecode is an optional dependency (``pip install 'attn[braindecode]'``), imported only when
a model is built. braindecode 1.8 imports torchaudio when it is imported, and torchaudio must
come from the same index and build as torch: PyPI's Linux torchaudio wheels are CUDA builds, so
beside a CPU-only torch the import fails (``OSError: libc10_cuda.so ...``). braindecode 1.8 needs
Python >= 3.11; on 3.10 the extra cannot install and these models report why they cannot build.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import sys
import warnings
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import torch
from torch import nn

from attn.errors import RecipeError
from attn.models.registry import register_model
from attn.schema import option

INSTALL_HINT = "pip install 'attn[braindecode]'"
SFREQ = 100.0  # every EEG window is at 100 Hz (attn.datasets.eeg.dataset.SFREQ)
DATA_ARGS = ("n_chans", "n_outputs", "n_times", "sfreq", "chs_info", "input_window_seconds")
# Classes braindecode_archs does not try, and why (building them reaches out to the network).
NOT_TRIED = {"REVE": "not tried: building it downloads a position bank from huggingface.co"}
# Classes renamed between braindecode releases: a recipe written for one still builds with the other.
ALIASES = {"EEGNetv4": "EEGNet", "EEGNet": "EEGNetv4"}


def _torchaudio_rule() -> str:
    build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "CPU-only"
    return (
        f"braindecode imports torchaudio, which must come from the same index and build as torch "
        f"(here torch {torch.__version__}, a {build} build; PyPI's Linux torchaudio wheels are CUDA builds, "
        f"so a CPU-only torch needs torchaudio from the index it came from, e.g. "
        f"pip install --no-deps torchaudio --index-url https://download.pytorch.org/whl/cpu)"
    )


def _python() -> tuple[int, int]:
    return sys.version_info[0], sys.version_info[1]


def import_braindecode_models(model: str = "eeg-braindecode") -> ModuleType:
    """``braindecode.models``, or a RecipeError (naming ``model``) that says why it cannot be imported.

    An installed braindecode can still fail to import (torchaudio, which it imports, is a binary
    that must match the torch build beside it), so any error counts.
    """
    try:
        return importlib.import_module("braindecode.models")
    except ImportError as err:
        major, minor = _python()
        if (major, minor) < (3, 11):
            raise RecipeError(
                f"model {model} needs braindecode >= 1.8, which needs Python >= 3.11 (this is Python "
                f"{major}.{minor}, where {INSTALL_HINT} cannot install) ({err})"
            ) from None
        raise RecipeError(f"model {model} needs braindecode: {INSTALL_HINT} ({err})") from None
    except Exception as err:  # noqa: BLE001  (a broken third-party install can raise anything)
        cause = err.__cause__ or err.__context__
        # torchaudio's loader says only which of its files failed; the library it missed is in the cause
        why = f", from {type(cause).__name__}: {_first_line(cause)}" if cause is not None else ""
        raise RecipeError(
            f"model {model} needs braindecode, which is installed but failed to import "
            f"({type(err).__name__}: {_first_line(err)}{why}); {_torchaudio_rule()}"
        ) from None


def braindecode_problem(model: str = "eeg-braindecode") -> str | None:
    """None when braindecode imports here, else why not (one line)."""
    try:
        import_braindecode_models(model)
    except RecipeError as err:
        return str(err)
    return None


def model_classes(models: ModuleType) -> dict[str, type]:
    """The braindecode model classes (subclasses of its ``EEGModuleMixin``) by name, sorted.

    Left out: the mixin itself and braindecode's interpolated wrappers (they fix a channel set of
    their own through ``_TARGET_CHS_INFO``).
    """
    base = getattr(getattr(models, "base", None), "EEGModuleMixin", None) or getattr(models, "EEGModuleMixin", None)
    found = {}
    for name, cls in inspect.getmembers(models, inspect.isclass):
        if base is not None and (not issubclass(cls, base) or cls is base):
            continue
        if base is None and not issubclass(cls, nn.Module):
            continue
        if getattr(cls, "_TARGET_CHS_INFO", None) is not None or name.startswith("_"):
            continue
        found[name] = cls
    return dict(sorted(found.items()))


def resolve_arch(models: ModuleType, arch: str) -> type:
    """The class for ``arch`` (or its renamed twin, :data:`ALIASES`); unknown: a RecipeError listing the names."""
    classes = model_classes(models)
    for name in (arch, ALIASES.get(arch)):
        if name in classes:
            return classes[name]
    close = difflib.get_close_matches(arch, list(classes), n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise RecipeError(
        f"recipe key 'model.arch': braindecode has no model {arch!r}{hint} (available: {', '.join(classes)})"
    )


@dataclass
class EEGBraindecodeConfig:
    """The ``model`` section of an eeg-braindecode recipe."""

    arch: str = option(
        "EEGNeX", help="braindecode model class, e.g. EEGNeX, EEGNet, ShallowFBCSPNet, Deep4Net, EEGConformer, ATCNet"
    )
    kwargs: dict[str, Any] = option(
        {},
        help="that class's own keyword arguments, e.g. {drop_prob: 0.5}; n_chans, n_outputs, n_times and sfreq "
        "come from the data",
    )

    def validate(self, section: str) -> None:
        if not self.arch.isidentifier():
            raise RecipeError(f"recipe key '{section}.arch' must be a braindecode class name (got {self.arch!r})")
        taken = [k for k in self.kwargs if k in DATA_ARGS]
        if taken:
            raise RecipeError(
                f"recipe key '{section}.kwargs' must not set {', '.join(taken)}: the data decide "
                f"n_chans, n_outputs (1), n_times and sfreq ({SFREQ:g} Hz)"
            )


class BraindecodeRegressor(nn.Module):
    """Wraps a braindecode model with one output so that it returns ``(B,)`` (its state dict: ``net.*``)."""

    def __init__(self, net: nn.Module, arch: str = ""):
        super().__init__()
        self.net = net
        self.arch = arch or type(net).__name__

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        if out.numel() != x.shape[0]:
            raise ValueError(
                f"braindecode {self.arch} returned shape {tuple(out.shape)} for {x.shape[0]} windows; "
                f"a regression model needs one value per window"
            )
        return out.reshape(x.shape[0])


def construct(cls: type, arch: str, data_args: dict[str, Any], kwargs: dict[str, Any]) -> nn.Module:
    """``cls(**data_args, **kwargs)``; a failure is a RecipeError naming the class and its error."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # braindecode warns about arguments it derives from the others
            return cls(**data_args, **kwargs)
    except Exception as err:  # noqa: BLE001  (third-party constructors raise anything)
        args = ", ".join(f"{k}={v!r}" for k, v in {**data_args, **kwargs}.items())
        raise RecipeError(
            f"model eeg-braindecode: braindecode {arch}({args}) failed: {type(err).__name__}: {_first_line(err)}"
        ) from None


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else "(no message)"


@register_model(
    "eeg-braindecode",
    task="eeg",
    config=EEGBraindecodeConfig,
    description="any braindecode model (model.arch, model.kwargs) as a peer, e.g. EEGNeX, EEGNet, Deep4Net "
    "(needs the braindecode extra: docs/DEVELOPING.md)",
)
def build_eeg_braindecode(cfg: EEGBraindecodeConfig, *, n_channels: int, n_times: int) -> BraindecodeRegressor:
    models = import_braindecode_models("eeg-braindecode")
    cls = resolve_arch(models, cfg.arch)
    data_args = {"n_chans": n_channels, "n_outputs": 1, "n_times": n_times, "sfreq": SFREQ}
    return BraindecodeRegressor(construct(cls, cfg.arch, data_args, dict(cfg.kwargs)), cfg.arch)


def braindecode_archs(
    n_chans: int = 129, n_outputs: int = 1, n_times: int = 200, sfreq: float = SFREQ, *, batch: int = 2
) -> dict[str, str]:
    """Which braindecode models build here: ``{class name: "ok" or the error line}``, sorted by name.

    Each class is built with ``(n_chans, n_outputs, n_times, sfreq)`` and run on ``batch``
    windows in eval mode, first on the meta device (no memory, no arithmetic); where the meta
    device cannot run it (an operation without a meta kernel) on the CPU. "ok" means the output
    has ``n_outputs`` values per window. Classes in :data:`NOT_TRIED` are reported with the reason.
    It takes a while (about 20 s for braindecode 1.8.1's 61 classes on a busy 2-core machine). Raises the RecipeError of :func:`import_braindecode_models`
    when braindecode does not import at all.
    """
    models = import_braindecode_models("eeg-braindecode")
    args = {"n_chans": n_chans, "n_outputs": n_outputs, "n_times": n_times, "sfreq": sfreq}
    return {name: NOT_TRIED.get(name) or _try_arch(cls, args, batch) for name, cls in model_classes(models).items()}


def _try_arch(cls: type, args: dict[str, Any], batch: int) -> str:
    last = ""
    for device in ("meta", "cpu"):
        try:
            with warnings.catch_warnings(), torch.device(device), torch.no_grad():
                warnings.simplefilter("ignore")
                net = cls(**args).eval()
                out = net(torch.zeros(batch, args["n_chans"], args["n_times"]))
        except Exception as err:  # noqa: BLE001  (third-party models raise anything)
            last = f"{type(err).__name__}: {_first_line(err)}"
            continue
        if not isinstance(out, torch.Tensor):
            return f"returns {type(out).__name__}, not a tensor"
        if out.numel() != batch * args["n_outputs"]:
            return f"output shape {tuple(out.shape)} for {batch} windows, not {args['n_outputs']} value(s) per window"
        return "ok"
    return last
