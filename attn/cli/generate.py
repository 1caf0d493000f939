"""`attn generate`: sample text from a trained run, streamed as it is produced."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from attn.cli.app import app, console, err_console, user_errors
from attn.errors import UserError


@app.command()
@user_errors
def generate(
    run_dir: Optional[Path] = typer.Argument(
        None,
        help="Run directory to sample from. Default: the newest text run under the runs directory.",
        show_default=False,
    ),
    seed: str = typer.Option("\n", "--seed", "-s", help="The prompt text the sample continues (default: a newline)."),
    length: int = typer.Option(500, "--length", "-n", min=1, help="Characters to generate per sample."),
    temperature: float = typer.Option(
        0.8, "--temperature", "-t", help="Softmax temperature (> 0): lower is more conservative."
    ),
    top_k: Optional[int] = typer.Option(None, "--top-k", min=1, help="Sample only among the k most likely characters."),
    num_samples: int = typer.Option(1, "--num-samples", "-m", min=1, help="Independent samples to draw."),
    random_seed: Optional[int] = typer.Option(
        None, "--random-seed", min=0, max=2**64 - 1, help="Seed for sampling; the same seed gives the same text."
    ),
    checkpoint: str = typer.Option("best", "--checkpoint", help="best (lowest validation loss) or last."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N or mps."),
    runs_dir: Optional[Path] = typer.Option(
        None, "--runs-dir", help="Where to look for the newest run. Default: $ATTN_RUNS_DIR or ./runs."
    ),
) -> None:
    """Generate text from a trained character model, starting from --seed.

    Example: attn generate --seed "To be or not to be" --length 300 --temperature 0.8
    """
    import torch  # here, not at the top: `attn --help` should not wait for torch

    from attn.inference import load_trained, sample_tokens
    from attn.inference.sample import check_temperature
    from attn.training.device import resolve_device
    from attn.training.rundir import latest_run, runs_root

    if checkpoint not in ("best", "last"):
        raise UserError(f"--checkpoint must be best or last (got {checkpoint!r})")
    check_temperature(temperature)
    if not seed:
        raise UserError("--seed must not be empty: give at least one character of prompt")
    run_dir = run_dir or latest_run(runs_root(runs_dir), family="text")
    dev = resolve_device(device)
    trained = load_trained(run_dir, checkpoint, dev)
    if trained.recipe.family != "text":
        raise UserError(f"'{run_dir}' is an {trained.recipe.family} run; generate needs a text run")
    prompt = torch.from_numpy(trained.vocab.encode(seed)).to(dev)
    generator = torch.Generator()
    if random_seed is not None:
        generator.manual_seed(random_seed)
    else:
        generator.seed()
    # Only the text goes to stdout (so it can be piped); what produced it goes to stderr.
    err_console.print(
        f"[dim]{trained.recipe.name} ({trained.recipe.model_name}, step {trained.step}) "
        f"from {trained.checkpoint_path}[/]",
        highlight=False,
        soft_wrap=True,
    )
    for n in range(num_samples):
        if num_samples > 1:
            err_console.print(f"[dim]--- sample {n + 1} ---[/]")
        console.out(seed, end="", highlight=False)
        for token in sample_tokens(
            trained.model, prompt, length, temperature=temperature, top_k=top_k, generator=generator
        ):
            console.out(trained.vocab.chars[token], end="", highlight=False)
            console.file.flush()
        console.out("")
