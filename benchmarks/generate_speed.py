"""Generation speed with and without the key/value cache, and with the shifting window, by length (issue #13).

For each recipe it trains one step (``train.max_steps=1``, no final evaluation: the weights do not
matter for speed) and then samples from that run in this process, as ``attn generate`` does:
``--lengths`` characters after a one-character prompt, with the cache on and off, the median of
``--repeats`` timed runs after an untimed warm-up (:func:`attn.bench.worker.generation_speed`). The
cache holds the keys and values of the context while it fills; once the text is longer than the
model's ``block_size`` the window slides and every step reads the whole window again, so the cache
only pays for the first ``block_size`` characters; ``--window shift`` keeps the last half of the window
and reads on with the cache instead (different text: the model sees half to all of its context). On a
CUDA device two more columns: the same without the CUDA graphs of the fixed-shape steps (``--no-cuda-graphs``).

    python benchmarks/generate_speed.py --device cpu         # shakespeare_char_cpu (block 64), _modern (256)
    python benchmarks/generate_speed.py --device cuda --out $OUT
    python benchmarks/generate_speed.py --count-ops   # operations in one cached step of each recipe's model (CPU)
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch
from train_process import error_line, run_train, write_report

from attn.bench.report import markdown_table
from attn.bench.worker import generation_speed
from attn.recipe import load_recipe

HEADERS = ["recipe", "block", "characters", "cache on (chars/s)", "cache off", "on / off", "cache on, window shift"]
# name -> (kv_cache, window, cuda_graphs); on a CUDA device also without the graphs of the fixed-shape steps
SETTINGS = {"on": (True, "slide", None), "off": (False, "slide", None), "shift": (True, "shift", None)}
EAGER = {"on, no graphs": (True, "slide", False), "shift, no graphs": (True, "shift", False)}
EAGER_HEADERS = ["cache on, no CUDA graphs", "shift, no CUDA graphs"]


# aten operations that only describe a tensor differently (no arithmetic, no copy)
VIEWS = {
    "aten::as_strided", "aten::view", "aten::transpose", "aten::t", "aten::reshape", "aten::_unsafe_view",
    "aten::unsqueeze", "aten::squeeze", "aten::select", "aten::slice", "aten::expand", "aten::permute",
    "aten::unflatten", "aten::flatten", "aten::unbind", "aten::split", "aten::alias", "aten::detach",
    "aten::resolve_conj", "aten::resolve_neg", "aten::result_type", "aten::empty", "aten::empty_strided",
    "aten::empty_like", "aten::lift_fresh", "aten::_reshape_alias",
}  # fmt: skip


@torch.no_grad()
def count_step_ops(recipe_name: str, vocab_size: int = 65, prompt: int = 10) -> tuple[int, int]:
    """(aten calls, of which the innermost that compute or copy) in one cached one-token step of the recipe's model on the
    CPU, after a prompt: the work a GPU launches one kernel at a time when the step is not a CUDA graph."""
    from torch.profiler import ProfilerActivity, profile

    from attn.models import build_model

    recipe = load_recipe(recipe_name)
    model = build_model(recipe.model_name, recipe.model, vocab_size=vocab_size).eval()
    cache = model.new_cache(1)
    model.forward_cached(torch.zeros(1, prompt, dtype=torch.long), cache)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        model.forward_cached(torch.zeros(1, 1, dtype=torch.long), cache)
    aten = [e for e in prof.events() if e.name.startswith("aten::")]
    # the innermost calls that compute or copy: every aten call below them (if any) only makes or reshapes a tensor
    work = [e for e in aten if e.name not in VIEWS and all(c.name in VIEWS for c in e.cpu_children)]
    return len(aten), len(work)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipes", default="shakespeare_char_cpu,shakespeare_char_modern")
    parser.add_argument("--lengths", default="60,250,1000", help="characters to generate, comma-separated")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--count-ops", action="store_true", help="only count the operations of one cached step")
    args = parser.parse_args()
    if args.count_ops:
        for recipe in [*args.recipes.split(","), "shakespeare_char"]:
            calls, work = count_step_ops(recipe)
            print(f"{recipe}: {calls} aten calls in one cached step, {work} of them the innermost that compute or copy")
        return

    device = torch.device(args.device)
    workdir = Path(tempfile.mkdtemp(prefix="attn-generate-speed-"))
    cuda = device.type == "cuda"
    headers, settings = HEADERS + (EAGER_HEADERS if cuda else []), {**SETTINGS, **(EAGER if cuda else {})}
    rows, raw = [], []
    for recipe in args.recipes.split(","):
        trained = run_train(recipe, recipe, ["train.max_steps=1", "train.final_eval=none"], workdir, device=args.device)
        if "error" in trained:
            rows.append([recipe, "", "", f"failed: {error_line(trained)}", *[""] * (len(headers) - 4)])
            continue
        block = load_recipe(recipe).model.block_size
        run_dir = Path(trained["run_dir"])
        for chars in (int(n) for n in args.lengths.split(",")):
            speeds = {
                name: generation_speed(
                    run_dir, device, chars, args.repeats, min(chars, 20), kv_cache=kv, window=window, cuda_graphs=graphs
                )
                for name, (kv, window, graphs) in settings.items()
            }
            per_s = {name: speed["chars_per_s"] for name, speed in speeds.items()}
            on, off, shift = per_s["on"], per_s["off"], per_s["shift"]
            rows.append(
                [recipe, str(block), str(chars), f"{on:,.0f}", f"{off:,.0f}", f"{on / off:.2f}x", f"{shift:,.0f}"]
                + [f"{per_s[name]:,.0f}" for name in EAGER if name in per_s]
            )
            raw.append({"recipe": recipe, "block_size": block, "chars": chars, **speeds})
            print("| " + " | ".join(rows[-1]) + " |", flush=True)
    table = markdown_table(headers, rows)
    print(table)
    if args.out:
        write_report(args.out, "generate_speed", table, raw)


if __name__ == "__main__":
    main()
