"""`attn export`: a trained model as safetensors, ONNX or a plain state dict (see attn/inference/export.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from attn.cli.app import app, console, user_errors
from attn.cli.output import notes


@app.command("export", no_args_is_help=True)
@user_errors
def export(
    run_dir: Path = typer.Argument(..., help="The run directory whose model is exported.", show_default=False),
    fmt: str = typer.Option(
        ...,
        "--format",
        "-f",
        help="safetensors (weights + what rebuilds the model; attn generate/eval read it), "
        "onnx (checked against PyTorch with onnxruntime), or state-dict (the bare model's torch state_dict).",
        show_default=False,
    ),
    out: Optional[Path] = typer.Option(
        None, "--out", "-o", help="Where to write. Default: RUN_DIR/export/<checkpoint>.<suffix>."
    ),
    checkpoint: str = typer.Option("best", "--checkpoint", help="best (lowest validation metric) or last."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only the exported file's path: no notes on stderr."),
) -> None:
    """Export a trained model for use outside attn (needs pip install 'attn[export]').

    Examples:\n
      attn export runs/shakespeare_char_cpu/20261202-101500 --format safetensors\n
      attn export RUN_DIR --format onnx --out model.onnx\n
      attn export RUN_DIR --format state-dict --checkpoint last
    """
    from attn.inference.export import export_run

    result = export_run(run_dir, fmt, out, checkpoint)
    show = notes(quiet)
    for extra in result.files[1:]:
        show(f"also wrote {extra}", style="dim", markup=False, highlight=False, soft_wrap=True)
    if result.checked:
        show(
            f"[dim]onnxruntime {result.checked['onnxruntime']} matches PyTorch on an input of shape "
            f"{tuple(result.checked['input_shape'])}: largest difference {result.checked['max_abs_diff']:.2e}[/]",
            highlight=False,
            soft_wrap=True,
        )
    console.out(str(result.path), highlight=False)  # stdout: the file alone, for scripts
