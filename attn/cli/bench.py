"""`attn bench`: side-by-side comparisons written to runs/bench-<what>/<timestamp>/ (see docs/bench.md).

Progress, tables and warnings go to stderr; stdout gets the bench directory alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from attn.cli.app import app, user_errors
from attn.cli.output import err_console, plain, print_result
from attn.errors import UserError

bench_app = typer.Typer(help="Side-by-side benchmarks: attention vs its baselines.", no_args_is_help=True)
vs_app = typer.Typer(
    help="Train an attention model and a baseline on the same data and budget, and compare.", no_args_is_help=True
)
app.add_typer(bench_app, name="bench")
bench_app.add_typer(vs_app, name="vs")

_RECIPE_OVERRIDES = typer.Option(
    None,
    "--set",
    help="A recipe override for every side, applied after --budget-s/--steps, e.g. --set train.eval_interval=100 (repeatable).",
)
_DEVICE = typer.Option(None, "--device", help="auto, cpu, cuda, cuda:N or mps (default auto).")
_RUNS_DIR = typer.Option(None, "--runs-dir", help="Where bench directories go. Default: $ATTN_RUNS_DIR or ./runs.")
_BUDGET_S = typer.Option(None, "--budget-s", help="Training wall-time budget per side in seconds (train.max_time_s).")
_STEPS = typer.Option(None, "--steps", help="Optimizer steps per side instead of a time budget.")
_QUIET = typer.Option(
    False, "--quiet", "-q", help="No training progress from the sides (the final tables still print)."
)


def _command(*words: str, **options: object) -> str:
    from attn.bench.report import command_line

    return command_line("attn", "bench", *words, options=options)


@vs_app.command("lstm")
@user_errors
def vs_lstm(
    recipe: Optional[str] = typer.Option(
        None,
        "--recipe",
        help="A char-transformer recipe (file or built-in name). "
        "Default: shakespeare_char_modern, or shakespeare_char_cpu when the device is the CPU.",
    ),
    budget_s: Optional[float] = _BUDGET_S,
    steps: Optional[int] = _STEPS,
    device: Optional[str] = _DEVICE,
    runs_dir: Optional[Path] = _RUNS_DIR,
    overrides: Optional[list[str]] = _RECIPE_OVERRIDES,
    lstm_lr: Optional[float] = typer.Option(
        None,
        "--lstm-lr",
        help="The LSTM's learning rate (default: the recipe's row of the sweep table, docs/bench.md).",
    ),
    lstm_dropout: Optional[float] = typer.Option(
        None, "--lstm-dropout", help="The LSTM's dropout (default: the recipe's row of the sweep table, docs/bench.md)."
    ),
    gen_chars: int = typer.Option(500, "--gen-chars", min=1, help="Characters per timed generation run."),
    repeats: int = typer.Option(10, "--repeats", min=1, help="Timed passes in the one-layer comparison (median)."),
    quiet: bool = _QUIET,
) -> None:
    """Character transformer vs an LSTM of the same parameter count: loss, speed, memory.

    Examples:\n
      attn bench vs lstm --device cpu --budget-s 120\n
      attn bench vs lstm --device cuda --budget-s 300
    """
    from attn.bench.vs_lstm import LSTMBenchOptions, run_lstm_bench

    command = _command(
        "vs",
        "lstm",
        recipe=recipe,
        budget_s=budget_s,
        steps=steps,
        device=device,
        runs_dir=runs_dir,
        set=overrides,
        lstm_lr=lstm_lr,
        lstm_dropout=lstm_dropout,
        gen_chars=gen_chars,
        repeats=repeats,
    )
    opts = LSTMBenchOptions(
        recipe=recipe,
        device=device,
        budget_s=budget_s,
        steps=steps,
        overrides=list(overrides or []),
        lstm_lr=lstm_lr,
        lstm_dropout=lstm_dropout,
        runs_dir=str(runs_dir) if runs_dir else None,
        quiet=quiet,
        generation_chars=gen_chars,
        layer_repeats=repeats,
        command=command,
    )
    bench_dir, _ = run_lstm_bench(opts, err_console)
    print_result(str(bench_dir))


@vs_app.command("cnn")
@user_errors
def vs_cnn(
    recipe: Optional[str] = typer.Option(
        None,
        "--recipe",
        help="An EEG attention recipe (file or built-in name). Default: eeg_latency.",
    ),
    budget_s: Optional[float] = _BUDGET_S,
    steps: Optional[int] = _STEPS,
    device: Optional[str] = _DEVICE,
    runs_dir: Optional[Path] = _RUNS_DIR,
    overrides: Optional[list[str]] = _RECIPE_OVERRIDES,
    peers: Optional[str] = typer.Option(
        None,
        "--peers",
        help="Comma-separated braindecode models to train beside the baselines, e.g. "
        "EEGNetv4,ShallowFBCSPNet,Deep4Net,EEGConformer,ATCNet,CTNet ('zoo' for these six; needs the braindecode extra).",
    ),
    quiet: bool = _QUIET,
) -> None:
    """EEG attention model vs eeg-cnn (and eeg-eegnex with braindecode) on one subject split: NRMSE, speed, memory.

    Without --budget-s or --steps every side trains for the recipe's epochs.

    Example: attn bench vs cnn --device cpu
    """
    from attn.bench.vs_cnn import ZOO_PEERS, CNNBenchOptions, run_cnn_bench

    command = _command(
        "vs",
        "cnn",
        recipe=recipe,
        budget_s=budget_s,
        steps=steps,
        device=device,
        runs_dir=runs_dir,
        set=overrides,
        peers=peers,
    )
    names = [p.strip() for p in (peers or "").split(",") if p.strip()]
    opts = CNNBenchOptions(
        peers=list(ZOO_PEERS) if names == ["zoo"] else names,
        recipe=recipe,
        device=device,
        budget_s=budget_s,
        steps=steps,
        overrides=list(overrides or []),
        runs_dir=str(runs_dir) if runs_dir else None,
        quiet=quiet,
        command=command,
    )
    bench_dir, _ = run_cnn_bench(opts, err_console)
    print_result(str(bench_dir))


@bench_app.command("attention")
@user_errors
def attention(
    device: Optional[str] = typer.Option(None, "--device", help="cpu, cuda or cuda:N (default: cuda when available)."),
    lengths: str = typer.Option("128,256,512,1024,2048,4096", "--lengths", help="Comma-separated sequence lengths."),
    methods: str = typer.Option(
        "manual,sdpa,sparse,torch_mha",
        "--methods",
        help="Comma-separated subset of manual, sdpa, sparse, torch_mha, lstm.",
    ),
    d_model: int = typer.Option(256, "--d-model", help="Model width."),
    batch: int = typer.Option(4, "--batch", help="Batch size."),
    heads: int = typer.Option(8, "--heads", help="Attention heads (dense methods)."),
    repeats: int = typer.Option(
        10, "--repeats", help="Timed passes per point (median, min and max are reported; more repeats, less noise)."
    ),
    warmup: int = typer.Option(2, "--warmup", help="Untimed passes before timing."),
    dtype: str = typer.Option("float32", "--dtype", help="float32, bfloat16 or float16."),
    causal: bool = typer.Option(False, "--causal", help="Causal masking for the dense methods."),
    runs_dir: Optional[Path] = _RUNS_DIR,
) -> None:
    """Attention implementations across sequence lengths: forward+backward time, memory, scaling exponent.

    Every time is the median of --repeats passes with its min and max; noisy cells (marked !) and a
    busy machine (load average) are warned about, and exponents are fitted only where time grows.

    Example: attn bench attention --device cuda --lengths 256,512,1024,2048,4096,8192
    """
    import torch

    from attn.bench.attention import (
        TABLES,
        AttentionSettings,
        progress_to_stderr,
        run_attention_bench,
        table_rows,
        write_attention_report,
    )
    from attn.bench.report import bench_environment, create_bench_dir, rich_table
    from attn.training.device import resolve_device

    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = str(resolve_device(device))  # a bad name is one error line
    try:
        length_list = [int(n) for n in lengths.split(",") if n.strip()]
    except ValueError:
        raise UserError(f"--lengths must be comma-separated integers (got {lengths!r})") from None
    settings = AttentionSettings(
        device=device,
        lengths=length_list,
        d_model=d_model,
        batch=batch,
        heads=heads,
        repeats=repeats,
        warmup=warmup,
        dtype=dtype,
        causal=causal,
        methods=[m.strip() for m in methods.split(",") if m.strip()],
    )
    try:
        settings.validate()
    except ValueError as err:
        raise UserError(str(err)) from None
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device '{device}' was asked for but CUDA is not available; use --device cpu")
    sizes = ("d_model", "batch", "heads", "repeats", "warmup", "dtype", "causal")
    command = _command(
        "attention",
        device=device,
        lengths=lengths,
        methods=methods,
        runs_dir=runs_dir,
        **{name: getattr(settings, name) for name in sizes},
    )
    from attn.bench.attention import DTYPES, estimated_bytes, memory_budget
    from attn.fileio import format_bytes

    elem = torch.empty((), dtype=DTYPES[settings.dtype]).element_size()
    budget = memory_budget(device)
    needs = {
        m: estimated_bytes(m, settings.batch, settings.heads, min(settings.lengths), settings.d_model, elem, device)
        for m in settings.methods
    }
    if all(need > budget for need in needs.values()):  # nothing could be measured: say so before making a folder
        raise UserError(
            f"no method fits in this device's memory even at N={min(settings.lengths)}: the smallest needs about "
            f"{format_bytes(min(needs.values()))} and the budget is {format_bytes(budget)}; use shorter --lengths"
        )
    out = create_bench_dir("attention", runs_dir)
    report = run_attention_bench(
        settings, bench_environment(torch.device(device), command), progress=progress_to_stderr
    )
    write_attention_report(report, out)
    for key, title, exponent_key in TABLES:
        if key == "peak_mib" and not device.startswith("cuda"):
            continue
        err_console.print(rich_table(title, ["N", *settings.methods], table_rows(report, key, exponent_key)))
    for warning in report["warnings"]:
        err_console.print(plain(f"warning: {warning}"), style="yellow")
    err_console.print(plain(f"report: {out / 'report.md'}"))
    print_result(str(out))
