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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipes", default="shakespeare_char_cpu,shakespeare_char_modern")
    parser.add_argument("--lengths", default="60,250,1000", help="characters to generate, comma-separated")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

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
