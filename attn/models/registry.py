"""One registry that maps the recipe's ``model.name`` to a config class and a builder.

A model module registers itself with :func:`register_model`; the recipe loader uses the
config class to validate the ``model`` section, and the trainer calls the builder with the
validated config and the facts only the data know (vocabulary size, channels, samples).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from attn.errors import RecipeError


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
    """Decorator for a builder ``build(cfg, **data_info) -> nn.Module``.

    ``data_info`` holds what the data decide: ``vocab_size`` for text models,
    ``n_channels`` and ``n_times`` for EEG models.
    """

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
    """Build the registered model ``name`` from its validated config."""
    return get_model_spec(name).build(cfg, **data_info)
