"""One side of a comparison, trained in a fresh process: ``python -m attn.bench.worker SPEC.json``.

A fresh process per side keeps the sides apart: the peak resident set size of a process never
goes down, CUDA caches and compiled graphs stay behind, and a crash of one side cannot take the
other's numbers with it. The spec (written by :func:`attn.bench.sides.train_side`) holds the
resolved recipe, the run directory, the device, the torch thread count and what to measure after
training. The worker trains with the same code as ``attn train`` (:func:`attn.training.run.train_in_dir`),
then writes ``bench_side.json`` next to the run's own ``summary.json``:

- ``rss_before_model_mb``: RSS after imports (including those training would do lazily) and data
  loading, before the model exists
- ``training_peak_rss_mb`` (Linux): the peak RSS from there on (model, optimizer, training, periodic
  and final evaluation): the process's peak is reset just before (``/proc/self/clear_refs``), so
  start-up spikes do not count
- ``process_peak_rss_mb``: the peak RSS of the whole process, start-up included
- ``generation`` (text, when asked): characters per second of :func:`attn.inference.sample_tokens`
  from the best checkpoint on the training device, the median of ``repeats`` timed runs after an
  untimed warm-up run
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from attn.bench.measure import current_rss_mb, peak_rss_since_reset_mb, reset_peak_rss
from attn.errors import TrainingDiverged, UserError
from attn.training.device import peak_rss_mb
from attn.training.rundir import atomic_write_json, read_json

SIDE_FILE = "bench_side.json"
SPEC_FILE = "bench_spec.json"


def generation_speed(
    run_dir: Path, device: torch.device, chars: int, repeats: int, warmup_chars: int, seed: int = 0
) -> dict[str, Any]:
    """Characters per second sampling from the run's best checkpoint (temperature 1, no top-k).

    The prompt is a newline (or the first vocabulary character). Every sampled token is copied
    to the host, so each timed run ends synchronised with the device.
    """
    from attn.bench.measure import median
    from attn.inference import load_trained, sample_tokens

    trained = load_trained(run_dir, "best", device)
    vocab = trained.vocab
    prompt_text = "\n" if "\n" in vocab.index else vocab.chars[0]
    prompt = torch.from_numpy(vocab.encode(prompt_text)).to(device)
    generator = torch.Generator().manual_seed(seed)

    def generate(n: int) -> None:
        for _ in sample_tokens(trained.model, prompt, n, generator=generator):
            pass

    generate(warmup_chars)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        generate(chars)
        times.append(time.perf_counter() - start)
    return {
        "chars_per_s": chars / median(times),
        "chars": chars,
        "repeats": repeats,
        "warmup_chars": warmup_chars,
        "times_s": times,
        "prompt": prompt_text,
        "checkpoint": "best",
        "temperature": 1.0,
    }


def preload_lazy_imports() -> None:
    """Import what training would import lazily (torch._dynamo via the optimizer, matplotlib for
    the plots), so that the memory measured from the model build on is the model's and training's."""
    import torch._dynamo  # noqa: F401
    from matplotlib import figure  # noqa: F401
    from matplotlib.backends import backend_agg  # noqa: F401


def run_side(spec: dict[str, Any]) -> dict[str, Any]:
    """Train the spec's recipe in its run directory and measure what the spec asks for."""
    from attn.recipe import recipe_from_dict
    from attn.training.distributed import shutdown_world
    from attn.training.run import RunOptions, prepare_runtime, train_in_dir
    from attn.training.tasks import build_task

    if spec.get("threads"):
        torch.set_num_threads(int(spec["threads"]))
    run_dir = Path(spec["run_dir"])
    recipe = recipe_from_dict(spec["recipe"])
    options = RunOptions(device=spec.get("device"), quiet=bool(spec.get("quiet")), console=Console())
    runtime, world = prepare_runtime(recipe, options)
    side: dict[str, Any] = {
        "label": spec.get("label"),
        "runtime": runtime.describe(),
        "torch_threads": torch.get_num_threads(),
    }
    try:
        task = build_task(recipe)
        preload_lazy_imports()
        side["rss_before_model_mb"] = current_rss_mb()
        peak_was_reset = reset_peak_rss()
        start = time.perf_counter()
        try:
            train_in_dir(recipe, task, run_dir, runtime, world, options, label=spec.get("label"))
        except TrainingDiverged as err:
            side["diverged"] = str(err)
        side["process_train_s"] = time.perf_counter() - start
    finally:
        shutdown_world(world)
    side["training_peak_rss_mb"] = peak_rss_since_reset_mb() if peak_was_reset else None
    side["process_peak_rss_mb"] = peak_rss_mb()
    generation = spec.get("generation")
    if generation and "diverged" not in side:
        side["generation"] = generation_speed(run_dir, runtime.device, **generation)
    atomic_write_json(run_dir / SIDE_FILE, side)
    return side


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m attn.bench.worker SPEC.json", file=sys.stderr)
        return 2
    try:
        run_side(read_json(Path(args[0])))
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
