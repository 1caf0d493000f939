"""EEG models under k-fold subject-wise cross-validation: NRMSE on the same folds for every row.

Each variant is one `attn train RECIPE OVERRIDES train.folds=K` process, timed from outside
(process start to exit, data loading and any compiling included). Every variant and the
band-power ridge baseline use the same folds (`data.split_seed` picks them), so rows compare.
Results come from each CV run's summary.json and its folds' summaries, printed as one markdown
table; with --out the table and the raw summaries are written there too.

    python benchmarks/eeg.py --device cuda --groups baselines zoo readouts      # named groups of variants
    python benchmarks/eeg.py --device cuda --variant lw=eeg_sparse_lightweight:model.readout=latency
    python benchmarks/eeg.py --device cuda --groups readouts --jobs 6 --set data.preset=realistic

`--jobs N` runs N CV processes at once (several small models share one GPU well); their
timings then describe a shared machine, and the table says so.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from train_process import write_report

LW = "eeg_sparse_lightweight"
ZOO = ["EEGNetv4", "ShallowFBCSPNet", "Deep4Net", "EEGConformer", "ATCNet", "CTNet"]


def train_overrides(recipe: str) -> list[str]:
    """The ``train:`` section of built-in ``recipe`` as written there, as overrides for another recipe."""
    import yaml

    from attn.recipe import builtin_recipes

    train = yaml.safe_load(builtin_recipes()[recipe].read_text(encoding="utf-8"))["train"]
    return [f"train.{key}={value}" for key, value in train.items()]


LATENCY_TRAIN = train_overrides("eeg_latency")  # what eeg_latency changes in the shared EEG training
PEER_TRAIN = [o for o in LATENCY_TRAIN if not o.startswith("train.lr=")]  # the same, at the peer's own learning rate

# name -> (recipe, overrides)
GROUPS: dict[str, dict[str, tuple[str, list[str]]]] = {
    "baselines": {"eeg-cnn": ("eeg_cnn", []), "EEGNeX": ("eeg_eegnex", [])},
    "zoo": {arch: ("eeg_eegnex", [f"model.arch={arch}", "model.kwargs={}"]) for arch in ZOO},
    "seed": {
        "lightweight (seed: mean, no positions)": (LW, ["model.positional_encoding=none"]),
        "improved (shipped)": ("eeg_sparse_improved", []),
    },
    "readouts": {
        f"lightweight readout={r} normalize={n}": (LW, [f"model.readout={r}", f"data.normalize={n}"])
        for r in ("mean", "attention", "latency")
        for n in ("none", "window", "robust")
    },
    "seeds": {f"lightweight seed={seed}": (LW, [f"train.seed={seed}"]) for seed in range(1, 6)},
    "latency": {
        "eeg-latency (shipped)": ("eeg_latency", []),
        "eeg-latency without edge slots": ("eeg_latency", ["model.edge_slots=false"]),
        "eeg-latency without the time shift": ("eeg_latency", ["train.time_shift_s=0"]),
        "eeg-latency with 8 spatial filters": ("eeg_latency", ["model.spatial_filters=8"]),
        "eeg-latency with 4 heads": ("eeg_latency", ["model.heads=4"]),
    },
    "latency_seeds": {f"eeg-latency seed={seed}": ("eeg_latency", [f"train.seed={seed}"]) for seed in range(1, 6)},
    # the peers under eeg_latency's training settings (its epochs, warm-up, weight average and time shift) at the
    # peer recipe's own learning rate: a fair rematch
    "peers_latency_train": {
        name: ("eeg_eegnex", [*overrides, *PEER_TRAIN])
        for name, overrides in [("EEGNeX", []), ("EEGConformer", ["model.arch=EEGConformer", "model.kwargs={}"])]
    },
    "lightweight_latency_train": {"lightweight": (LW, PEER_TRAIN)},
    # data.normalize=whiten (issue #12, 2026-12-05): eeg_latency and the sparse CNN on whitened windows
    "whiten": {
        "eeg-latency whitened": ("eeg_latency", ["data.normalize=whiten"]),
        "eeg-latency whitened, dropout 0.5": ("eeg_latency", ["data.normalize=whiten", "model.dropout=0.5"]),
        "lightweight whitened": (LW, ["data.normalize=whiten"]),
    },
    "timeshift": {
        f"lightweight readout={r} time_shift_s={t}": (LW, [f"model.readout={r}", f"train.time_shift_s={t}"])
        for r in ("mean", "latency")
        for t in (0.1, 0.25)
    },
    "augmentation": {
        f"lightweight augmentation={a}": (LW, [f"train.augmentation={a}"]) for a in ("none", "fixed", "adaptive")
    },
}


def parse_variant(text: str) -> tuple[str, tuple[str, list[str]]]:
    """``NAME=RECIPE[:override,override...]``."""
    name, _, rest = text.partition("=")
    recipe, _, overrides = rest.partition(":")
    if not name or not recipe:
        raise SystemExit(f"--variant must look like NAME=RECIPE[:key=value,...] (got {text!r})")
    return name, (recipe, [o for o in overrides.split(",") if o])


def run_cv(name: str, recipe: str, overrides: list[str], args: argparse.Namespace, index: int) -> dict:
    """One CV process; its summary, each fold's summary and the wall time measured from outside."""
    runs = args.workdir / f"{index:02d}"
    command = [sys.executable, "-m", "attn", "train", recipe, f"train.folds={args.folds}", *overrides, *args.overrides]
    command += ["--device", args.device, "--runs-dir", str(runs), "--quiet"]
    start = time.perf_counter()
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout)
        error = proc.stderr or proc.stdout if proc.returncode else ""
    except subprocess.TimeoutExpired:
        error = f"timed out after {args.timeout} s"
    wall = time.perf_counter() - start
    summaries = sorted(runs.glob("*/*/summary.json"))
    if error or not summaries:
        return {"name": name, "error": error[-2000:] or "no summary", "command": " ".join(command), **done_folds(runs)}
    summary = json.loads(summaries[0].read_text())
    folds = [json.loads(p.read_text()) for p in sorted(summaries[0].parent.glob("fold-*/summary.json"))]
    return {"name": name, "command": " ".join(command), "outside_wall_s": wall, "summary": summary, "folds": folds}


def done_folds(runs: Path) -> dict:
    """The test NRMSE of each fold a stopped CV process finished (fold -> score), to report what a timeout left."""
    scores = {}
    for path in sorted(runs.glob("*/*/fold-*/summary.json")):
        score = json.loads(path.read_text()).get("best_checkpoint_eval", {}).get("test_nrmse")
        if score is not None:
            scores[int(path.parent.name.removeprefix("fold-"))] = score
    return {"done_folds": scores} if scores else {}


def ridge_row(args: argparse.Namespace) -> dict:
    """Ridge on band power, on the very folds of the CV runs (fitted on each fold's training + validation subjects)."""
    import numpy as np

    from attn.datasets.eeg import fold_splits, load_eeg_dataset
    from attn.datasets.eeg.features import band_power_features, fit_ridge
    from attn.metrics import nrmse
    from attn.recipe import load_recipe

    recipe = load_recipe(LW, args.overrides)
    data = recipe.data
    dataset = load_eeg_dataset(data)
    features = band_power_features(dataset.X, sfreq=float(dataset.info.get("sfreq", 100.0)))
    y = np.asarray(dataset.y, dtype=np.float64)
    subjects = np.asarray(dataset.subjects).astype(str)
    scores, y_all, p_all = [], [], []
    for fold in fold_splits(dataset, args.folds, data.val_fraction, data.split_seed):
        rest = np.concatenate([fold["train"], fold["val"]])
        ridge = fit_ridge(features[rest], y[rest], groups=subjects[rest])
        pred = ridge.predict(features[fold["test"]])
        scores.append(nrmse(y[fold["test"]], pred))
        y_all.append(y[fold["test"]])
        p_all.append(pred)
    return {
        "name": "ridge on band power",
        "ridge": True,
        "mean": float(np.mean(scores)),
        "sd": float(np.std(scores, ddof=1)),
        "pooled": nrmse(np.concatenate(y_all), np.concatenate(p_all)),
    }


def ensemble_rows(results: list[dict]) -> list[dict]:
    """One row per model run with several seeds (variants named ``MODEL seed=N``): their mean prediction."""
    models: dict[str, list[dict]] = {}
    for r in results:
        if " seed=" in r["name"] and "summary" in r:
            models.setdefault(r["name"].split(" seed=")[0], []).append(r)
    return [ensemble_row(model, members) for model, members in models.items() if len(members) >= 2]


def ensemble_row(model: str, members: list[dict]) -> dict:
    """The mean prediction of ``members`` (the same folds, other seeds), scored per fold and pooled."""
    import numpy as np

    from attn.metrics import nrmse

    scores, y_all, p_all = [], [], []
    for k in range(len(members[0]["summary"]["per_fold"])):
        tables = [
            np.genfromtxt(
                Path(m["summary"]["per_fold"][k]["run_dir"]) / "predictions_test.csv",
                delimiter=",",
                names=True,
                dtype=None,
                encoding="utf-8",
            )
            for m in members
        ]
        y_true = tables[0]["y_true"]
        pred = np.mean([t["y_pred"] for t in tables], axis=0)
        scores.append(nrmse(y_true, pred))
        y_all.append(y_true)
        p_all.append(pred)
    name = f"ensemble: mean of {len(members)} {model} seeds"
    return {
        "name": name,
        "ridge": True,
        "mean": float(np.mean(scores)),
        "sd": float(np.std(scores, ddof=1)),
        "pooled": nrmse(np.concatenate(y_all), np.concatenate(p_all)),
    }


def row(result: dict, shared: bool) -> str:
    if result.get("ridge"):
        return (
            f"| {result['name']} | - | - | {result['mean']:.3f} ± {result['sd']:.3f} | {result['pooled']:.3f} | | | | |"
        )
    if "error" in result:
        lines = result["error"].strip().splitlines()
        done = ", ".join(f"fold {k}: {v:.3f}" for k, v in result.get("done_folds", {}).items())
        finished = f"; finished before that: {done}" if done else ""
        return f"| {result['name']} | failed: {(lines[-1] if lines else 'failed')[:120]}{finished} | | | | | | | |"
    s, folds = result["summary"], result["folds"]
    win_per_s = statistics.median(f["win_per_s"] or 0.0 for f in folds)
    train_s = sum(f["train_time_s"] for f in folds)
    best_epochs = statistics.median((f["best"]["step"] or 0) / max(f["steps"], 1) for f in folds)
    note = " (shared)" if shared else ""
    return (
        f"| {result['name']} | {folds[0]['parameters']:,} | {folds[0]['device'].split(',')[0]} | "
        f"{s['test_nrmse_mean']:.3f} ± {s['test_nrmse_sd']:.3f} | {s['test_nrmse_pooled']:.3f} | "
        f"{best_epochs:.2f} | {win_per_s:,.0f}{note} | {train_s:.1f} s | {result['outside_wall_s']:.1f} s{note} |"
    )


HEADER = (
    "| model | parameters | device | test NRMSE (mean ± sd over folds) | pooled | best checkpoint "
    "(fraction of the run, median fold) | train windows/s (median fold) | training time (all folds) | "
    "process wall |\n|---|---:|---|---:|---:|---:|---:|---:|---:|"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--groups", nargs="*", default=[], choices=sorted(GROUPS), help="named groups of variants")
    parser.add_argument("--variant", action="append", default=[], help="NAME=RECIPE[:key=value,...] (repeatable)")
    parser.add_argument("--ridge", action="store_true", help="add the band-power ridge row on the same folds")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--jobs", type=int, default=1, help="CV processes at once (timings then shared)")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], help="an override for every variant (repeatable)"
    )
    parser.add_argument("--workdir", type=Path, default=Path("runs/bench-eeg"))
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per variant")
    parser.add_argument("--out", type=Path, help="write table.md and table.json (the raw results) here")
    args = parser.parse_args()

    variants: dict[str, tuple[str, list[str]]] = {}
    for group in args.groups:
        variants.update(GROUPS[group])
    variants.update(parse_variant(v) for v in args.variant)
    if not variants and not args.ridge:
        parser.error("nothing to run: give --groups, --variant or --ridge")
    print(
        f"{len(variants)} variants, {args.folds} folds, {args.jobs} at a time; overrides {args.overrides}", flush=True
    )
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = [
            pool.submit(run_cv, name, recipe, overrides, args, i)
            for i, (name, (recipe, overrides)) in enumerate(variants.items())
        ]
        results = []
        for future in futures:
            results.append(future.result())
            print(row(results[-1], args.jobs > 1), flush=True)
    results += ensemble_rows(results)
    if args.ridge:
        results.append(ridge_row(args))
    table = "\n".join([HEADER, *(row(r, args.jobs > 1) for r in results)])
    ok = [r for r in results if "summary" in r]
    if ok:
        s = ok[0]["summary"]
        table += (
            f"\n\nmean predictor {s['test_mean_predictor_nrmse_mean']:.3f}; oracle floor "
            f"{s.get('test_oracle_floor_mean') or float('nan'):.3f} (mean over folds); overrides {args.overrides}"
        )
    print("\n" + table, flush=True)
    if args.out:
        write_report(args.out, "table", table, results)


if __name__ == "__main__":
    main()
