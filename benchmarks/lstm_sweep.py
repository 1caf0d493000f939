"""The LSTM's learning rate x dropout sweep behind `attn bench vs lstm`'s table (attn.bench.vs_lstm.TUNED_LSTM).

For a transformer recipe, each (dropout, lr) pair trains the LSTM recipe the bench itself would
derive (`attn.bench.vs_lstm.lstm_recipe`: parameter-matched, the transformer's train section, AdamW)
as one `attn train` process, one after the other. The criterion is the best checkpoint's loss on
the whole validation split (summary.json: best_checkpoint_eval.val_loss), which does not depend on
machine load; no timing from a sweep is used to choose. Prints one markdown row per run as it
finishes and writes lstm_sweep.md (the table, the best pair in bold), lstm_sweep.json, the recipes and
the run directories to --out.

    python benchmarks/lstm_sweep.py --recipe shakespeare_char_cpu --device cpu --threads 1 --out OUT
    python benchmarks/lstm_sweep.py --recipe shakespeare_char_fast --device cuda --out OUT \\
        --set train.max_steps=2000 --set train.eval_interval=250 --set train.ema_decay=0.998

Default learning rates: the recipe's row of TUNED_LSTM times 0.5, 1 and 2 (the transformer's lr
without a row); default dropouts 0.2, 0.3, 0.4.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from train_process import best_whole_split, error_line, run_train, time_to_best

from attn.bench.report import markdown_table
from attn.bench.vs_lstm import TUNED_LSTM, lstm_recipe
from attn.datasets.text import load_text_data
from attn.recipe import load_recipe

HEADERS = ["dropout", "lr", "best val loss during training (step)", "best checkpoint, whole val split"]
HEADERS += ["time to best (s)", "steps", "process wall (s)"]


def numbers(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v.strip()]


def row(result: dict, dropout: float, lr: float, best: bool = False) -> list[str]:
    if "error" in result:
        return [f"{dropout:g}", f"{lr:g}", f"failed: {error_line(result)}", "", "", "", ""]
    s = result["summary"]
    full = best_whole_split(s)
    full_text = "n/a" if full is None else (f"**{full:.4f}**" if best else f"{full:.4f}")
    to_best = time_to_best(result)
    return [
        f"{dropout:g}",
        f"{lr:g}",
        f"{s['best']['val_loss']:.4f} ({s['best']['step']})" if s["best"].get("val_loss") is not None else "n/a",
        full_text,
        f"{to_best:.1f}" if to_best is not None else "n/a",
        str(s["steps"]),
        f"{s.get('process_wall_s', 0.0):.1f}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="shakespeare_char_cpu", help="the transformer recipe of the bench")
    parser.add_argument("--dropouts", default="0.2,0.3,0.4", help="comma-separated LSTM dropouts")
    parser.add_argument("--lrs", default=None, help="comma-separated LSTM learning rates (default: see above)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="a recipe override (repeatable)")
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: the recipe's)")
    parser.add_argument("--threads", type=int, default=None, help="OMP_NUM_THREADS for each run")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per run before it is stopped")
    parser.add_argument("--out", type=Path, default=Path("lstm_sweep"))
    args = parser.parse_args(argv)

    transformer = load_recipe(args.recipe, args.overrides)
    vocab_size = len(load_text_data(transformer.data, transformer.model.block_size).vocab)
    tuned = TUNED_LSTM.get(transformer.name)
    centre = tuned.lr if tuned else transformer.train.lr
    lrs = numbers(args.lrs) if args.lrs else [centre / 2, centre, centre * 2]
    grid = [(dropout, lr) for dropout in numbers(args.dropouts) for lr in lrs]
    args.out.mkdir(parents=True, exist_ok=True)
    workdir = args.out / "runs"  # one run directory per pair (tar it without *.pt to keep the curves)
    workdir.mkdir(exist_ok=True)
    env = {"OMP_NUM_THREADS": str(args.threads)} if args.threads else None
    print(f"LSTM sweep for {transformer.name}: {len(grid)} runs (dropout x lr), criterion: whole-split val loss")
    print(markdown_table(HEADERS, []), flush=True)
    results = []
    for dropout, lr in grid:
        recipe, size = lstm_recipe(transformer, vocab_size, lr, dropout)
        name = f"lstm_d{dropout:g}_lr{lr:g}"
        path = args.out / "recipes" / f"{name}.yaml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(recipe.to_yaml(), encoding="utf-8")
        result = run_train(name, path, [], workdir, device=args.device, timeout=args.timeout, env=env)
        result.update(dropout=dropout, lr=lr, parameters=size.parameters)
        results.append(result)
        print("| " + " | ".join(row(result, dropout, lr)) + " |", flush=True)
    scored = [r for r in results if "error" not in r and best_whole_split(r["summary"]) is not None]
    winner = min(scored, key=lambda r: best_whole_split(r["summary"]), default=None)
    table = markdown_table(HEADERS, [row(r, r["dropout"], r["lr"], r is winner) for r in results])
    first = results[0] if results else {}
    lines = [
        f"# LSTM sweep: {transformer.name}",
        "",
        f"- {time.strftime('%Y-%m-%d')}; LSTM {first.get('parameters', 0):,} parameters, derived by "
        f"attn.bench.vs_lstm.lstm_recipe; overrides {args.overrides or 'none'}; device {args.device or 'recipe'}",
        "- criterion: the best checkpoint's loss on the whole validation split (bold: the best)",
        "",
        table,
    ]
    (args.out / "lstm_sweep.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (args.out / "lstm_sweep.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    if winner:
        print(f"best: dropout {winner['dropout']:g}, lr {winner['lr']:g} ({best_whole_split(winner['summary']):.4f})")
    print(f"written: {args.out / 'lstm_sweep.md'}")
    return 0 if scored else 1


if __name__ == "__main__":
    raise SystemExit(main())
