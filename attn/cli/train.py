"""`attn train`: train a recipe, resume a run, start from a trained run's weights, or launch several GPUs.

Progress, notes and the summary table go to stderr; stdout gets the run directory alone (or,
with ``--json``, the run's summary), so that ``attn train ... | xargs ls`` and ``attn train ...
--json | jq .best`` work. Exit codes: 0 done, 2 bad input, 3 training diverged, 130 interrupted.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Optional

import typer

from attn.cli.app import app, user_errors
from attn.cli.output import err_console, print_json, print_result
from attn.cli.recipes import complete_recipe
from attn.errors import UserError


@app.command()
@user_errors
def train(
    recipe: Optional[str] = typer.Argument(
        None,
        help="Recipe file or built-in recipe name (see `attn recipes list`). Omit with --resume.",
        show_default=False,
        autocompletion=complete_recipe,
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
    init_from: Optional[Path] = typer.Option(
        None,
        "--init-from",
        help="Start the model from this run's best checkpoint (same model; text keeps that run's vocabulary), "
        "then train RECIPE as a new run: fine-tuning on your own data.",
    ),
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help="No progress, estimate or summary table on stderr (warnings and errors only)."
    ),
    json_output: bool = typer.Option(
        False,
        "--json",
        help="Print the run's summary as JSON on stdout (with its run_dir) instead of the run directory.",
    ),
) -> None:
    """Train a model from a recipe and write everything about the run to runs/<recipe>/<timestamp>/.

    Prints the run directory on stdout (progress and tables go to stderr). Exit codes: 0 done,
    2 bad input, 3 the loss diverged (NaN/Inf), 130 interrupted (Ctrl-C; last.pt saved).

    Examples:\n
      attn train shakespeare_char_cpu\n
      attn train shakespeare_char train.max_steps=2000 model.dropout=0.1\n
      attn train --resume runs/shakespeare_char_cpu/20261123-101500\n
      attn train my_text.yaml --init-from runs/shakespeare_char_cpu/20261123-101500

    Several machines: on each of the N machines, with R its number (0 to N-1) and HOST:PORT one
    machine's address all can reach (README: "On a GPU, or several"):\n
      torchrun --nnodes N --node-rank R --rdzv-backend c10d --rdzv-endpoint HOST:PORT -m attn train RECIPE
    """
    from attn.recipe import load_recipe
    from attn.runs import RunOptions, resume_run, start_run
    from attn.runs.init_from import initial_weights

    overrides = list(overrides or [])
    if resume is not None and recipe is not None:
        if "=" not in recipe:
            raise UserError("give either a RECIPE or --resume RUN_DIR, not both (a resumed run uses its own recipe)")
        overrides.insert(0, recipe)
        recipe = None
    if resume is None and recipe is None:
        raise UserError("missing RECIPE: give a recipe file or name (see `attn recipes list`), or --resume RUN_DIR")
    if resume is not None and init_from is not None:
        raise UserError("--init-from starts a new run from trained weights; --resume continues a run: use one")
    if gpus is not None and gpus > 1:
        _relaunch_with_torchrun(gpus)
        return
    options = RunOptions(device=device, runs_dir=str(runs_dir) if runs_dir else None, quiet=quiet, console=err_console)
    if resume is not None:
        outcome = resume_run(resume, overrides, options)
    else:
        loaded = load_recipe(recipe, overrides)
        options.init = initial_weights(init_from, loaded) if init_from is not None else None
        outcome = start_run(loaded, options)
    if os.environ.get("RANK", "0") == "0":  # under torchrun, rank 0 alone reports
        if json_output:
            print_json({"run_dir": str(outcome.run_dir), **outcome.summary})
        else:
            print_result(str(outcome.run_dir))
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
    err_console.print(f"launching: {' '.join(command)}", highlight=False, markup=False)
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
