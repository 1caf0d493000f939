"""`attn eval`: re-score a run from its checkpoint; optionally draw its attention maps.

Tables and notes go to stderr; stdout gets the paths of the files written (one per line), or the
result as JSON with ``--json``. The request is checked against the run (split, checkpoint,
attention maps, folds) before anything is evaluated or written.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from attn.cli.app import app, user_errors
from attn.cli.output import notes, plain, print_json, print_result
from attn.errors import UserError


@app.command("eval")
@user_errors
def evaluate(
    run_dir: Optional[Path] = typer.Argument(
        None,
        help="The run directory to evaluate, or a model file from attn export --format safetensors. Default: the newest run under the runs directory.",
        show_default=False,
    ),
    split: str = typer.Option(
        "val", "--split", help="val, or test (EEG runs, which hold out test subjects). Written to eval-<split>.json."
    ),
    checkpoint: str = typer.Option("best", "--checkpoint", help="best (lowest validation metric) or last."),
    sampled: bool = typer.Option(
        False, "--sampled", help="Text: score the recipe's eval_batches fixed windows instead of the whole split."
    ),
    fold: Optional[list[int]] = typer.Option(
        None, "--fold", help="Cross-validation runs: score only fold K (repeatable). Default: every fold, pooled."
    ),
    attention_maps: bool = typer.Option(
        False,
        "--attention-maps",
        help="Also draw attention. Text: PNG heat maps of every layer and head for --text (one per head and one per "
        "layer with all its heads), with entropy, sparsity and head diversity. EEG (model.readout attention or "
        "latency): the readout's weights over time for the split's first windows, with the true response time.",
    ),
    text: Optional[str] = typer.Option(
        None,
        "--text",
        help="The text whose attention maps are drawn (with --attention-maps); a longer text than the context "
        "keeps its end.",
    ),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N or mps."),
    runs_dir: Optional[Path] = typer.Option(
        None, "--runs-dir", help="Where to look for the newest run. Default: $ATTN_RUNS_DIR or ./runs."
    ),
    json_output: bool = typer.Option(False, "--json", help="Print the result as JSON on stdout."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No tables or notes on stderr (errors only)."),
) -> None:
    """Recompute a run's metrics from its checkpoint and write eval-<split>.json into the run directory.

    A cross-validation run scores every fold and writes the pooled result (mean ± sd over folds and
    the NRMSE over all held-out windows) beside cv.json.

    Examples:\n
      attn eval\n
      attn eval runs/eeg_sparse_lightweight/20261123-101500 --split test\n
      attn eval RUN_DIR --attention-maps --text "To be or not to be"\n
      attn eval EEG_RUN_DIR --split test --attention-maps
    """
    from attn.inference import load_trained
    from attn.inference.evaluate import check_request, evaluate_cross_validation, evaluate_trained, is_cross_validation
    from attn.training.rundir import latest_run, runs_root

    show = notes(quiet)
    if checkpoint not in ("best", "last"):
        raise UserError(f"--checkpoint must be best or last (got {checkpoint!r})")
    if text is not None and not attention_maps:
        raise UserError("--text is the text whose attention --attention-maps draws; add --attention-maps")
    run_dir = run_dir or latest_run(runs_root(runs_dir))
    if Path(run_dir).is_dir() and not os.access(run_dir, os.W_OK):  # before minutes of evaluation, not after
        raise UserError(f"eval writes eval-{split}.json into the run directory, and '{run_dir}' cannot be written")
    if is_cross_validation(run_dir):
        if attention_maps:
            raise UserError(
                f"--attention-maps draws the maps of one model; '{run_dir}' is a cross-validation run: "
                f"give one fold's directory (attn eval {Path(run_dir) / 'fold-0'} --attention-maps)"
            )
        result = evaluate_cross_validation(
            run_dir, split=split, checkpoint=checkpoint, device=device, full=not sampled, folds=fold
        )
        show(cross_validation_table(result))
        written = [f["file"] for f in result["folds"]] + ([result["file"]] if "file" in result else [])
        _finish(result, written, json_output)
        return
    if fold:
        raise UserError(f"--fold applies to cross-validation runs; '{run_dir}' is a single run")
    trained = load_trained(run_dir, checkpoint, "cpu")
    check_request(trained.recipe, split)
    if attention_maps and trained.recipe.family == "eeg":
        from attn.inference.readout_maps import check_readout_maps

        check_readout_maps(trained)
    elif attention_maps:
        from attn.inference.attention_maps import check_attention_maps

        if not text:
            raise UserError("--attention-maps needs --text TEXT (the characters whose attention is drawn)")
        check_attention_maps(trained)
    result = evaluate_trained(trained, run_dir, split=split, device=device, full=not sampled)
    result.pop("predictions", None)
    written = [result["file"]]
    show(eval_table(result))
    if attention_maps and trained.recipe.family == "eeg":
        from attn.inference.readout_maps import write_readout_maps

        files = write_readout_maps(trained, run_dir, split=split, device=device)
        show(plain(f"wrote the readout's weights over time to {files[0]}"))
        result["attention_maps"] = {"folder": str(files[0].parent), "files": [str(f) for f in files]}
        written += [str(f) for f in files]
    elif attention_maps:
        from attn.inference.attention_maps import write_attention_maps

        report = write_attention_maps(trained, run_dir, text or "")
        if report.dropped:
            show(
                plain(
                    f"note: --text has {len(text or '')} characters and the model's context is "
                    f"{len(text or '') - report.dropped}: the first {report.dropped} were left out"
                )
            )
        show(report.table)
        show(plain(f"wrote {len(report.files)} heat maps to {report.folder}"))
        result["attention_maps"] = {"folder": str(report.folder), "files": [str(f) for f in report.files]}
        written += [str(f) for f in report.files] + [str(report.folder / "stats.json")]
    _finish(result, written, json_output)


def _finish(result: dict[str, Any], written: list[str], json_output: bool) -> None:
    if json_output:
        print_json(result)
        return
    for path in written:
        print_result(path)


def eval_table(result: dict[str, Any]) -> Table:
    from attn.training.progress import summary_table

    rows: list[tuple[str, Any]] = [
        ("checkpoint", f"{result['checkpoint']} (step {result['step']})"),
        ("split", result["split"] + ("" if result["full_split"] else " (sampled windows)")),
    ]
    rows += list(result["metrics"].items())
    return summary_table(f"eval {result['run_dir']}", rows)


def cross_validation_table(result: dict[str, Any]) -> Table:
    """One row per fold, the mean ± sd, and the pooled NRMSE in the caption."""
    from attn.formatting import format_value

    split = result["split"]
    columns = [
        k
        for k in (f"{split}_nrmse", f"{split}_rmse", f"{split}_mean_predictor_nrmse", f"{split}_oracle_floor")
        if k in result["mean"]
    ]
    table = Table(title=plain(f"eval {result['run_dir']}: {split} split of each fold"), title_justify="left")
    for column in ("fold", "step", *columns):
        table.add_column(column, justify="right")
    for fold in result["folds"]:
        table.add_row(str(fold["fold"]), str(fold["step"]), *(format_value(fold["metrics"].get(k)) for k in columns))
    if len(result["folds"]) > 1:

        def mean_sd(key: str) -> str:
            sd = result["sd"][key]
            return format_value(result["mean"][key]) + (f" ± {format_value(sd)}" if sd is not None else "")

        table.add_row("mean ± sd", "", *(mean_sd(k) for k in columns))
    pooled = result["pooled"].get(f"{split}_nrmse")
    if pooled is not None:
        table.caption = plain(
            f"pooled {split} NRMSE over the {result['pooled']['windows']} windows of these folds: {format_value(pooled)}"
        )
        table.caption_justify = "left"
    return table
