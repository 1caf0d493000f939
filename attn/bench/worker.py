"""One side of a comparison, trained in a fresh process: ``python -m attn.bench.worker SPEC.json``.

A fresh process per side keeps the sides apart: the peak resident set size of a process never
goes down, CUDA caches and compiled graphs stay behind, and a crash of one side cannot take the
other's numbers with it. The spec (written by :func:`attn.bench.sides.train_side`) holds the
resolved recipe, the run directory, the device, the torch thread count and what to measure after
training. The worker trains with the same code as ``attn train`` (:func:`attn.runs.start_run`, with
hooks for measurement), then writes ``bench_side.json`` next to the run's own ``summary.json``:

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

from attn.errors import TrainingDiverged, UserError
from attn.fileio import atomic_write_json, read_json
from attn.process import current_rss_mb, peak_rss_mb, peak_rss_since_reset_mb, reset_peak_rss
from attn.training.device import resolve_device

SIDE_FILE = "bench_side.json"
SPEC_FILE = "bench_spec.json"


def generation_speed(
    run_dir: Path,
    device: torch.device,
    chars: int,
    repeats: int,
    warmup_chars: int,
    seed: int = 0,
    kv_cache: bool = True,
    window: str | None = None,
    cuda_graphs: bool | None = None,
) -> dict[str, Any]:
    """Characters per second sampling from the run's best checkpoint (temperature 1, no top-k).

    The prompt is a newline (or the first vocabulary character). Every sampled token is copied
    to the host, so each timed run ends synchronised with the device. ``kv_cache``, ``window`` and
    ``cuda_graphs``: as ``attn generate --kv-cache/--no-kv-cache --window --cuda-graphs/--no-cuda-graphs``, with its defaults
    (transformers only; a timed run includes capturing its graphs, as the command does).
    """
    from attn.bench.measure import median
    from attn.inference import load_trained, sample_tokens
    from attn.inference.sample import resolve_window, uses_cuda_graphs

    trained = load_trained(run_dir, "best", device)
    vocab = trained.vocab
    prompt_text = "\n" if "\n" in vocab.index else vocab.chars[0]
    prompt = torch.from_numpy(vocab.encode(prompt_text)).to(device)
    generator = torch.Generator().manual_seed(seed)

    def generate(n: int) -> None:
        steps = sample_tokens(
            trained.model, prompt, n, generator=generator, kv_cache=kv_cache, window=window, cuda_graphs=cuda_graphs
        )
        for _ in steps:
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
        "kv_cache": kv_cache,
        "window": resolve_window(window, kv_cache),
        "cuda_graphs": uses_cuda_graphs(trained.model, device, cuda_graphs),
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
    from attn.runs import RunHooks, RunOptions, start_run

    if spec.get("threads"):
        torch.set_num_threads(int(spec["threads"]))
    run_dir = Path(spec["run_dir"])
    recipe = recipe_from_dict(spec["recipe"])
    side: dict[str, Any] = {"label": spec.get("label"), "torch_threads": torch.get_num_threads()}
    clock: dict[str, float] = {}

    def before_model() -> None:  # the data exist; what follows is the model's and training's memory
        preload_lazy_imports()
        side["rss_before_model_mb"] = current_rss_mb()
        side["peak_was_reset"] = reset_peak_rss()
        clock["start"] = time.perf_counter()

    def after_training() -> None:
        side["process_train_s"] = time.perf_counter() - clock["start"]

    hooks = RunHooks(before_model=before_model, after_training=after_training)
    options = RunOptions(
        device=spec.get("device"),
        quiet=bool(spec.get("quiet")),
        console=Console(stderr=True, soft_wrap=True),
        hooks=hooks,
    )
    try:
        outcome = start_run(recipe, options, run_dir=run_dir)
        side["runtime"] = outcome.summary.get("device")
    except TrainingDiverged as err:
        side["diverged"] = str(err)
    side["training_peak_rss_mb"] = peak_rss_since_reset_mb() if side.pop("peak_was_reset", False) else None
    side["process_peak_rss_mb"] = peak_rss_mb()
    generation = spec.get("generation")
    if generation and "diverged" not in side:
        side["generation"] = generation_speed(run_dir, resolve_device(spec.get("device") or "auto"), **generation)
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
