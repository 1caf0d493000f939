"""The loss curve: a validation loss shares the training loss's axis; any other metric (EEG NRMSE) gets its own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import attn.training.plots as plots
from tests.helpers import eeg_recipe, only_run_dir, read_records, run_cli, write_recipe


def loss_curve_axes(monkeypatch: pytest.MonkeyPatch, args: list[Any]) -> tuple[list[Any], Path]:
    figures: dict[str, Any] = {}
    original = plots.save_figure

    def keep(fig: Any, path: Path) -> Path:
        figures[Path(path).name] = fig
        return original(fig, path)

    monkeypatch.setattr(plots, "save_figure", keep)
    result = run_cli("train", *args, "-q")
    assert result.exit_code == 0, result.output
    return figures["loss_curve.png"].axes, only_run_dir(Path(args[-1]))


def lines(ax: Any) -> dict[str, list[tuple[float, float]]]:
    return {
        line.get_label(): list(zip(*line.get_data())) for line in ax.get_lines() if not line.get_label().startswith("_")
    }


def test_eeg_loss_curve_has_the_training_loss_and_the_metric_on_separate_axes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    axes, run = loss_curve_axes(monkeypatch, [write_recipe(tmp_path, eeg_recipe()), "--runs-dir", tmp_path / "runs"])
    train_ax, metric_ax = axes
    assert train_ax.get_ylabel() == "training loss" and metric_ax.get_ylabel() == "val_nrmse"
    assert metric_ax.get_xlabel() == "step"
    train = [(r["step"], r["train_loss"]) for r in read_records(run, "train")]
    evals = [(r["step"], r["val_nrmse"]) for r in read_records(run, "eval")]
    assert lines(train_ax) == {"training loss": train}
    assert lines(metric_ax) == {"val nrmse": evals}


def test_text_loss_curve_shares_one_loss_axis(
    tmp_path: Path, recipe_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    axes, run = loss_curve_axes(monkeypatch, [recipe_file, "--runs-dir", tmp_path / "runs"])
    (ax,) = axes
    assert ax.get_ylabel() == "loss"
    assert set(lines(ax)) == {"training loss", "val loss"}
    assert lines(ax)["val loss"] == [(r["step"], r["val_loss"]) for r in read_records(run, "eval")]
