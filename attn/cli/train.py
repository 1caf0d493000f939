"""`attn train`: train a recipe, resume a run, or launch several GPUs with torchrun."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Optional

import typer

from attn.cli.app import app, console, user_errors
from attn.errors import UserError


@app.command(no_args_is_help=True)
@user_errors
def train(
    recipe: Optional[str] = typer.Argument(
        None,
        help="Recipe file or built-in recipe name (see `attn recipes list`). Omit with --resume.",
        show_default=False,
    ),
    overrides: Optional[list[str]] = typer.Argument(
        None,
        help="Recipe overrides as dotted key=value, e.g. train.lr=3e-4 model.n_layer=4.",
        show_default=False,
    ),
    resume: Optional[Path] = typer.Option(
        None,
        "--resume",
        help="Continue this run directory from its checkpoints/last.pt "
        "(same step, optimizer, schedule and data position; only train.* overrides allowed).",
    ),
    device: Optional[str] = typer.Option(
        None,
        "--device",
        help="auto, cpu, cuda, cuda:N or mps. Default: the recipe's train.device (auto).",
    ),
    runs_dir: Optional[Path] = typer.Option(
        None,
        "--runs-dir",
        help="Where run directories go. Default: $ATTN_RUNS_DIR or ./runs.",
    ),
    gpus: Optional[int] = typer.Option(
        None,
        "--gpus",
        min=1,
        help="Train on N GPUs of this machine: relaunches itself under torchrun with DDP.",
    ),
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help="No progress bar or summary table (warnings and errors only)."
    ),
) -> None:
    """Train a model from a recipe and write everything about the run to runs/<recipe>/<timestamp>/.

    Examples:\n
      attn train shakespeare_char_cpu\n
      attn train shakespeare_char train.max_steps=2000 model.dropout=0.1\n
      attn train --resume runs/shakespeare_char_cpu/20261123-101500
    """
    from attn.recipe import load_recipe
    from attn.runs import RunOptions, resume_run, start_run

    overrides = list(overrides or [])
    if resume is not None and recipe is not None:
        if "=" not in recipe:
            raise UserError("give either a RECIPE or --resume RUN_DIR, not both (a resumed run uses its own recipe)")
        overrides.insert(0, recipe)
        recipe = None
    if resume is None and recipe is None:
        raise UserError("missing RECIPE: give a recipe file or name (see `attn recipes list`), or --resume RUN_DIR")
    if gpus is not None and gpus > 1:
        _relaunch_with_torchrun(gpus)
        return
    options = RunOptions(device=device, runs_dir=str(runs_dir) if runs_dir else None, quiet=quiet, console=console)
    if resume is not None:
        outcome = resume_run(resume, overrides, options)
    else:
        outcome = start_run(load_recipe(recipe, overrides), options)
    if outcome.exit_code:  # a run a signal stopped: 130 for Ctrl-C, 143 for SIGTERM
        raise typer.Exit(outcome.exit_code)


def _relaunch_with_torchrun(gpus: int) -> None:
    """Run this same command under torchrun with one process per GPU."""
    import torch

    if not torch.cuda.is_available() or torch.cuda.device_count() < gpus:
        have = torch.cuda.device_count() if torch.cuda.is_available() else 0
        raise UserError(f"--gpus {gpus} asks for {gpus} GPUs but this machine has {have}")
    args = _strip_gpus_option(sys.argv[1:])
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={gpus}",
        "-m",
        "attn",
        *args,
    ]
    console.print(f"launching: {' '.join(command)}")
    result = subprocess.run(command, env=os.environ.copy())
    raise typer.Exit(result.returncode)


def _strip_gpus_option(args: list[str]) -> list[str]:
    out, skip = [], False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg == "--gpus":
            skip = True
            continue
        if arg.startswith("--gpus="):
            continue
        out.append(arg)
    return out
