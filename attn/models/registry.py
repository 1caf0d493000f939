"""One registry that maps the recipe's ``model.name`` to a config class and a builder.

A model module registers itself with :func:`register_model`; the recipe loader uses the
config class to validate the ``model`` section, and the trainer calls the builder with the
validated config and the facts only the data know. Builders of one family share one signature:
text models ``build(cfg, *, vocab_size)``, EEG models ``build(cfg, *, n_channels, n_times)``.

What a model can do beyond ``forward`` is declared by the protocols below, so the trainer and the
inference code ask ``isinstance(model, Recurrent)`` instead of guessing attribute names. ``HasBlocks``
is asked through :func:`has_blocks`: a module's submodules are not instance attributes, and
``isinstance`` on a protocol looks attributes up statically from Python 3.12 on.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeGuard, runtime_checkable

import torch
from torch import nn

from attn.errors import RecipeError

# What the data decide, per family: the keyword arguments of that family's builders.
DATA_INFO_KEYS = {"text": ("vocab_size",), "eeg": ("n_channels", "n_times")}


class HasBlocks(Protocol):
    """A stack of repeated blocks (``train.compile_scope: blocks`` compiles each one)."""

    blocks: nn.ModuleList


def has_blocks(model: nn.Module) -> TypeGuard[HasBlocks]:
    """Whether ``model`` is :class:`HasBlocks`: its ``blocks`` is an ``nn.ModuleList`` (on every Python: from
    3.12 ``isinstance(model, HasBlocks)`` is False for any module, whose submodules live in ``_modules``)."""
    return isinstance(getattr(model, "blocks", None), nn.ModuleList)


@runtime_checkable
class CountsFlops(Protocol):
    """Knows its training FLOPs per item (for model-FLOPs utilisation)."""

    def flops_per_token(self, seq_len: int | None = None) -> float: ...


@runtime_checkable
class HasContext(Protocol):
    """A text model that sees at most ``block_size`` tokens."""

    block_size: int


@runtime_checkable
class Recurrent(Protocol):
    """A text model that carries a state, so generation feeds one token at a time."""

    def forward_with_state(self, idx: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]: ...


@runtime_checkable
class CachesKeys(Protocol):
    """A text model that generates with a key/value cache: ``forward_cached(idx, cache)`` reads only the
    new tokens; the cache (from ``new_cache``) says when it is ``full``; ``decode_step(idx, cache, position)``
    reads one token per sequence at a position held on the device (fixed shapes: a CUDA graph can replay it)."""

    def new_cache(self, batch: int) -> Any: ...

    def forward_cached(self, idx: torch.Tensor, cache: Any) -> torch.Tensor: ...

    def decode_step(self, idx: torch.Tensor, cache: Any, position: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class HasReadoutWeights(Protocol):
    """An EEG model whose readout keeps a softmax over time from its last forward pass.

    ``readout_kind`` is the configured readout (``mean``, ``attention`` or ``latency``);
    ``readout_weights()`` returns ``(weights (B, T'), token times (T',) in seconds after the
    stimulus)``, or None when the configured readout has no weights (``model.readout: mean``);
    ``latency_expected_time()`` the expected times (B,) a ``latency`` readout read off, else None.
    """

    readout_kind: str

    def readout_weights(self) -> tuple[torch.Tensor, torch.Tensor] | None: ...

    def latency_expected_time(self) -> torch.Tensor | None: ...


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: its recipe name, task family, config dataclass and builder."""

    name: str
    task: str  # "text" or "eeg"
    config: type
    build: Callable[..., nn.Module]
    description: str


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(name: str, *, task: str, config: type, description: str) -> Callable:
    """Decorator for a builder ``build(cfg, **data_info) -> nn.Module`` (keys: :data:`DATA_INFO_KEYS`)."""
    if task not in DATA_INFO_KEYS:
        raise ValueError(f"unknown task family {task!r} for model {name!r}")

    def decorator(build: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        _REGISTRY[name] = ModelSpec(name, task, config, build, description)
        return build

    return decorator


def get_model_spec(name: str) -> ModelSpec:
    """The spec for ``name``; an unknown name is a recipe error naming the closest one."""
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise RecipeError(f"unknown model.name {name!r}{hint} (available: {', '.join(sorted(_REGISTRY))})")
    return _REGISTRY[name]


def model_specs() -> list[ModelSpec]:
    """All registered models, sorted by name."""
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def build_model(name: str, cfg: Any, **data_info: Any) -> nn.Module:
    """Build the registered model ``name`` from its validated config and its family's data facts."""
    spec = get_model_spec(name)
    expected = set(DATA_INFO_KEYS[spec.task])
    if set(data_info) != expected:
        raise ValueError(f"model {name!r} is built from {sorted(expected)}, got {sorted(data_info)}")
    return spec.build(cfg, **data_info)
