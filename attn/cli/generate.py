"""`attn generate`: sample text from a trained run, streamed as it is produced."""

from __future__ import annotations

import gc
import random
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from attn.cli.app import app, console, user_errors
from attn.cli.output import notes
from attn.errors import UserError

MAX_PROMPT_CHARS = 4 * 2**20  # a prompt longer than this is surely the wrong file (a model sees its context's end)
SAMPLE_OVERHEAD_BYTES = 16 * 2**10  # per sample: its random generator's state and bookkeeping


def check_batch_fits(num_samples: int, prompt_chars: int, length: int, trained: Any) -> None:
    """Refuse a --num-samples batch that cannot fit in this machine's memory, with the estimate."""
    from attn.fileio import format_bytes
    from attn.process import memory_bytes

    model = trained.recipe.model
    cache = 2 * getattr(model, "n_layer", 0) * getattr(model, "block_size", 0) * getattr(model, "d_model", 0) * 4
    per_sample = 8 * (prompt_chars + length) + 4 * len(trained.vocab) + cache + SAMPLE_OVERHEAD_BYTES
    _, available = memory_bytes()
    if num_samples * per_sample > available // 2:
        raise UserError(
            f"--num-samples {num_samples:,} needs about {format_bytes(num_samples * per_sample)} of memory for its batch "
            f"and this machine has {format_bytes(available)} available: ask for fewer samples"
        )


def read_prompt(prompt: Optional[str], prompt_file: Optional[str]) -> str:
    """The prompt text: ``--prompt``, the contents of ``--prompt-file`` (``-``: stdin), or a newline."""
    if prompt is not None and prompt_file is not None:
        raise UserError("give the prompt once: --prompt TEXT or --prompt-file PATH, not both")
    if prompt_file == "-":
        text = sys.stdin.read(MAX_PROMPT_CHARS + 1)
        if len(text) > MAX_PROMPT_CHARS:
            raise UserError(f"the prompt on standard input is longer than {MAX_PROMPT_CHARS:,} characters")
        where = "standard input"
    elif prompt_file is not None:
        from attn.fileio import read_text_file

        text = read_text_file(Path(prompt_file), "--prompt-file", UserError, max_bytes=4 * MAX_PROMPT_CHARS)
        where = f"'{prompt_file}'"
    else:
        return "\n" if prompt is None else _non_empty(prompt, "--prompt")
    return _non_empty(text, f"the prompt from {where}")


def _non_empty(text: str, what: str) -> str:
    if not text:
        raise UserError(f"{what} is empty: give at least one character of prompt")
    return text


@app.command()
@user_errors
def generate(
    run_dir: Optional[Path] = typer.Argument(
        None,
        help="Run directory to sample from, or a model file from attn export --format safetensors. "
        "Default: the newest text run under the runs directory.",
        show_default=False,
    ),
    prompt: Optional[str] = typer.Option(
        None,
        "--prompt",
        "-p",
        "--seed",
        "-s",
        help="The prompt text the sample continues (default: a newline). --seed is the same option.",
        show_default=False,
    ),
    prompt_file: Optional[str] = typer.Option(
        None, "--prompt-file", help="Read the prompt from this UTF-8 file ('-': standard input).", show_default=False
    ),
    length: int = typer.Option(500, "--length", "-n", min=1, help="Characters to generate per sample."),
    temperature: float = typer.Option(
        0.8,
        "--temperature",
        "-t",
        help="Softmax temperature: lower is more conservative; 0 always takes the most likely character (greedy).",
    ),
    top_k: Optional[int] = typer.Option(None, "--top-k", min=1, help="Sample only among the k most likely characters."),
    top_p: Optional[float] = typer.Option(
        None,
        "--top-p",
        help="Nucleus sampling: only the most likely characters that together hold this probability (0 < p <= 1).",
    ),
    num_samples: int = typer.Option(
        1, "--num-samples", "-m", min=1, help="Independent samples to draw (in one batch; the first is streamed)."
    ),
    random_seed: Optional[int] = typer.Option(
        None,
        "--random-seed",
        min=0,
        max=2**63 - 1,
        help="Seed for sampling: sample i uses seed + i, so the same seed gives the same texts. Default: random.",
    ),
    checkpoint: str = typer.Option("best", "--checkpoint", help="best (lowest validation loss) or last."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N or mps."),
    kv_cache: bool = typer.Option(
        True,
        "--kv-cache/--no-kv-cache",
        help="Transformers: keep attention keys and values between steps (the same text, faster).",
    ),
    window: Optional[str] = typer.Option(
        None,
        "--window",
        help="Transformers, once the text is longer than their context (block_size): shift (keep the last half "
        "and read on with the key/value cache; the model then sees half to all of its context, at no measurable "
        "cost in validation loss, and long texts come several times faster) or slide (always the last block_size "
        "characters, each step reads them all). Default: shift with the key/value cache, slide without.",
    ),
    cuda_graphs: bool = typer.Option(
        True,
        "--cuda-graphs/--no-cuda-graphs",
        help="Transformers on a CUDA device: capture the steps of fixed shape (one token with the key/value cache, "
        "the whole sliding window) as CUDA graphs and replay them (the same text; several times faster on a GPU, "
        "where each character is otherwise hundreds of small kernel launches).",
    ),
    runs_dir: Optional[Path] = typer.Option(
        None, "--runs-dir", help="Where to look for the newest run. Default: $ATTN_RUNS_DIR or ./runs."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only the text: no run line or sample headers on stderr."),
) -> None:
    """Generate text from a trained character model, starting from --prompt.

    Example: attn generate --prompt "To be or not to be" --length 300 --temperature 0.8
    """
    text = read_prompt(prompt, prompt_file)
    if checkpoint not in ("best", "last"):
        raise UserError(f"--checkpoint must be best or last (got {checkpoint!r})")

    import torch  # here, not at the top: `attn --help` should not wait for torch

    from attn.inference import check_sampling, check_window, load_trained, sample_batch
    from attn.process import startup
    from attn.training.device import resolve_device
    from attn.training.rundir import latest_run, runs_root

    show = notes(quiet)
    check_sampling(temperature, top_k, top_p)
    check_window(window, kv_cache)
    startup.mark("imports")
    run_dir = run_dir or latest_run(runs_root(runs_dir), family="text")
    dev = resolve_device(device)
    trained = load_trained(run_dir, checkpoint, dev)
    if trained.recipe.family != "text":
        raise UserError(f"'{run_dir}' is an {trained.recipe.family} run; generate needs a text run")
    try:
        ids = torch.from_numpy(trained.vocab.encode(text)).to(dev)
    except UserError as err:  # name the run, which may be the newest one rather than one the user chose
        raise UserError(f"{err} (run {run_dir})") from None
    check_batch_fits(num_samples, len(text), length, trained)
    startup.mark("load")
    seed = random_seed if random_seed is not None else random.randrange(2**31)
    generators = [torch.Generator().manual_seed(seed + i) for i in range(num_samples)]
    # Only the text goes to stdout (so it can be piped); what produced it goes to stderr.
    show(
        f"{trained.recipe.name} ({trained.recipe.model_name}, step {trained.step}) "
        f"from {trained.checkpoint_path}{f'; random seed {seed}' if temperature > 0 else ''}",
        style="dim",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    chars = trained.vocab.chars
    others: list[list[str]] = [[] for _ in range(num_samples - 1)]
    if num_samples > 1:
        show("[dim]--- sample 1 ---[/]")
    console.out(text, end="", highlight=False)
    steps = sample_batch(
        trained.model,
        ids,
        length,
        generators=generators,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        kv_cache=kv_cache,
        window=window,  # type: ignore[arg-type]  # checked by check_window
        cuda_graphs=cuda_graphs and dev.type == "cuda",
    )
    for step in steps:
        first, *rest = step.tolist()
        console.out(chars[first], end="", highlight=False)
        console.file.flush()
        startup.finish("first character")
        for sample, token in zip(others, rest):
            sample.append(chars[token])
    console.out("")
    for n, sample in enumerate(others, start=2):
        show(f"[dim]--- sample {n} ---[/]")
        console.out(text + "".join(sample), highlight=False)
    gc.freeze()  # the exit's garbage collection would walk every torch object (about 0.15 s): nothing is left to free
