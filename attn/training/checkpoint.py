"""Checkpoints: model, optimizer, step, random states and what the task needs to rebuild itself.

Files are written atomically and loaded with ``weights_only=True`` (no arbitrary code from a
file). Weights are always those of the plain model: no ``_orig_mod.`` (torch.compile) or
``module.`` (DDP) prefixes reach a file, and either is stripped if found in an older one.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from attn.errors import CheckpointError
from attn.fileio import atomic_write_bytes, check_file

FORMAT = "attn-checkpoint-1"
_PREFIXES = ("_orig_mod.", "module.")

# The schema of a checkpoint: the type of each top-level entry (None: may also be null).
# ``format`` and ``model`` are required; a resumable checkpoint also needs RESUME_KEYS.
SCHEMA: dict[str, tuple[type, ...]] = {
    "format": (str,),
    "model": (dict,),
    "recipe": (dict,),
    "extras": (dict,),
    "model_info": (dict,),
    "optimizer": (dict,),
    "trainer": (dict,),
    "task_state": (dict,),
    "rng": (dict,),
    "scaler": (dict, type(None)),
    "rank_states": (list, type(None)),
}
RESUME_KEYS = ("optimizer", "trainer", "rng", "recipe", "model_info")


def atomic_torch_save(obj: Any, path: Path) -> None:
    """``torch.save`` to memory, then write the bytes atomically (temporary file, fsync, rename)."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module inside a DDP and/or torch.compile wrapper."""
    while True:
        if hasattr(model, "_orig_mod"):
            model = model._orig_mod
        elif isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        else:
            return model


def clean_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Strip wrapper prefixes from parameter names."""
    cleaned = {}
    for key, value in state.items():
        changed = True
        while changed:
            changed = False
            for prefix in _PREFIXES:
                if key.startswith(prefix):
                    key, changed = key[len(prefix) :], True
        cleaned[key] = value
    return cleaned


def capture_rng(device: torch.device) -> dict[str, Any]:
    """Random states of torch on the CPU and the run's device (dropout, initialisation)."""
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def restore_rng(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def save_checkpoint(path: Path, **content: Any) -> None:
    """Write a checkpoint atomically. ``content`` must hold ``model`` (a module or state dict)."""
    model = content["model"]
    if isinstance(model, nn.Module):
        content["model"] = unwrap(model).state_dict()
    content["format"] = FORMAT
    atomic_torch_save(content, path)


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint and check its structure (:func:`check_checkpoint`); any problem is a :class:`CheckpointError`.

    ``weights_only=True``: loading never runs code from the file.
    """
    path = check_file(Path(path), "checkpoint", CheckpointError)
    try:
        with warnings.catch_warnings():  # torch warns in several lines around some failures; the error says it all
            warnings.simplefilter("ignore")
            content = torch.load(path, map_location=map_location, weights_only=True)
    except MemoryError:
        raise
    except Exception as err:  # noqa: BLE001 - an unreadable file can fail in many ways inside torch and pickle
        raise CheckpointError(
            f"checkpoint '{path}' is corrupt or not a torch checkpoint ({load_failure_reason(err)})"
        ) from None
    if not isinstance(content, dict) or content.get("format") != FORMAT:
        raise CheckpointError(f"'{path}' is not an attn checkpoint (format {FORMAT} expected)")
    check_checkpoint(content, path)
    content["model"] = clean_state_dict(content["model"])
    return content


def evaluation_weights(content: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The weights to evaluate or sample with: the average of the weights where a checkpoint keeps one.

    ``best.pt`` of a run with ``train.ema_decay`` already holds the average as its model;
    ``last.pt`` holds the trained weights as its model and the average under ``ema``.
    """
    average = content.get("ema")
    return clean_state_dict(average["weights"]) if average else content["model"]


# Lines of torch's weights-only error that are advice (some of it unsafe: "set weights_only=False"), not the reason.
_TORCH_ADVICE = ("Weights only load failed", "Please file an issue", "Check the documentation", "In PyTorch 2.6")


def load_failure_reason(err: Exception) -> str:
    """The one line of a ``torch.load`` error that says what is wrong with the file."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    reasons = [line for line in lines if not line.startswith(_TORCH_ADVICE)]
    if reasons and "GLOBAL" in reasons[0]:
        return f"it holds more than tensors and plain data, and attn never runs code from a file: {reasons[0][:200]}"
    return (reasons or lines or [type(err).__name__])[0][:200]


def check_checkpoint(content: dict[str, Any], path: Path, resumable: bool = False) -> None:
    """Check a loaded checkpoint before anything uses it: entry types, weights as finite tensors.

    With ``resumable`` the entries a resumed run needs (:data:`RESUME_KEYS`) must be there too.
    """
    required = ("format", "model", *(RESUME_KEYS if resumable else ()))
    missing = [key for key in required if key not in content]
    if missing:
        raise CheckpointError(f"checkpoint '{path}' is incomplete: it lacks {', '.join(repr(k) for k in missing)}")
    for key, types in SCHEMA.items():
        if key in content and not isinstance(content[key], types):
            allowed = " or ".join("null" if t is type(None) else t.__name__ for t in types)
            raise CheckpointError(
                f"checkpoint '{path}' is damaged: its '{key}' is a {type(content[key]).__name__}, not a {allowed}"
            )
    for name, value in content["model"].items():
        if not isinstance(name, str) or not isinstance(value, torch.Tensor):
            raise CheckpointError(
                f"checkpoint '{path}' is damaged: its weights must map names to tensors (found {name!r}: "
                f"{type(value).__name__})"
            )
        if value.layout != torch.strided or value.is_complex():
            raise CheckpointError(
                f"checkpoint '{path}' is damaged: weight '{name}' is a {value.layout} {value.dtype} tensor, "
                "not a dense real one"
            )
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise CheckpointError(
                f"checkpoint '{path}' has NaN or Inf weights (in '{name}'): it was saved from a run that "
                f"diverged; use another checkpoint or train again"
            )


@contextlib.contextmanager
def resumable_errors(source: Path) -> Iterator[None]:
    """Turn what a checkpoint that does not fit raises while it is restored into one :class:`CheckpointError`."""
    try:
        yield
    except (KeyError, TypeError, ValueError, IndexError, RuntimeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"checkpoint '{source}' cannot be resumed: {first[:200]}") from err


def load_model_weights(model: nn.Module, state: dict[str, torch.Tensor], source: Path) -> None:
    """Load weights into ``model``; a mismatch (another architecture) is a CheckpointError."""
    try:
        unwrap(model).load_state_dict(clean_state_dict(state))
    except RuntimeError as err:
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        raise CheckpointError(
            f"checkpoint '{source}' does not fit the model of its recipe: {' '.join(lines[:3])[:300]}"
        ) from None
