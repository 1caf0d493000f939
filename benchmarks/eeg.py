"""EEG models under k-fold subject-wise cross-validation: NRMSE, training speed, wall time.

Each model is one `attn train RECIPE train.folds=K` process, timed from outside (process start
to exit, data loading and any compiling included). Results come from the CV run's summary.json
and its folds' summaries, and are printed as a markdown table; with --out, the table and the raw
summaries are written there too.

    python benchmarks/eeg.py --device cuda                       # every built-in EEG recipe, 5 folds
    python benchmarks/eeg.py --device cpu --recipes eeg_cnn --set data.preset=realistic
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

RECIPES = ["eeg_cnn", "eeg_sparse_lightweight", "eeg_sparse_improved", "eeg_eegnex"]


def run_cv(recipe: str, folds: int, device: str, overrides: list[str], workdir: Path, timeout: int) -> dict:
    """One CV process; its summary, each fold's summary and the wall time measured from outside."""
    runs = workdir / recipe
    command = [
        sys.executable,
        "-m",
        "attn",
        "train",
        recipe,
        f"train.folds={folds}",
        *overrides,
        "--device",
        device,
        "--runs-dir",
        str(runs),
        "--quiet",
    ]
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - start
    summaries = sorted(runs.glob("*/*/summary.json"))
    if proc.returncode != 0 or not summaries:
        return {"recipe": recipe, "error": (proc.stderr or proc.stdout)[-2000:], "command": " ".join(command)}
    summary = json.loads(summaries[0].read_text())
    fold_summaries = [json.loads(p.read_text()) for p in sorted(summaries[0].parent.glob("fold-*/summary.json"))]
    return {
        "recipe": recipe,
        "command": " ".join(command),
        "outside_wall_s": wall,
        "summary": summary,
        "folds": fold_summaries,
    }


def row(result: dict) -> str:
    if "error" in result:
        first_line = result["error"].strip().splitlines()[-1] if result["error"].strip() else "failed"
        return f"| {result['recipe']} | failed: {first_line[:120]} | | | | | | |"
    s, folds = result["summary"], result["folds"]
    win_per_s = statistics.median(f["win_per_s"] for f in folds)
    train_s = sum(f["train_time_s"] for f in folds)
    return (
        f"| {s['model']} | {folds[0]['parameters']:,} | {folds[0]['device']} | "
        f"{s['test_nrmse_mean']:.3f} ± {s['test_nrmse_sd']:.3f} | {s['test_nrmse_pooled']:.3f} | "
        f"{win_per_s:,.0f} | {train_s:.1f} s | {result['outside_wall_s']:.1f} s |"
    )


HEADER = (
    "| model | parameters | device | test NRMSE (mean ± sd over folds) | pooled | train windows/s "
    "(median fold) | training time (all folds) | process wall |\n|---|---:|---|---:|---:|---:|---:|---:|"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipes", nargs="+", default=RECIPES, help="EEG recipes to cross-validate")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        help="a recipe override applied to every recipe (repeatable), e.g. data.preset=realistic",
    )
    parser.add_argument("--workdir", type=Path, default=Path("runs/bench-eeg"))
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per recipe")
    parser.add_argument("--out", type=Path, help="write table.md and results.json here")
    args = parser.parse_args()

    results = []
    print(HEADER, flush=True)
    for recipe in args.recipes:
        result = run_cv(recipe, args.folds, args.device, args.overrides, args.workdir, args.timeout)
        results.append(result)
        print(row(result), flush=True)
    ok = [r for r in results if "error" not in r]
    if ok:
        s = ok[0]["summary"]
        print(
            f"\nmean predictor {s['test_mean_predictor_nrmse_mean']:.3f}; oracle floor "
            f"{s.get('test_oracle_floor_mean', float('nan')):.3f} (mean over folds)"
        )
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        table = "\n".join([HEADER, *map(row, results)])
        (args.out / "table.md").write_text(table + "\n")
        (args.out / "results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
