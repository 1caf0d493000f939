"""GPU speed of the text trainer: throughput, compile time, MFU and time to a target loss.

Each experiment is one `attn train` process with its own fresh torch.compile cache (so compile
time is the cold-start cost a user pays), timed from process start. Results are read from the
run's summary.json and printed as a markdown table; with --out, the table and the raw
summaries are written there too.

    python benchmarks/gpu.py throughput            # the reference configuration, several compile settings
    python benchmarks/gpu.py ttq                   # time to val_loss <= 1.47 with the fast recipe
    python benchmarks/gpu.py check                 # eager and CUDA-graph steps give the same losses
    python benchmarks/gpu.py custom --name x --recipe shakespeare_char -- train.max_steps=300
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from train_process import run_train, write_report

REFERENCE = "shakespeare_char"
# The reference run's throughput: about 14 ms per iteration of 64 x 256 tokens on an H100.
REFERENCE_TOKENS_PER_S = 64 * 256 / 0.014

THROUGHPUT = {
    "compile-blocks": ["train.compile=true", "train.compile_scope=blocks"],
    "compile": ["train.compile=true"],
    "eager": ["train.compile=false"],
    "compile-cudagraphs": ["train.compile=true", "train.compile_mode=reduce-overhead"],
    "compile-max-autotune": ["train.compile=true", "train.compile_mode=max-autotune-no-cudagraphs"],
    "eager-graphs": ["train.compile=false", "train.cuda_graphs=true"],
    "compile-graphs": ["train.compile=true", "train.cuda_graphs=true"],
}
THROUGHPUT_STEPS = [
    "train.max_steps=400",
    "train.eval_interval=100000",
    "train.final_eval=none",
    "train.log_interval=50",
]


def run_experiment(
    name: str,
    recipe: str,
    overrides: list[str],
    workdir: Path,
    timeout: int,
    cache: Path | None = None,
    env: dict[str, str] | None = None,
) -> dict:
    """One `attn train` process; returns its summary plus the wall time measured from outside.

    ``cache``: the torch.compile cache folder to use (kept); default a fresh one, removed afterwards,
    so that the compile time is the cold-start cost. ``env``: extra environment variables.
    """
    return run_train(name, recipe, overrides, workdir, timeout=timeout, cache=cache, env=env)


def compare_losses(results: list[dict]) -> str:
    """Evaluation losses of the eager and CUDA-graph runs side by side (without dropout they must agree)."""
    evals = [[(m["step"], m["val_loss"]) for m in r.get("metrics", []) if m["kind"] == "eval"] for r in results]
    lines = ["step | " + " | ".join(r["name"] for r in results)]
    for rows in zip(*evals):
        lines.append(f"{rows[0][0]} | " + " | ".join(f"{v:.5f}" for _, v in rows))
    return "\n".join(lines)


def row(result: dict) -> str:
    if "error" in result:
        return f"| {result['name']} | error: {result['error'].strip().splitlines()[-1][:80]} |"
    s = result["summary"]
    tps = s.get("tok_per_s", 0.0)
    full = s.get("best_checkpoint_eval", {}).get("val_loss")
    cells = [
        result["name"],
        f"{s['steps']}",
        f"{tps / 1e6:.3f}",
        f"{tps / REFERENCE_TOKENS_PER_S:.2f}x",
        f"{100 * s['mfu']:.1f}%" if "mfu" in s else "-",
        f"{s['warmup_s']:.1f}",
        f"{s['best']['val_loss']:.4f}" if s["best"].get("val_loss") is not None else "-",
        f"{full:.4f}" if full is not None else "-",
        f"{s['process_wall_s']:.1f}",
        f"{result['outside_wall_s']:.1f}",
    ]
    return "| " + " | ".join(cells) + " |"


HEADER = (
    "| experiment | steps | M tok/s | vs reference | MFU | warm-up incl. compile (s) | best val (sampled) "
    "| best ckpt val (full split) | process wall (s) | outside wall (s) |\n" + "|---" * 10 + "|"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["throughput", "ttq", "check", "custom"])
    parser.add_argument("--only", default=None, help="comma-separated experiment names to run")
    parser.add_argument("--name", default="custom")
    parser.add_argument("--recipe", default=REFERENCE)
    parser.add_argument("--repeat", type=int, default=1, help="run each experiment this many times")
    parser.add_argument("--timeout", type=int, default=600)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--variant", action="append", help="ttq: another run of the fast recipe with these space-separated overrides"
    )
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_intermixed_args()

    if args.mode == "throughput":
        experiments = {k: (REFERENCE, v + THROUGHPUT_STEPS + args.overrides) for k, v in THROUGHPUT.items()}
    elif args.mode == "check":
        same = [
            "model.dropout=0.0",
            "train.max_steps=60",
            "train.eval_interval=30",
            "train.final_eval=none",
            "train.log_interval=10",
        ]
        experiments = {
            name: (REFERENCE, same + flags)
            for name, flags in (
                ("check-eager", ["train.compile=false"]),
                ("check-graphs", ["train.compile=false", "train.cuda_graphs=true"]),
            )
        }
    elif args.mode == "ttq":
        experiments = {"shakespeare_char_fast": ("shakespeare_char_fast", list(args.overrides))}
        for i, variant in enumerate(args.variant or []):
            experiments[f"fast-v{i + 1}"] = ("shakespeare_char_fast", variant.split() + list(args.overrides))
    else:
        experiments = {args.name: (args.recipe, list(args.overrides))}
    if args.only:
        keep = set(args.only.split(","))
        experiments = {k: v for k, v in experiments.items() if k in keep}

    workdir = Path(tempfile.mkdtemp(prefix="attn-gpu-bench-"))
    results = []
    print(HEADER, flush=True)
    for name, (recipe, overrides) in experiments.items():
        for i in range(args.repeat):
            label = name if args.repeat == 1 else f"{name}#{i + 1}"
            result = run_experiment(label, recipe, overrides, workdir, args.timeout)
            results.append(result)
            print(row(result), flush=True)
    if args.mode == "check":
        print(compare_losses(results), flush=True)
    if args.out:
        write_report(args.out, f"gpu_{args.mode}", HEADER + "\n" + "\n".join(map(row, results)), results)
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
