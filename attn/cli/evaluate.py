"""`attn eval`: re-score a run from its best checkpoint; optionally draw its attention maps."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from attn.cli.app import app, console, user_errors
from attn.errors import UserError


@app.command("eval")
@user_errors
def evaluate(
    run_dir: Path = typer.Argument(
        ...,
        help="The run directory to evaluate, or a model file from attn export --format safetensors.",
        show_default=False,
    ),
    split: str = typer.Option("val", "--split", help="val, or test (EEG runs, which hold out test subjects)."),
    checkpoint: str = typer.Option("best", "--checkpoint", help="best (lowest validation metric) or last."),
    sampled: bool = typer.Option(
        False, "--sampled", help="Text: score the recipe's eval_batches fixed windows instead of the whole split."
    ),
    attention_maps: bool = typer.Option(
        False,
        "--attention-maps",
        help="Also write PNG heat maps of every layer and head for --text, with entropy, sparsity and head diversity.",
    ),
    text: Optional[str] = typer.Option(
        None, "--text", help="The text whose attention maps are drawn (with --attention-maps)."
    ),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N or mps."),
) -> None:
    """Recompute a run's metrics from its checkpoint and write eval.json into the run directory."""
    from attn.inference.evaluate import eval_path, evaluate_run
    from attn.training.progress import summary_table

    if split not in ("val", "test"):
        raise UserError(f"--split must be val or test (got {split!r})")
    if checkpoint not in ("best", "last"):
        raise UserError(f"--checkpoint must be best or last (got {checkpoint!r})")
    if attention_maps and not text:
        raise UserError("--attention-maps needs --text TEXT (the characters whose attention is drawn)")
    result = evaluate_run(run_dir, split=split, checkpoint=checkpoint, device=device, full=not sampled)
    rows = [("checkpoint", f"{result['checkpoint']} (step {result['step']})"), ("split", result["split"])]
    rows += [(k, v) for k, v in result["metrics"].items()]
    console.print(summary_table(f"eval {run_dir}", rows))
    console.print(f"wrote {eval_path(run_dir)}")
    if attention_maps:
        from attn.inference.attention_maps import write_attention_maps

        report = write_attention_maps(run_dir, text or "", checkpoint=checkpoint, device=device)
        console.print(report.table)
        console.print(f"wrote {len(report.files)} heat maps to {report.folder}")
