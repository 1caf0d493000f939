"""What an EEG run leaves behind besides its metrics: predictions, per-subject errors, plots, CV reports.

Every file is written atomically (:mod:`attn.fileio`). Numbers in
CSV files are written with Python's shortest round-trip ``repr``, so reading them back gives the
exact float64 values the metrics were computed from.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from attn.fileio import atomic_write_json, atomic_write_text
from attn.formatting import format_fixed
from attn.training.plots import new_figure, save_figure


def _csv_text(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def write_predictions(path: Path, subjects: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray) -> Path:
    """``subject,y_true,y_pred`` (seconds), one row per window in dataset order."""
    rows = [(str(s), repr(float(t)), repr(float(p))) for s, t, p in zip(subjects, y_true, y_pred)]
    atomic_write_text(path, _csv_text(("subject", "y_true", "y_pred"), rows))
    return Path(path)


def per_subject_errors(subjects: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray) -> list[dict[str, Any]]:
    """One row per subject (sorted by id): n, rmse, mae, mean_true, mean_pred (seconds)."""
    subjects = np.asarray(subjects).astype(str)
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    rows = []
    for subject in np.unique(subjects):
        mask = subjects == subject
        err = y_pred[mask] - y_true[mask]
        rows.append(
            {
                "subject": str(subject),
                "n": int(mask.sum()),
                "rmse": float(np.sqrt(np.mean(err**2))),
                "mae": float(np.mean(np.abs(err))),
                "mean_true": float(y_true[mask].mean()),
                "mean_pred": float(y_pred[mask].mean()),
            }
        )
    return rows


def write_per_subject(path: Path, rows: list[dict[str, Any]]) -> Path:
    header = ("subject", "n", "rmse", "mae", "mean_true", "mean_pred")
    body = [[r[k] if isinstance(r[k], (str, int)) else repr(r[k]) for k in header] for r in rows]
    atomic_write_text(path, _csv_text(header, body))
    return Path(path)


def plot_predictions(
    path: Path, panels: Mapping[str, tuple[np.ndarray, np.ndarray]], metrics: Mapping[str, Any], title: str
) -> Path | None:
    """Predicted against true response time, one panel per split, with the identity line."""
    if not panels:
        return None
    fig = new_figure(4.2 * len(panels), 4.2)
    for i, (split, (y_true, y_pred)) in enumerate(panels.items()):
        ax = fig.add_subplot(1, len(panels), i + 1)
        ax.scatter(y_true, y_pred, s=6, alpha=0.5, color="tab:blue", linewidths=0)
        lo = float(min(np.min(y_true), np.min(y_pred)))
        hi = float(max(np.max(y_true), np.max(y_pred)))
        ax.plot([lo, hi], [lo, hi], color="black", linewidth=1, linestyle="--", label="y = x")
        ax.axhline(float(np.mean(y_true)), color="tab:gray", linewidth=1, linestyle=":", label=f"{split} mean")
        facts = [
            f"NRMSE {metrics.get(f'{split}_nrmse', float('nan')):.3f}",
            f"mean predictor {metrics.get(f'{split}_mean_predictor_nrmse', float('nan')):.3f}",
        ]
        if metrics.get(f"{split}_oracle_floor") is not None:
            facts.append(f"oracle floor {metrics[f'{split}_oracle_floor']:.3f}")
        ax.set_title(f"{split} ({len(y_true)} windows)\n" + ", ".join(facts), fontsize=8)
        ax.set_xlabel("true response time (s)")
        ax.set_ylabel("predicted (s)")
        ax.set_aspect("equal", adjustable="datalim")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left")
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


def write_run_report(
    run_dir: Path,
    predictions: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    metrics: Mapping[str, Any],
    split_info: Mapping[str, Any],
) -> None:
    """The files of a finished EEG run, from ``{split: (subjects, y_true, y_pred)}``.

    ``predictions_{val,test}.csv`` (subject, y_true, y_pred per window), ``per_subject_test.csv``,
    ``predictions.png`` (scatter per split) and ``split.json`` (subjects and windows per split,
    target scaling).
    """
    for split, (subjects, y_true, y_pred) in predictions.items():
        write_predictions(run_dir / f"predictions_{split}.csv", subjects, y_true, y_pred)
        if split == "test":
            write_per_subject(run_dir / "per_subject_test.csv", per_subject_errors(subjects, y_true, y_pred))
    panels = {split: (y_true, y_pred) for split, (_, y_true, y_pred) in predictions.items()}
    plot_predictions(run_dir / "predictions.png", panels, metrics, title=run_dir.parent.name)
    atomic_write_json(run_dir / "split.json", dict(split_info))


# ---- cross-validation reports -----------------------------------------------------------------


def cv_markdown(summary: Mapping[str, Any]) -> str:
    """``cv_summary.md``: one row per fold and the mean ± sd line."""
    lines = [
        f"# {summary['recipe']}: {summary['folds']}-fold cross-validation by subject ({summary['model']})",
        "",
        f"Status: {summary['status']}. Each fold holds out its subjects as the test set; an inner validation",
        "split of the remaining subjects picks the best checkpoint, so the test numbers are held-out numbers.",
        "NRMSE = RMSE / population std of the held-out targets; *mean predictor* predicts the training mean",
        "(the held-out split's own mean would score 1.0 by construction); *oracle floor* is the Bayes",
        "predictor of the simulator (simulated data only).",
        "",
        "| fold | test subjects | windows | test NRMSE | mean predictor | oracle floor | best step |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for fold in summary["per_fold"]:
        lines.append(
            f"| {fold['fold']} | {len(fold['test_subjects'])} | {fold.get('n_test_windows', '-')} | "
            f"{format_fixed(fold.get('test_nrmse'))} | {format_fixed(fold.get('test_mean_predictor_nrmse'))} | "
            f"{format_fixed(fold.get('test_oracle_floor'))} | "
            f"{format_fixed(fold.get('best_step'))} |"
        )
    if summary.get("test_nrmse_mean") is not None:
        lines += [
            "",
            f"Test NRMSE over folds: **{summary['test_nrmse_mean']:.4f} ± {format_fixed(summary.get('test_nrmse_sd'), 4)}** "
            f"(mean ± sample sd, n = {len(summary['per_fold'])}); pooled over all held-out windows: "
            f"{format_fixed(summary.get('test_nrmse_pooled'), 4)}.",
        ]
        for key, label in (
            ("test_mean_predictor_nrmse_mean", "mean predictor"),
            ("test_oracle_floor_mean", "oracle floor"),
        ):
            if summary.get(key) is not None:
                lines.append(f"- {label}, mean over folds: {summary[key]:.4f}")
    lines += ["", f"Wall time: {summary.get('wall_time_s', 0.0):.1f} s.", ""]
    return "\n".join(lines)


def plot_cv_folds(path: Path, per_fold: list[dict[str, Any]], title: str) -> Path | None:
    """Bars of per-fold test NRMSE with the mean predictor and the oracle floor as markers."""
    done = [f for f in per_fold if f.get("test_nrmse") is not None]
    if not done:
        return None
    fig = new_figure(max(5.0, 0.9 * len(done) + 3), 4.0)
    ax = fig.add_subplot(1, 1, 1)
    x = np.arange(len(done))
    ax.bar(x, [f["test_nrmse"] for f in done], color="tab:blue", alpha=0.8, label="model (test)")
    for key, marker, color, label in (
        ("test_mean_predictor_nrmse", "_", "tab:red", "mean predictor"),
        ("test_oracle_floor", "_", "black", "oracle floor"),
    ):
        points = [(i, f[key]) for i, f in enumerate(done) if f.get(key) is not None]
        if points:
            ax.scatter(*zip(*points), marker=marker, s=400, color=color, linewidths=2, label=label, zorder=3)
    mean = float(np.mean([f["test_nrmse"] for f in done]))
    ax.axhline(mean, color="tab:blue", linestyle=":", linewidth=1, label=f"model mean {mean:.3f}")
    ax.set_xticks(x, [f"fold {f['fold']}" for f in done])
    ax.set_ylabel("test NRMSE")
    ax.set_ylim(0, max(1.1, max(f["test_nrmse"] for f in done) * 1.1))
    ax.set_title(title)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=7, loc="lower right")
    return save_figure(fig, path)
