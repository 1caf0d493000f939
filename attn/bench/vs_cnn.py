"""`attn bench vs cnn`: an EEG attention model against the convolutional baselines.

The attention recipe (default ``eeg_latency``) is trained next to ``eeg-cnn`` and,
when braindecode is installed, ``eeg-eegnex``. Each baseline recipe is the attention recipe with
its model section replaced by the one of the built-in baseline recipe (``eeg_cnn``,
``eeg_eegnex``): the same data configuration, subject split, seed, batch size, optimizer
settings and budget. Every side trains in its own process (:mod:`attn.bench.worker`), one after
the other; afterwards the bench checks that all sides used the same subjects in each split.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from attn.bench import sides
from attn.bench.compare import BenchOptions, Comparison, Trained, run_comparison
from attn.bench.report import bench_environment, describe_machine, fmt, markdown_table, rich_table
from attn.errors import RecipeError
from attn.fileio import read_json
from attn.models.eegnex import braindecode_problem
from attn.recipe import Recipe, load_recipe, parse_recipe

DEFAULT_RECIPE = "eeg_latency"
# key -> (built-in recipe whose model section the baseline uses, label, check of what it needs or None)
BASELINES = {"cnn": ("eeg_cnn", "CNN", None), "eegnex": ("eeg_eegnex", "EEGNeX", braindecode_problem)}
BASELINE_MODELS = ("eeg-cnn", "eeg-eegnex", "eeg-braindecode")
# The braindecode zoo peers benchmarked beside EEGNeX (issue #12); `--peers` picks any braindecode model.
ZOO_PEERS = ("EEGNetv4", "ShallowFBCSPNet", "Deep4Net", "EEGConformer", "ATCNet", "CTNet")
BASELINE_KEYS = ("mean_predictor_nrmse", "oracle_floor", "ridge_nrmse")


@dataclass
class CNNBenchOptions(BenchOptions):
    """What `attn bench vs cnn` was asked for (``peers``: braindecode model names trained beside the baselines)."""

    peers: list[str] = field(default_factory=list)
    command: str = "attn bench vs cnn"


def attention_recipe(ref: str, overrides: list[str], budget: list[str]) -> Recipe:
    recipe = load_recipe(ref, [*budget, *overrides])
    if recipe.family != "eeg":
        raise RecipeError(
            f"attn bench vs cnn needs an EEG recipe (got a {recipe.family} recipe, model {recipe.model_name!r})"
        )
    if recipe.model_name in BASELINE_MODELS:
        raise RecipeError(f"attn bench vs cnn needs an attention model; {recipe.model_name!r} is one of the baselines")
    if recipe.train.folds != 1:
        raise RecipeError("attn bench vs cnn compares the sides on one subject split: use --set train.folds=1")
    return recipe


def baseline_recipe(attention: Recipe, key: str) -> Recipe:
    """The attention recipe with the model section of the built-in baseline recipe."""
    builtin, _, _ = BASELINES[key]
    raw = attention.to_dict()
    raw["name"] = builtin
    raw["description"] = (
        f"{builtin}'s model on {attention.name}'s data and training settings, written by attn bench vs cnn"
    )
    raw["model"] = load_recipe(builtin).to_dict()["model"]
    return parse_recipe(raw, builtin)


def peer_recipe(attention: Recipe, arch: str) -> Recipe:
    """The attention recipe with a braindecode model (its own default options) as the model."""
    raw = attention.to_dict()
    raw["name"] = f"eeg_braindecode_{arch.lower()}"
    raw["description"] = (
        f"braindecode's {arch} on {attention.name}'s data and training settings, written by attn bench vs cnn"
    )
    raw["model"] = {"name": "eeg-braindecode", "arch": arch}
    return parse_recipe(raw, raw["name"])


def available_baselines() -> tuple[list[str], dict[str, str]]:
    """Baseline keys that can run here, and a note for each one skipped."""
    keys, skipped = [], {}
    for key, (_, label, problem_of) in BASELINES.items():
        problem = problem_of() if problem_of is not None else None
        if problem is not None:
            skipped[key] = f"{label} skipped: {problem}"
        else:
            keys.append(key)
    return keys, skipped


class CNNComparison(Comparison):
    """An EEG attention recipe against the convolutional baselines on its own subject split."""

    name = "cnn"
    metric = "val_nrmse"

    def sides(self, device: torch.device, budget_keys: list[str]) -> list[sides.Side]:
        attention = attention_recipe(self.opts.recipe or DEFAULT_RECIPE, self.opts.overrides, budget_keys)
        keys, self.skipped = available_baselines()
        group = [sides.Side("attention", "attention", attention)]
        group += [sides.Side(key, BASELINES[key][1], baseline_recipe(attention, key)) for key in keys]
        if self.opts.peers:
            problem = braindecode_problem()
            if problem is not None:
                self.skipped["peers"] = f"peers {', '.join(self.opts.peers)} skipped: {problem}"
            else:
                group += [sides.Side(f"peer_{arch}", arch, peer_recipe(attention, arch)) for arch in self.opts.peers]
        return group

    def notes(self) -> list[str]:
        return list(self.skipped.values())

    def measure(self, trained: Trained) -> dict[str, Any]:
        return {"split": check_same_split(trained.run_dirs)}

    def report(self, trained: Trained, measured: dict[str, Any]) -> dict[str, Any]:
        return assemble_report(self.opts, trained, self.skipped)

    def markdown(self, report: dict[str, Any]) -> str:
        return markdown(report)

    def tables(self, report: dict[str, Any]) -> list[Table]:
        labels = [m["label"] for m in report["models"].values()]
        return [
            rich_table("attention vs CNN", ["", *labels], model_rows(report)),
            rich_table("baselines on the same split (NRMSE)", ["", "val", "test"], baseline_rows(report)),
        ]

    def title(self, report: dict[str, Any]) -> str:
        return f"{report['settings']['attention_recipe']}: attention vs convolutional baselines"


def run_cnn_bench(opts: CNNBenchOptions, console: Console) -> tuple[Path, dict[str, Any]]:
    """Train every side, check the splits, write the bench directory; (bench_dir, report)."""
    return run_comparison(CNNComparison(opts), console)


def check_same_split(run_dirs: dict[str, Path]) -> dict[str, list[str]]:
    """The subjects of each split, which every side must share (their split.json files)."""
    splits = {key: read_json(run / "split.json")["subjects"] for key, run in run_dirs.items()}
    first_key, first = next(iter(splits.items()))
    for key, split in splits.items():
        if split != first:
            raise RuntimeError(
                f"the {key} side trained on other subjects than the {first_key} side: "
                f"the comparison is not on one split"
            )
    return first


def assemble_report(opts: CNNBenchOptions, trained: Trained, skipped: dict[str, str]) -> dict[str, Any]:
    """report.json: settings, every side's numbers, the baselines of the shared split."""
    device, bench_dir, group, run_dirs, budget = (
        trained.device,
        trained.bench_dir,
        trained.group,
        trained.run_dirs,
        trained.budget,
    )
    attention = group[0].recipe
    described = sides.describe_budget(budget, attention)
    models = {}
    for side in group:
        summary, info = sides.read_side(run_dirs[side.key])
        final = summary.get("best_checkpoint_eval", {})
        best = summary.get("best", {})
        curve = sides.eval_curve(run_dirs[side.key], "val_nrmse")
        models[side.key] = {
            "label": side.label,
            **sides.common_fields(run_dirs[side.key], bench_dir, summary, info, "win", described, curve),
            **sides.memory_fields(summary, info, device),
            "best_val_nrmse_during_training": best.get("val_nrmse"),
            "best_step": best.get("step"),
            "final_val_nrmse": summary.get("final", {}).get("val_nrmse"),
            "val_nrmse": final.get("val_nrmse"),
            "test_nrmse": final.get("test_nrmse"),
            "val_r2": final.get("val_r2"),
            "test_r2": final.get("test_r2"),
            "settings": sides.training_settings(side.recipe, summary),
            "model_config": side.recipe.to_dict()["model"],
        }
    first = read_json(run_dirs[group[0].key] / "summary.json").get("best_checkpoint_eval", {})
    split = read_json(run_dirs[group[0].key] / "split.json")
    baselines = {f"{name}_{key}": first.get(f"{name}_{key}") for name in ("val", "test") for key in BASELINE_KEYS}
    baselines.update(ridge_on_split(attention, split["subjects"]))
    cfg = attention.train
    return {
        "bench": "vs-cnn",
        "environment": bench_environment(device, opts.command),
        "settings": {
            "attention_recipe": attention.name,
            "device": str(device),
            "data": attention.to_dict()["data"],
            "windows": split.get("windows"),
            "subjects_per_split": {k: len(v) for k, v in split["subjects"].items()},
            "same_split_verified": True,
            "batch_size": cfg.batch_size,
            "seed": cfg.seed,
            "lr": cfg.lr,
            "loss": cfg.loss,
            "overrides": opts.overrides,
            "budget": described,
            "throughput_rule": sides.throughput_rule(models["attention"].get("warmup_steps")),
            "order": ", then ".join(s.label for s in group) + ", each in its own process; nothing else alternates",
            "nrmse_rule": (
                "NRMSE = RMSE / population std of the split's targets; val_nrmse and test_nrmse are the best "
                "checkpoint (lowest val NRMSE during training) on the whole val and test splits"
            ),
        },
        "tuning": (
            "every side uses the attention recipe's train section (lr, schedule, weight decay, batch, epochs) "
            "unchanged; the baselines' model sections are those of the built-in eeg_cnn and eeg_eegnex recipes; "
            "nothing was tuned per model by the bench"
        ),
        "skipped": skipped,
        "baselines": baselines,
        "models": models,
    }


def ridge_on_split(recipe: Recipe, subjects: dict[str, list[str]]) -> dict[str, float]:
    """``{val,test}_ridge_nrmse``: ridge on band power fitted on the training subjects' windows.

    The classical baseline on the very split the models saw (its penalty is chosen by
    subject-grouped cross-validation inside the training split, so val is not used).
    """
    from attn.datasets.eeg import load_dataset_once, split_from_subjects
    from attn.datasets.eeg.features import band_power_features, fit_ridge
    from attn.metrics import nrmse

    dataset = load_dataset_once(recipe.data, progress=None)
    owner = np.asarray(dataset.subjects).astype(str)
    rows = split_from_subjects(dataset, subjects)
    features = band_power_features(dataset.X, sfreq=float(dataset.info.get("sfreq", 100.0)))
    y = np.asarray(dataset.y, dtype=np.float64)
    ridge = fit_ridge(features[rows["train"]], y[rows["train"]], groups=owner[rows["train"]])
    return {
        f"{name}_ridge_nrmse": nrmse(y[rows[name]], ridge.predict(features[rows[name]]))
        for name in ("val", "test")
        if len(rows[name])
    }


def model_rows(report: dict[str, Any]) -> list[list[str]]:
    models = list(report["models"].values())
    return [
        *sides.settings_rows(models),
        *sides.speed_and_memory_rows(models, "win", "windows"),
        sides.model_row(
            models, "best val NRMSE during training", "best_val_nrmse_during_training", ".4f", step_key="best_step"
        ),
        sides.model_row(models, "val NRMSE (best checkpoint)", "val_nrmse", ".4f"),
        sides.model_row(models, "test NRMSE (best checkpoint)", "test_nrmse", ".4f"),
    ]


def baseline_rows(report: dict[str, Any]) -> list[list[str]]:
    b = report["baselines"]
    labels = {
        "mean_predictor_nrmse": "mean predictor (training mean)",
        "oracle_floor": "oracle floor (simulator)",
        "ridge_nrmse": "band-power ridge (fitted on train)",
    }
    return [[label, fmt(b.get(f"val_{key}"), ".4f"), fmt(b.get(f"test_{key}"), ".4f")] for key, label in labels.items()]


def markdown(report: dict[str, Any]) -> str:
    env, settings = report["environment"], report["settings"]
    models = report["models"]
    data = settings["data"]
    budget = settings["budget"]
    lines = [
        f"# Attention vs CNN on EEG: {settings['attention_recipe']}",
        "",
        f"- command: `{env['command']}` ({env['date']})",
        f"- machine: {describe_machine(env)}",
        f"- data: {data['source']} (preset {data.get('preset')}, {data.get('n_subjects')} subjects, seed {data.get('seed')}); "
        f"subjects per split {settings['subjects_per_split']}, windows {settings['windows']} "
        f"(split seed {data.get('split_seed')}; the same subjects for every side, checked)",
        f"- batch {settings['batch_size']}, lr {settings['lr']:g}, loss {settings['loss']}, seed {settings['seed']}; runtime: "
        + "; ".join(f"{m['label']} {m['runtime']}" for m in models.values()),
        f"- budget: {sides.budget_text(budget)}, the same for every side. {budget['rule']}",
        f"- evaluation: {budget['evaluation']}",
        f"- {settings['throughput_rule']}",
        f"- tuning: {report['tuning']}",
        f"- {settings['nrmse_rule']}",
        f"- {settings['order']}; run directories: " + ", ".join(f"`{m['run_dir']}`" for m in models.values()),
        *(f"- {note}" for note in report["skipped"].values()),
        "",
        markdown_table(["", *(m["label"] for m in models.values())], model_rows(report)),
        "",
        "Baselines on the same split (NRMSE; the mean predictor uses the training-split mean):",
        "",
        markdown_table(["", "val", "test"], baseline_rows(report)),
        "",
        "![validation NRMSE against wall time](val_nrmse_vs_time.png)",
    ]
    return "\n".join(lines)
