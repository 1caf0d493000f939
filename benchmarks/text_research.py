"""Named text variants (recipe + overrides), each trained as one `attn train` process, in one markdown table.

For issue #11: which model and trainer options make the char transformer good, at equal steps.
Variants run one after the other (or a subset: --only), each in its own process; a failing one is
reported in its row and the rest still run. After every variant the table is rewritten to
--out/text_research.md (and the raw summaries to text_research.json), so an interrupted session
keeps what finished. --max-minutes stops launching new variants after that many minutes.

    python benchmarks/text_research.py --list
    python benchmarks/text_research.py --device cuda --out OUT --only base,rope,muon,wsd,ema
    python benchmarks/text_research.py --device cuda --out OUT --group candidates --max-minutes 9

Columns: parameters, optimizer steps, the best checkpoint's loss on the whole validation split
(summary.json best_checkpoint_eval.val_loss, with train.final_eval full), the trainer clock at the
evaluation that found it ("time to best"), the process's wall time from start to exit (import,
data, compile and the final evaluation included), training tokens/s.

The variant groups:
- "ablations": `base` is shakespeare_char_fast (nanoGPT's 6 x 384 architecture, AdamW 2e-3, cosine,
  dropout 0.2, eager step as one CUDA graph) at 2000 steps of 64 x 256 with a whole-split final
  evaluation; every other variant changes exactly one model or trainer option of it. Muon cannot be
  captured: under train.cuda_graphs it steps eagerly after each replay of the captured rest, so Muon
  variants pay Python launch costs the others do not: compare their losses at equal steps, not their times.
- "leave-one-out": `modern` turns every model option on (rope, rmsnorm, qk_norm, relu2, untied
  head, zero-initialised projections) with Muon (0.02, AdamW 2e-3 for the rest), wsd (decay to 0
  over the last 15%) and EMA 0.999; each `modern-no-X` turns one off.
- "candidates": variations of `modern` aimed at the best loss in about 2 minutes of process time
  (SwiGLU, dropout 0.3 with EMA 0.998, dropout 0.15 for 3000 steps, compiled, AdamW with graphs).
A --variants FILE (YAML: name -> {recipe: ..., overrides: [...]}) replaces the built-in list.
--set applies to every variant after its own overrides; for a table at equal time instead of
equal steps: --set train.max_steps=null --set train.max_time_s=60 --set train.eval_interval_s=7.5
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import yaml
from train_process import best_whole_split, error_line, run_train, time_to_best

from attn.bench.report import fmt, markdown_table

BASE = "shakespeare_char_fast"
Settings = dict[str, str]  # recipe key -> value as written on the command line; later dicts win

EQUAL_STEPS: Settings = {
    "train.max_steps": "2000",
    "train.eval_interval": "250",
    "train.eval_batches": "50",
    "train.final_eval": "full",
    "train.log_interval": "100",
}
# Each option of `modern`: what turns it on, and what turns it off again.
OPTIONS: dict[str, tuple[Settings, Settings]] = {
    "rope": ({"model.position": "rope"}, {"model.position": "learned"}),
    "rmsnorm": ({"model.norm": "rmsnorm"}, {"model.norm": "layernorm"}),
    "qk_norm": ({"model.qk_norm": "true"}, {"model.qk_norm": "false"}),
    "relu2": ({"model.mlp": "relu2"}, {"model.mlp": "gelu"}),
    "untied": ({"model.tie_embeddings": "false"}, {"model.tie_embeddings": "true"}),
    "zero_init": ({"model.zero_init_proj": "true"}, {"model.zero_init_proj": "false"}),
    "muon": ({"train.optimizer": "muon", "train.muon_lr": "0.02", "train.lr": "2e-3"}, {"train.optimizer": "adamw"}),
    "wsd": (
        {"train.schedule": "wsd", "train.decay_fraction": "0.15", "train.min_lr": "0"},
        {"train.schedule": "cosine"},
    ),
    "ema": ({"train.ema_decay": "0.999"}, {"train.ema_decay": "null"}),
}
MODERN: Settings = {k: v for on, _ in OPTIONS.values() for k, v in on.items()}


def ablations() -> dict[str, Settings]:
    """`base` and one change of it per variant."""
    one_change: dict[str, Settings] = {"base": {}, **{name: on for name, (on, _) in OPTIONS.items()}}
    one_change.update(
        {
            "swiglu": {"model.mlp": "swiglu"},
            "ema-0.998": {"train.ema_decay": "0.998"},
            "dropout-0.1": {"model.dropout": "0.1"},
            "dropout-0.3": {"model.dropout": "0.3"},
            "lr-1e-3": {"train.lr": "1e-3"},
        }
    )
    return {name: {**EQUAL_STEPS, **changes} for name, changes in one_change.items()}


def leave_one_out() -> dict[str, Settings]:
    """`modern` (every option on) and one option off per variant."""
    variants = {"modern": {**EQUAL_STEPS, **MODERN}}
    for name, (_, off) in OPTIONS.items():
        variants[f"modern-no-{name}"] = {**EQUAL_STEPS, **MODERN, **off}
    return variants


def candidates() -> dict[str, Settings]:
    """Configurations aimed at the best whole-split loss in about 2 minutes of process wall time."""
    tuned = {**EQUAL_STEPS, **MODERN, "model.dropout": "0.2"}
    return {
        "fast-swiglu": {**tuned, "model.mlp": "swiglu"},
        "fast-d0.3-ema0.998": {**tuned, "model.dropout": "0.3", "train.ema_decay": "0.998"},
        "fast-d0.15-3000": {**tuned, "model.dropout": "0.15", "train.max_steps": "3000"},
        "fast-compile": {**tuned, "train.compile": "true", "train.cuda_graphs": "false"},
        "fast-adamw-graphs": {**tuned, "train.optimizer": "adamw", "train.cuda_graphs": "true"},
    }


GROUPS = {"ablations": ablations, "leave-one-out": leave_one_out, "candidates": candidates}


def builtin_variants(groups: list[str]) -> dict[str, dict[str, Any]]:
    variants = {}
    for group in groups:
        for name, overrides in GROUPS[group]().items():
            variants[name] = {"recipe": BASE, "overrides": [f"{k}={v}" for k, v in overrides.items()], "group": group}
    return variants


def load_variants(path: Path) -> dict[str, dict[str, Any]]:
    """A YAML mapping name -> {recipe, overrides}."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict) or not all(isinstance(v, dict) and "recipe" in v for v in raw.values()):
        raise SystemExit(f"{path}: expected a mapping of name -> {{recipe: ..., overrides: [...]}}")
    return {
        str(k): {"recipe": v["recipe"], "overrides": list(v.get("overrides") or []), "group": "file"}
        for k, v in raw.items()
    }


HEADERS = ["variant", "parameters", "steps", "best val loss, whole split (step)", "time to best (s)"]
HEADERS += ["process wall (s)", "tokens/s"]


def row(result: dict[str, Any]) -> list[str]:
    name = result["name"]
    if "skipped" in result:
        return [name, result["skipped"], "", "", "", "", ""]
    if "error" in result:
        return [name, f"failed: {error_line(result)}", "", "", "", "", ""]
    s = result["summary"]
    full, to_best = best_whole_split(s), time_to_best(result)
    return [
        name,
        f"{s['parameters']:,}",
        str(s["steps"]),
        f"{full:.4f} ({s['best'].get('step')})" if full is not None else "n/a (final_eval not full)",
        f"{to_best:.1f}" if to_best is not None else "n/a",
        f"{s.get('process_wall_s', result['outside_wall_s']):.1f}",
        fmt(s.get("tok_per_s"), ",.0f"),
    ]


def write(out: Path, results: list[dict[str, Any]], variants: dict[str, dict[str, Any]], device: str | None) -> None:
    lines = [
        "# Text research variants",
        "",
        f"- {time.strftime('%Y-%m-%d %H:%M')}; device {device or 'auto'}; one `attn train` process per variant, in order",
        "- best val loss: the best checkpoint on the whole validation split; time to best: trainer clock at the "
        "evaluation that found it; process wall: start to exit, set-up and final evaluation included",
        "",
        markdown_table(HEADERS, [row(r) for r in results]),
        "",
        "Variants:",
        "",
        *(f"- `{name}`: {v['recipe']} {' '.join(v['overrides'])}" for name, v in variants.items()),
    ]
    (out / "text_research.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (out / "text_research.json").write_text(json.dumps(results, indent=1), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--group", action="append", choices=sorted(GROUPS), help="variant groups (default: all)")
    parser.add_argument("--only", default=None, help="comma-separated variant names to run, in this order")
    parser.add_argument(
        "--variants", type=Path, default=None, help="a YAML file of variants instead of the built-in ones"
    )
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="an override for every variant")
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: auto)")
    parser.add_argument("--max-minutes", type=float, default=None, help="launch no new variant after this many minutes")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per variant before it is stopped")
    parser.add_argument(
        "--compile-cache",
        type=Path,
        default=None,
        help="one torch.compile cache for every variant (default: a cold one each)",
    )
    parser.add_argument("--out", type=Path, default=Path("text_research"))
    parser.add_argument("--list", action="store_true", help="print the variants and exit")
    args = parser.parse_args(argv)

    variants = load_variants(args.variants) if args.variants else builtin_variants(args.group or list(GROUPS))
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in variants]
        if unknown:
            raise SystemExit(f"unknown variants: {', '.join(unknown)} (see --list)")
        variants = {n: variants[n] for n in names}
    for variant in variants.values():
        variant["overrides"] = [*variant["overrides"], *args.overrides]
    if args.list:
        for name, v in variants.items():
            print(f"{name}: {v['recipe']} {' '.join(v['overrides'])}")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    workdir = args.out / "runs"
    workdir.mkdir(exist_ok=True)
    start = time.monotonic()
    results: list[dict[str, Any]] = []
    print(markdown_table(HEADERS, []), flush=True)
    for i, (name, variant) in enumerate(variants.items(), start=1):
        minutes = (time.monotonic() - start) / 60
        if args.max_minutes is not None and minutes >= args.max_minutes:
            result: dict[str, Any] = {"name": name, "skipped": f"not run (--max-minutes {args.max_minutes:g})"}
        else:
            print(f"[{i}/{len(variants)}, {minutes:.1f} min] {name}", flush=True)
            try:
                result = run_train(
                    name,
                    variant["recipe"],
                    variant["overrides"],
                    workdir,
                    device=args.device,
                    timeout=args.timeout,
                    cache=args.compile_cache,
                )
            except Exception as err:  # noqa: BLE001 - one broken variant must not stop the others
                result = {"name": name, "error": f"{type(err).__name__}: {err}", "command": ""}
        results.append(result)
        print("| " + " | ".join(row(result)) + " |", flush=True)
        write(args.out, results, variants, args.device)
    print(f"written: {args.out / 'text_research.md'}")
    return 0 if any("summary" in r for r in results) or not results else 1


if __name__ == "__main__":
    raise SystemExit(main())
