"""``attn export``: a trained model out of the toolkit as safetensors, ONNX or a plain state dict.

- **safetensors**: the weights (tied ones stored once, through ``safetensors.torch.save_model``)
  and, as JSON text in the file's metadata, everything needed to rebuild the model: the resolved
  recipe, the data facts of the builder (``vocab_size`` or ``n_channels``/``n_times``) and the
  run's extras (the vocabulary, or the EEG target mean and std). ``attn generate`` and ``attn
  eval`` take such a file in place of a run directory (:func:`attn.inference.load.load_safetensors`).
- **onnx**: ``torch.onnx.export`` (the dynamo exporter, torch's default, which needs
  ``onnxscript``), batch and (text) sequence length dynamic. Text models map ``tokens`` (int64,
  batch x time, time <= block_size for transformers) to ``logits``; EEG models map ``eeg``
  (float32, batch x channels x samples) to ``response_time_s``, in seconds: the graph includes
  the run's target de-standardisation. When onnxruntime is installed the file is checked against
  PyTorch on a sample input and the largest difference reported.
- **state-dict**: ``torch.save`` of the bare model's ``state_dict()`` (no ``_orig_mod.``/``module.``
  prefixes; for a braindecode model, its own network's, without the wrapper's ``net.``, so that
  braindecode's class loads it), and beside it a JSON file with the recipe and the target statistics.

Every file is written atomically; the default place is ``RUN_DIR/export/<best|last>.<suffix>``.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from attn.errors import PathError, UserError, about_path
from attn.fileio import atomic_write_json, to_json
from attn.inference.load import (
    META_EXTRAS,
    META_FORMAT,
    META_MODEL_INFO,
    META_RECIPE,
    META_STEP,
    SAFETENSORS_FORMAT,
    TrainedModel,
    load_trained,
)
from attn.models.eegnex import EEGNeXRegressor
from attn.training.checkpoint import atomic_torch_save

FORMATS = ("safetensors", "onnx", "state-dict")
SUFFIX = {"safetensors": ".safetensors", "onnx": ".onnx", "state-dict": ".state_dict.pt"}
INSTALL = "pip install 'attn[export]'"
ONNX_TOLERANCE = 1e-4  # largest |onnxruntime - PyTorch| accepted, relative to the output's scale
EMBEDDED_WEIGHTS_LIMIT = 2**30  # ONNX files hold at most 2 GiB; larger models keep weights in FILE.data


@dataclass
class ExportResult:
    """What ``attn export`` wrote, and (ONNX) how well the file matches PyTorch."""

    format: str
    path: Path
    files: list[Path]
    checked: dict[str, Any] = field(default_factory=dict)  # onnx: max_abs_diff, input shape, runtime


def export_run(source: Path, fmt: str, out: Path | None = None, checkpoint: str = "best") -> ExportResult:
    """Export the model of run directory (or exported file) ``source`` in format ``fmt``."""
    if fmt not in FORMATS:
        raise UserError(f"--format must be one of {', '.join(FORMATS)} (got {fmt!r})")
    if checkpoint not in ("best", "last"):
        raise UserError(f"--checkpoint must be best or last (got {checkpoint!r})")
    if (Path(source) / "cv.json").is_file():
        raise UserError(
            f"'{source}' is a cross-validation run: export one of its folds, e.g. {Path(source) / 'fold-0'}"
        )
    trained = load_trained(source, checkpoint, "cpu")
    path = Path(out) if out is not None else default_path(Path(source), trained, fmt)
    if fmt == "safetensors":
        return export_safetensors(trained, path)
    if fmt == "onnx":
        return export_onnx(trained, path)
    return export_state_dict(trained, path)


def default_path(source: Path, trained: TrainedModel, fmt: str) -> Path:
    """``RUN_DIR/export/best.safetensors`` (the checkpoint's name, the format's suffix)."""
    folder = source.parent if source.is_file() else source / "export"
    return folder / f"{trained.checkpoint_path.name.split('.')[0]}{SUFFIX[fmt]}"


# ---- safetensors ----------------------------------------------------------------------------------


def safetensors_metadata(trained: TrainedModel) -> dict[str, str]:
    """The str -> str metadata that rebuilds the model (JSON inside), plus where it came from."""
    import attn

    return {
        META_FORMAT: SAFETENSORS_FORMAT,
        META_RECIPE: to_json(trained.recipe.to_dict(), indent=None),
        META_MODEL_INFO: to_json(trained.model_info, indent=None),
        META_EXTRAS: to_json(trained.extras, indent=None),
        META_STEP: str(trained.step),
        "attn.version": attn.__version__,
        "attn.source": str(trained.checkpoint_path),
    }


def export_safetensors(trained: TrainedModel, path: Path) -> ExportResult:
    save_model = _require("safetensors.torch", "safetensors").save_model
    with _atomic_path(path) as tmp:
        save_model(trained.model, str(tmp), metadata=safetensors_metadata(trained))
    return ExportResult("safetensors", path, [path])


# ---- ONNX -------------------------------------------------------------------------------------------


class InSeconds(nn.Module):
    """An EEG model whose standardised prediction is turned back into seconds (what ONNX users need)."""

    def __init__(self, model: nn.Module, mean: float, std: float):
        super().__init__()
        self.model = model
        self.mean, self.std = float(mean), float(std)

    def forward(self, eeg: torch.Tensor) -> torch.Tensor:
        return self.model(eeg) * self.std + self.mean


def onnx_program_parts(trained: TrainedModel) -> tuple[nn.Module, torch.Tensor, str, str, dict[int, Any]]:
    """The module to export, a sample input, the input and output names and the input's dynamic axes."""
    model, info, batch = trained.model.eval(), trained.model_info, torch.export.Dim("batch")
    if trained.recipe.family == "text":
        block = getattr(trained.recipe.model, "block_size", None)
        length = min(block, 16) if block else 16
        sample = torch.randint(0, int(info["vocab_size"]), (2, length), generator=torch.Generator().manual_seed(0))
        seq = torch.export.Dim("seq", min=1, max=block) if block else torch.export.Dim("seq")
        return model, sample, "tokens", "logits", {0: batch, 1: seq}
    extras = trained.extras
    wrapped = InSeconds(model, extras["target_mean"], extras["target_std"]).eval()
    sample = torch.randn(2, int(info["n_channels"]), int(info["n_times"]), generator=torch.Generator().manual_seed(0))
    return wrapped, sample, "eeg", "response_time_s", {0: batch}


def export_onnx(trained: TrainedModel, path: Path) -> ExportResult:
    _require("onnxscript", "onnxscript")  # torch's (dynamo) ONNX exporter is written with it
    module, sample, input_name, output_name, axes = onnx_program_parts(trained)
    weights = sum(p.numel() * p.element_size() for p in module.parameters())
    log = io.StringIO()
    try:
        with _atomic_path(path) as tmp, contextlib.redirect_stdout(log), _quiet_onnx_logs(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's deprecation notices are torch's, not the user's
            torch.onnx.export(
                module,
                (sample,),
                str(tmp),
                dynamo=True,
                input_names=[input_name],
                output_names=[output_name],
                dynamic_shapes=(axes,),
                external_data=weights > EMBEDDED_WEIGHTS_LIMIT,
            )
            _name_output_axes(tmp, output_name, trained.recipe.family)
    except Exception as err:  # noqa: BLE001 - the exporter raises many kinds; say which model and why
        first = str(err).strip().splitlines()[0][:300] if str(err).strip() else type(err).__name__
        raise UserError(
            f"model {trained.recipe.model_name} could not be exported to ONNX ({type(err).__name__}: {first})"
        ) from None
    files = [path] + ([Path(f"{path}.data")] if Path(f"{path}.data").exists() else [])
    return ExportResult("onnx", path, files, check_onnx(path, module, sample, input_name))


def _name_output_axes(path: Path, output: str, family: str) -> None:
    """Give the output the input's symbolic batch (and text: sequence) axes, as the exporter leaves some fixed."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    dims = next(o for o in model.graph.output if o.name == output).type.tensor_type.shape.dim
    names = ["batch", "seq"] if family == "text" else ["batch"]
    for dim, name in zip(dims, names):
        dim.dim_param = name
    onnx.save(model, str(path))


def check_onnx(path: Path, module: nn.Module, sample: torch.Tensor, input_name: str) -> dict[str, Any]:
    """Run the file with onnxruntime on ``sample`` and compare with PyTorch (empty when onnxruntime is absent)."""
    try:
        import onnxruntime
    except ImportError:
        return {}
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {input_name: sample.numpy()})
    with torch.no_grad():
        expected = module(sample).numpy()
    diff = float(abs(got - expected).max())
    scale = float(abs(expected).max()) or 1.0
    if diff > ONNX_TOLERANCE * max(scale, 1.0):
        raise UserError(f"the ONNX file '{path}' differs from PyTorch by up to {diff:.3g} on a sample input")
    return {"max_abs_diff": diff, "input_shape": list(sample.shape), "onnxruntime": onnxruntime.__version__}


@contextlib.contextmanager
def _quiet_onnx_logs() -> Iterator[None]:
    """The exporter's warnings about optional operator libraries (torchvision) are not the user's concern."""
    import logging

    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


# ---- plain state dict ---------------------------------------------------------------------------------


def bare_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The weights as the model's own class names them: a braindecode model's without the wrapper's ``net.``."""
    inner = model.net if isinstance(model, EEGNeXRegressor) else model
    return {k: v.detach().clone().contiguous() for k, v in inner.state_dict().items()}


def export_state_dict(trained: TrainedModel, path: Path) -> ExportResult:
    state = bare_state_dict(trained.model)
    atomic_torch_save(state, path)
    about = Path(str(path).removesuffix(".pt") + ".json")
    extras = {k: trained.extras[k] for k in ("target_mean", "target_std", "vocab") if k in trained.extras}
    atomic_write_json(
        about,
        {
            "model": trained.recipe.model_name,
            "class": type(trained.model.net if isinstance(trained.model, EEGNeXRegressor) else trained.model).__name__,
            "model_info": trained.model_info,
            "recipe": trained.recipe.to_dict(),
            "step": trained.step,
            "source": str(trained.checkpoint_path),
            **extras,
        },
    )
    return ExportResult("state-dict", path, [path, about])


# ---- helpers ----------------------------------------------------------------------------------------------


def _require(module: str, package: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise UserError(f"this export needs the {package} package: {INSTALL}") from None


@contextlib.contextmanager
def _atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path in ``path``'s folder that replaces ``path`` when the block ends without error."""
    path = Path(path)
    if path.is_dir():
        raise PathError(f"cannot write '{path}': it is a folder, not a file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    except OSError as err:
        raise about_path(err, path) from err
    tmp = folder / path.name
    try:
        yield tmp
        data = Path(f"{tmp}.data")
        if data.exists():
            os.replace(data, f"{path}.data")
        os.replace(tmp, path)
    except OSError as err:  # name the file asked for, not the temporary one
        raise about_path(err, path) from err
    finally:
        for leftover in folder.iterdir():
            leftover.unlink()
        folder.rmdir()


__all__ = ["FORMATS", "ExportResult", "bare_state_dict", "export_run"]
