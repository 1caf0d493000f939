"""A trained run back as a model: checkpoint (or exported safetensors file) -> nn.Module, with its recipe and data facts."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from attn.datasets.text import Vocabulary
from attn.errors import CheckpointError, UserError
from attn.fileio import check_folder, path_kind
from attn.models import build_model
from attn.recipe import Recipe, parse_recipe, reconcile_run_recipe, stored_recipe
from attn.training.checkpoint import evaluation_weights, load_checkpoint, load_model_weights


@dataclass
class TrainedModel:
    """A model restored from a run directory, in eval mode on its device."""

    recipe: Recipe
    model: nn.Module
    extras: dict[str, Any]
    checkpoint_path: Path
    step: int
    model_info: dict[str, Any] = field(default_factory=dict)  # the data facts the builder took (vocab_size, ...)

    @property
    def vocab(self) -> Vocabulary:
        if "vocab" not in self.extras:
            raise UserError(f"run of recipe '{self.recipe.name}' is not a text model")
        return Vocabulary(self.extras["vocab"])


def checkpoint_path(run_dir: Path, which: str = "best") -> Path:
    """``best.pt`` (falling back to ``last.pt`` if no evaluation has run yet) or ``last.pt``."""
    run_dir = Path(run_dir)
    if run_dir.is_file():
        raise UserError(
            f"'{run_dir}' is a file, not a run directory (a model file must be a .safetensors file from attn export)"
        )
    run_dir = check_folder(run_dir, "run directory", CheckpointError)
    folder = run_dir / "checkpoints"
    order = ["best.pt", "last.pt"] if which == "best" else ["last.pt"]
    for name in order:
        kind = path_kind(folder / name, "checkpoint", CheckpointError)
        if kind == "file":
            return folder / name
        if kind != "missing":
            raise CheckpointError(f"'{folder / name}' is a {kind}, not a checkpoint file")
    raise CheckpointError(f"'{run_dir}' has no {' or '.join(order)} checkpoint")


MAX_SIZE = 2**31  # a vocabulary, channel count or window length a checkpoint may claim


def check_model_facts(info: Any, extras: Any, step: Any, source: Path | str) -> None:
    """What rebuilds a model, checked before anything uses it: the builder's data facts (positive sizes),
    the text vocabulary (distinct single characters, as many as the model's vocabulary), the EEG target
    statistics (finite, a positive spread) and the step. A CheckpointError names what is wrong."""

    def damaged(what: str) -> CheckpointError:
        return CheckpointError(f"checkpoint '{source}' is damaged: {what}")

    if not isinstance(info, dict) or not all(
        isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and 0 < v < MAX_SIZE
        for k, v in info.items()
    ):
        raise damaged(f"its model facts must be positive sizes (found {info!r:.200})")
    if not isinstance(extras, dict):
        raise damaged(f"its extras must be a mapping (found {type(extras).__name__})")
    vocab = extras.get("vocab")
    if vocab is not None:
        if not isinstance(vocab, list) or not all(isinstance(c, str) and len(c) == 1 for c in vocab):
            raise damaged("its vocabulary must be a list of single characters")
        if len(set(vocab)) != len(vocab) or ("vocab_size" in info and len(vocab) != info["vocab_size"]):
            raise damaged(f"its vocabulary has {len(vocab)} characters for a model of {info.get('vocab_size')}")
    for key in ("target_mean", "target_std"):
        value = extras.get(key)
        if key in extras and not (isinstance(value, (int, float)) and math.isfinite(value)):
            raise damaged(f"its {key} is {value!r}")
    if "target_std" in extras and not extras["target_std"] > 0:
        raise damaged(f"its target_std is {extras['target_std']!r}")
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise damaged(f"its step is {step!r}")


def load_trained(run_dir: Path, which: str = "best", device: torch.device | str = "cpu") -> TrainedModel:
    """Rebuild the model of a run from its checkpoint, or from an exported ``.safetensors`` file.

    The run's recipe.yaml, where there is one, is checked against the checkpoint's recipe and used
    (:func:`attn.recipe.reconcile_run_recipe`); without one the checkpoint's recipe is enough.
    """
    if is_exported_file(run_dir):
        return load_safetensors(Path(run_dir), device)
    path = checkpoint_path(run_dir, which)
    content = load_checkpoint(path)
    try:
        recipe = stored_recipe(content["recipe"], path, Path(run_dir).parent.name)
        extras = content.get("extras", {})
        info = content["model_info"]
    except KeyError as err:
        raise CheckpointError(f"checkpoint '{path}' lacks '{err.args[0]}'") from None
    trainer = content.get("trainer", {})
    step = trainer.get("step", 0) if isinstance(trainer, dict) else None
    check_model_facts(info, extras, step, path)
    written = Path(run_dir) / "recipe.yaml"
    kind = path_kind(written, "recipe", CheckpointError)
    if kind not in ("file", "missing"):
        raise CheckpointError(f"'{written}' is a {kind}, not the run's recipe file")
    if kind == "file":
        recipe = reconcile_run_recipe(recipe, written)
    model = build_model(recipe.model_name, recipe.model, **info)
    load_model_weights(model, evaluation_weights(content), path)  # the average of the weights, if the run kept one
    model.to(device).eval()
    return TrainedModel(recipe, model, extras, path, step, dict(info))


# ---- exported safetensors files (attn export RUN_DIR --format safetensors) ------------------------

SAFETENSORS_FORMAT = "attn-safetensors-1"
# metadata keys (str -> str; JSON inside) of an exported file, beside safetensors' own entries
META_FORMAT, META_RECIPE, META_MODEL_INFO, META_EXTRAS, META_STEP = (
    "attn.format",
    "attn.recipe",
    "attn.model_info",
    "attn.extras",
    "attn.step",
)


def is_exported_file(source: Path | str) -> bool:
    """Whether ``source`` names an exported safetensors file rather than a run directory."""
    return Path(source).suffix == ".safetensors"


def load_safetensors(path: Path, device: torch.device | str = "cpu") -> TrainedModel:
    """Rebuild a model from a file written by ``attn export --format safetensors`` (never executes code)."""
    import json

    try:
        from safetensors import SafetensorError, safe_open
        from safetensors.torch import load_model
    except ImportError:
        raise UserError(f"reading '{path}' needs the safetensors package: pip install 'attn[export]'") from None
    if not path.is_file():
        raise CheckpointError(f"exported model '{path}' does not exist")
    try:
        with safe_open(str(path), "pt") as handle:
            meta = handle.metadata() or {}
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"'{path}' is not a safetensors file ({str(err).splitlines()[0][:200]})") from None
    if meta.get(META_FORMAT) != SAFETENSORS_FORMAT:
        raise CheckpointError(
            f"'{path}' is a safetensors file without attn's metadata ({META_FORMAT}: {SAFETENSORS_FORMAT} expected); "
            f"only files written by `attn export --format safetensors` rebuild their model"
        )
    try:
        recipe = parse_recipe(json.loads(meta[META_RECIPE]), path.stem)
        info, extras = json.loads(meta[META_MODEL_INFO]), json.loads(meta[META_EXTRAS])
        step = json.loads(meta.get(META_STEP, "0"))
    except (KeyError, json.JSONDecodeError) as err:
        raise CheckpointError(f"exported model '{path}' has damaged metadata ({type(err).__name__}: {err})") from None
    check_model_facts(info, extras, step, path)
    model = build_model(recipe.model_name, recipe.model, **info)
    try:
        load_model(model, str(path), strict=True)
    except RuntimeError as err:
        first = " ".join(line.strip() for line in str(err).splitlines()[:3])[:300]
        raise CheckpointError(f"exported model '{path}' does not fit the model of its recipe: {first}") from None
    for name, value in model.state_dict().items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise CheckpointError(f"exported model '{path}' has NaN or Inf weights (in '{name}')")
    model.to(device).eval()
    return TrainedModel(recipe, model, extras, path, step, dict(info))
