"""`attn bench vs lstm`: a character transformer against an LSTM of the same parameter count.

Both sides train on the same data and split, with the same block size, batch size, seed and
budget, one after the other, each in its own process (see :mod:`attn.bench.worker`). The LSTM
recipe is derived from the transformer recipe: its model section is replaced by a 2-layer
``char-lstm`` with ``d_embed = d_model`` and the hidden size solved to match the transformer's
parameter count (:mod:`attn.bench.sizing`).

Each side runs at its own best settings, and both get every trainer feature the recipe turns on.
The transformer runs its recipe as given. The LSTM's learning rate and dropout come from the
sweep table :data:`TUNED_LSTM` (``benchmarks/lstm_sweep.py``, docs/bench.md); its minimum
learning rate keeps the transformer's ``min_lr / lr`` ratio. Its optimizer is AdamW even when
the transformer's is Muon: Muon is for the weight matrices of repeated blocks, which the LSTM
lacks (the trainer would fall back to AdamW anyway), and the LSTM's learning rate was swept with
AdamW. Everything else in the train section is shared: schedule, warmup, weight decay,
clipping, the average of the weights (``ema_decay``), gradient accumulation, precision, compile.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.table import Table

from attn.bench import sides
from attn.bench.compare import BenchOptions, Comparison, Trained, run_comparison
from attn.bench.layers import layer_comparison
from attn.bench.report import bench_environment, describe_machine, fmt, markdown_table, rich_table
from attn.bench.sizing import LSTMSize, count_model_parameters, size_lstm_like
from attn.errors import RecipeError, UserError
from attn.recipe import Recipe, load_recipe, parse_recipe

DEFAULT_GPU_RECIPE = "shakespeare_char_modern"  # the best attention recipe on a GPU (BENCHMARKS.md)
DEFAULT_CPU_RECIPE = "shakespeare_char_cpu"


@dataclass(frozen=True)
class LSTMSettings:
    """The LSTM's own settings for one transformer recipe, and where they come from."""

    lr: float
    dropout: float
    source: str


_GPU_PROBE = (
    "lr: 1e-3 / 2e-3 / 4e-3 at the bench's 60 s with shakespeare_char_modern's training on an H100 gave 1.4303 / "
    "1.4202 whole-split / 4e-3 cut short before its whole-split evaluation (best sampled 1.4247 / 1.4162 / 1.4146: "
    "2e-3 and 4e-3 tie); dropout: the best of 0.2 / 0.3 / 0.4 in the "
    "issue #11 H200 probe (whole-split val loss 1.4289 / 1.4223 / 1.3989, the last with EMA 0.998), and "
    "0.4 / 0.5 / 0.6 at the bench's 60 s with shakespeare_char_modern's training on an H100 gave 1.4202 / 1.4263 / "
    "1.4200 (benchmarks/lstm_sweep.py, 2026-12-05, docs/bench.md)"
)
# LSTM learning rate and dropout per transformer recipe (docs/bench.md has the sweeps).
TUNED_LSTM: dict[str, LSTMSettings] = {
    "shakespeare_char": LSTMSettings(2e-3, 0.4, _GPU_PROBE),
    "shakespeare_char_fast": LSTMSettings(2e-3, 0.4, _GPU_PROBE),
    "shakespeare_char_modern": LSTMSettings(2e-3, 0.4, _GPU_PROBE),
    "shakespeare_char_cpu": LSTMSettings(
        1.2e-2,
        0.0,
        "the best of dropout 0 / 0.1 x lr 5e-3 / 8e-3 / 1.2e-2 / 1.8e-2 / 2.4e-2 at 60 s of training on the 2-core "
        "CPU with the recipe's batch of 24 (benchmarks/lstm_sweep.py, 2026-12-05: whole-split 1.5845; at batch 12 "
        "dropout 0.2 / 0.3 / 0.4 only hurt it, 2026-12-02; docs/bench.md)",
    ),
}


@dataclass
class LSTMBenchOptions(BenchOptions):
    """What `attn bench vs lstm` was asked for."""

    lstm_lr: float | None = None  # None: from TUNED_LSTM
    lstm_dropout: float | None = None  # None: from TUNED_LSTM
    generation_chars: int = 500
    generation_repeats: int = 3
    layer_repeats: int = 10
    command: str = "attn bench vs lstm"


def default_recipe(device: torch.device) -> str:
    return DEFAULT_CPU_RECIPE if device.type == "cpu" else DEFAULT_GPU_RECIPE


def transformer_recipe(ref: str, overrides: list[str], budget: list[str]) -> Recipe:
    recipe = load_recipe(ref, [*budget, *overrides])
    if recipe.model_name != "char-transformer":
        raise RecipeError(f"attn bench vs lstm needs a char-transformer recipe (got model.name {recipe.model_name!r})")
    return recipe


def lstm_recipe(transformer: Recipe, vocab_size: int, lr: float, dropout: float) -> tuple[Recipe, LSTMSize]:
    """The LSTM side: the transformer recipe with a parameter-matched char-lstm, its own lr and dropout, AdamW."""
    target = count_model_parameters(transformer.model_name, transformer.model, vocab_size=vocab_size)
    try:
        size = size_lstm_like(target, vocab_size, transformer.model.d_model)
    except ValueError as err:
        raise RecipeError(f"cannot size an LSTM for this recipe: {err}") from None
    raw = transformer.to_dict()
    raw["name"] = f"{transformer.name}_lstm"
    raw["description"] = (
        f"char-lstm sized to {transformer.name} ({size.parameters:,} vs {target:,} parameters), "
        f"written by attn bench vs lstm"
    )
    raw["model"] = {
        "name": "char-lstm",
        "n_layer": size.n_layer,
        "d_embed": size.d_embed,
        "hidden_size": size.hidden_size,
        "block_size": transformer.model.block_size,
        "dropout": dropout,
    }
    raw["train"]["lr"] = lr
    raw["train"]["min_lr"] = transformer.train.min_lr * lr / transformer.train.lr
    raw["train"]["optimizer"] = "adamw"
    return parse_recipe(raw, raw["name"]), size


def lstm_tuning(transformer: Recipe, lr: float | None, dropout: float | None) -> dict[str, Any]:
    """The LSTM's learning rate and dropout, each with where it comes from."""
    tuned = TUNED_LSTM.get(transformer.name)
    untuned = f"no swept LSTM settings for recipe {transformer.name!r} (attn.bench.vs_lstm.TUNED_LSTM)"
    if lr is not None:
        lr_source = "--lstm-lr"
    elif tuned is not None:
        lr, lr_source = tuned.lr, f"the sweep table: {tuned.source}"
    else:
        lr, lr_source = transformer.train.lr, f"the transformer's lr ({untuned})"
    if lr <= 0:
        raise UserError(f"--lstm-lr must be > 0 (got {lr})")
    if dropout is not None:
        dropout_source = "--lstm-dropout"
    elif tuned is not None:
        dropout, dropout_source = tuned.dropout, "the sweep table (as for lr)"
    else:
        dropout, dropout_source = transformer.model.dropout, f"the transformer's model.dropout ({untuned})"
    if not 0 <= dropout < 1:
        raise UserError(f"--lstm-dropout must be in [0, 1) (got {dropout})")
    return {"lr": lr, "lr_source": lr_source, "dropout": dropout, "dropout_source": dropout_source}


class LSTMComparison(Comparison):
    """The transformer recipe against a parameter-matched LSTM with its own tuned settings."""

    name = "lstm"
    metric = "val_loss"

    def __init__(self, opts: LSTMBenchOptions):
        super().__init__(opts)
        self.opts: LSTMBenchOptions = opts

    def sides(self, device: torch.device, budget_keys: list[str]) -> list[sides.Side]:
        from attn.datasets.text import load_text_data

        opts = self.opts
        transformer = transformer_recipe(opts.recipe or default_recipe(device), opts.overrides, budget_keys)
        self.vocab_size = len(load_text_data(transformer.data, transformer.model.block_size).vocab)
        self.tuning = lstm_tuning(transformer, opts.lstm_lr, opts.lstm_dropout)
        lstm, self.size = lstm_recipe(transformer, self.vocab_size, self.tuning["lr"], self.tuning["dropout"])
        return [sides.Side("transformer", "transformer", transformer), sides.Side("lstm", "LSTM", lstm)]

    def generation(self) -> dict[str, Any]:
        chars = self.opts.generation_chars
        return {"chars": chars, "repeats": self.opts.generation_repeats, "warmup_chars": min(chars, 50)}

    def measure(self, trained: Trained) -> dict[str, Any]:
        return {"layers": layer_comparison(trained.device, repeats=self.opts.layer_repeats)}

    def report(self, trained: Trained, measured: dict[str, Any]) -> dict[str, Any]:
        return assemble_report(self.opts, trained, self.size, self.tuning, measured["layers"], self.vocab_size)

    def markdown(self, report: dict[str, Any]) -> str:
        return markdown(report)

    def tables(self, report: dict[str, Any]) -> list[Table]:
        labels = [m["label"] for m in report["models"].values()]
        return [
            rich_table("transformer vs LSTM", ["", *labels], model_rows(report)),
            rich_table("one layer, sequence 128, d_model 256, batch 4", LAYER_HEADERS, layer_rows(report)),
        ]

    def title(self, report: dict[str, Any]) -> str:
        return f"{report['settings']['transformer_recipe']}: transformer vs LSTM"

    def target(self, report: dict[str, Any]) -> float | None:
        return report["target_val_loss"]


def run_lstm_bench(opts: LSTMBenchOptions, console: Console) -> tuple[Path, dict[str, Any]]:
    """Train both sides, measure the layers, write the bench directory; (bench_dir, report)."""
    return run_comparison(LSTMComparison(opts), console)


def assemble_report(
    opts: LSTMBenchOptions,
    trained: Trained,
    size: LSTMSize,
    tuning: dict[str, Any],
    layers: dict[str, Any],
    vocab_size: int,
) -> dict[str, Any]:
    """report.json: settings, sizing, tuning, both sides' numbers and the layer comparison."""
    device, bench_dir, pair, run_dirs, budget = (
        trained.device,
        trained.bench_dir,
        trained.group,
        trained.run_dirs,
        trained.budget,
    )
    transformer = pair[0].recipe
    described = sides.describe_budget(budget, transformer)
    curves = {s.key: sides.eval_curve(run_dirs[s.key], "val_loss") for s in pair}
    bests = {key: min((p["value"] for p in curve), default=None) for key, curve in curves.items()}
    target = bests["lstm"]
    # the common quality: the worse of the two bests, which both sides reached, so their times to it compare
    common = None if None in bests.values() else max(bests.values())
    models = {}
    for side in pair:
        summary, info = sides.read_side(run_dirs[side.key])
        best = summary.get("best", {})
        full = summary.get("best_checkpoint_eval", {})
        models[side.key] = {
            "label": side.label,
            **sides.common_fields(run_dirs[side.key], bench_dir, summary, info, "tok", described, curves[side.key]),
            **sides.memory_fields(summary, info, device),
            "best_val_loss": best.get("val_loss"),
            "best_step": best.get("step"),
            "final_val_loss": summary.get("final", {}).get("val_loss"),
            "best_checkpoint_val_loss_full": full.get("val_loss") if full.get("full_split") else None,
            **sides.time_to_target(curves[side.key], target),
            "time_to_common": sides.time_to_target(curves[side.key], common),
            "generation_chars_per_s": info.get("generation", {}).get("chars_per_s"),
            "generation": info.get("generation"),
            "lr": side.recipe.train.lr,
            "min_lr": side.recipe.train.min_lr,
            "dropout": side.recipe.model.dropout,
            "settings": sides.training_settings(side.recipe, summary),
            "model_config": side.recipe.to_dict()["model"],
        }
    cfg = transformer.train
    return {
        "bench": "vs-lstm",
        "environment": bench_environment(device, opts.command),
        "settings": {
            "transformer_recipe": transformer.name,
            "lstm_recipe": pair[1].recipe.name,
            "device": str(device),
            "data": transformer.to_dict()["data"],
            "vocab_size": vocab_size,
            "block_size": transformer.model.block_size,
            "batch_size": cfg.batch_size,
            "seed": cfg.seed,
            "precision": cfg.precision,
            "compile": cfg.compile,
            "eval_interval": cfg.eval_interval,
            "eval_batches": cfg.eval_batches,
            "overrides": opts.overrides,
            "budget": described,
            "throughput_rule": sides.throughput_rule(models["transformer"].get("warmup_steps")),
            "order": "transformer first, then LSTM, each in its own process; nothing else alternates",
            "val_loss_rule": (
                "val loss during training: mean cross-entropy (nats/char) on the same fixed "
                f"{cfg.eval_batches} x {cfg.batch_size} validation windows for both sides; "
                "best_checkpoint_val_loss_full: the best checkpoint on the whole validation split"
            ),
            "time_to_target_rule": (
                "target = the LSTM's best validation loss during training; it was reached between the last "
                "evaluation above it and the first at or below it (trainer clock, elapsed_s, when the evaluated "
                "weights existed; no interpolation): the table shows that interval, so its resolution is one "
                "evaluation interval; 'first evaluation' means the target was already met at the first one"
            ),
            "common_quality_rule": (
                "common quality = the worse of the two sides' best validation losses during training, which both "
                "reached; the time each side took to reach it, measured as for the target"
            ),
        },
        "sizing": {
            "transformer_parameters": size.target,
            "lstm_parameters": size.parameters,
            "relative_difference": size.relative_difference,
            "n_layer": size.n_layer,
            "d_embed": size.d_embed,
            "hidden_size": size.hidden_size,
            "rule": "2-layer LSTM, d_embed = transformer d_model, hidden size solved so the parameter "
            "counts match (closest integer; within 10% required)",
        },
        "tuning": {
            "transformer": f"the recipe {transformer.name} as given (optimizer {transformer.train.optimizer}, "
            f"lr {transformer.train.lr:g}"
            + (f", muon_lr {transformer.train.muon_lr:g}" if transformer.train.optimizer == "muon" else "")
            + f", dropout {transformer.model.dropout:g}); not tuned by the bench",
            "lstm": {**tuning, "optimizer": LSTM_OPTIMIZER_RULE},
            "shared": "Every other train key is the transformer recipe's, so both sides get every trainer feature "
            "it turns on (schedule, warmup, weight decay, clipping, ema_decay, grad_accum_steps, precision, compile)",
        },
        "target_val_loss": target,
        "common_val_loss": common,
        "models": models,
        "layers": layers,
    }


LSTM_OPTIMIZER_RULE = (
    "AdamW, also when the transformer uses Muon: Muon is for the weight matrices of repeated blocks, which the "
    "LSTM has none of, and the LSTM's sweeps used AdamW"
)


def model_rows(report: dict[str, Any]) -> list[list[str]]:
    """The comparison table, one row per measurement."""
    models = list(report["models"].values())
    return [
        *sides.settings_rows(models),
        *sides.speed_and_memory_rows(models, "tok", "tokens"),
        sides.model_row(models, "best val loss (nats/char)", "best_val_loss", ".4f", step_key="best_step"),
        sides.model_row(models, "final val loss", "final_val_loss", ".4f"),
        sides.model_row(models, "best checkpoint, whole val split", "best_checkpoint_val_loss_full", ".4f"),
        [
            f"LSTM's best val loss {fmt(report['target_val_loss'], '.4f')} first reached between evaluations at (s)",
            *(sides.target_cell(m) for m in models),
        ],
        [
            f"common quality {fmt(report['common_val_loss'], '.4f')} (the worse best) first reached at (s)",
            *(sides.target_cell(m["time_to_common"]) for m in models),
        ],
        sides.model_row(models, "generation (chars/s)", "generation_chars_per_s", ",.1f"),
    ]


LAYER_HEADERS = ["layer", "parameters", "saved for backward (MiB)", "peak CUDA (MiB)", "fwd+bwd (ms, median)"]


def layer_rows(report: dict[str, Any]) -> list[list[str]]:
    return [
        [
            r["layer"],
            fmt(r["parameters"]),
            fmt(r["saved_activations_mib"], ".3f"),
            fmt(r["peak_mib"], ".3f"),
            fmt(r["time_ms"], ".3f"),
        ]
        for r in report["layers"]["results"].values()
    ]


def markdown(report: dict[str, Any]) -> str:
    env, settings, sizing, tuning = report["environment"], report["settings"], report["sizing"], report["tuning"]
    budget = settings["budget"]
    models = report["models"]
    lstm = tuning["lstm"]
    budget_text = sides.budget_text(budget)
    layer_settings = report["layers"]["settings"]
    lines = [
        f"# Transformer vs LSTM: {settings['transformer_recipe']}",
        "",
        f"- command: `{env['command']}` ({env['date']})",
        f"- machine: {describe_machine(env)}",
        f"- data: {', '.join(settings['data']['corpora'])} (val fraction {settings['data']['val_fraction']}), "
        f"vocabulary {settings['vocab_size']}; block {settings['block_size']}, batch {settings['batch_size']}, "
        f"seed {settings['seed']}; runtime: " + "; ".join(f"{m['label']} {m['runtime']}" for m in models.values()),
        f"- budget: {budget_text}, the same for both. {budget['rule']}",
        f"- {settings['throughput_rule']}",
        f"- sizing: {sizing['rule']}: hidden {sizing['hidden_size']}, {sizing['lstm_parameters']:,} vs "
        f"{sizing['transformer_parameters']:,} parameters ({100 * sizing['relative_difference']:+.2f}%)",
        f"- tuning: transformer: {tuning['transformer']}. LSTM: lr {lstm['lr']:g} ({lstm['lr_source']}), "
        f"dropout {lstm['dropout']:g} ({lstm['dropout_source']}); min_lr keeps the transformer's min_lr/lr ratio; "
        f"optimizer {lstm['optimizer']}. {tuning['shared']}.",
        f"- evaluation: {budget['evaluation']}",
        f"- {settings['val_loss_rule']}; {settings['time_to_target_rule']}; {settings['common_quality_rule']}",
        f"- {settings['order']}; run directories: " + ", ".join(f"`{m['run_dir']}`" for m in models.values()),
        "",
        markdown_table(["", *(m["label"] for m in models.values())], model_rows(report)),
        "",
        "![validation loss against wall time](val_loss_vs_time.png)",
        "",
        f"## One layer: sequence {layer_settings['length']}, d_model {layer_settings['d_model']}, "
        f"batch {layer_settings['batch']}, {layer_settings['dtype']}, training mode",
        "",
        f"{report['layers']['layers']}. Saved for backward: bytes of the tensors autograd keeps (saved-tensor hooks, parameters excluded). "
        f"Time: median of {layer_settings['repeats']} after {layer_settings['warmup']} warm-up passes.",
        "",
        markdown_table(LAYER_HEADERS, layer_rows(report)),
    ]
    return "\n".join(lines)
