"""PNG plots of a run (matplotlib's object API with the Agg canvas: no global state, no screen)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from attn.fileio import atomic_write_bytes
from attn.formatting import format_value


def new_figure(width: float = 7.0, height: float = 4.5) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Any, path: Path) -> Path:
    """Render ``fig`` to PNG and write it atomically."""
    import io

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    atomic_write_bytes(Path(path), buffer.getvalue())
    return Path(path)


def plot_loss_curve(
    records: list[dict[str, Any]],
    path: Path,
    *,
    title: str,
    metric: str = "val_loss",
    train_key: str = "train_loss",
    train_label: str = "training loss",
) -> Path | None:
    """Training loss per logged step and the evaluation metric per evaluation, against steps.

    When the metric is a loss too (``val_loss``: the same quantity on held-out data) both share one
    axis; any other metric (``val_nrmse`` beside a training MSE) gets its own axis below, so that
    neither is read on the other's scale.
    """
    train = [(r["step"], r[train_key]) for r in records if r.get("kind") == "train" and r.get(train_key) is not None]
    evals = [(r["step"], r[metric]) for r in records if r.get("kind") == "eval" and r.get(metric) is not None]
    if not train and not evals:
        return None
    shared = metric.endswith("loss")
    fig = new_figure(7.0, 4.5 if shared else 6.0)
    if shared:
        train_ax = metric_ax = fig.add_subplot(1, 1, 1)
    else:
        train_ax = fig.add_subplot(2, 1, 1)
        metric_ax = fig.add_subplot(2, 1, 2, sharex=train_ax)
    if train:
        train_ax.plot(*zip(*train), label=train_label, color="tab:blue", alpha=0.8, linewidth=1)
    if evals:
        metric_ax.plot(*zip(*evals), label=metric.replace("_", " "), color="tab:orange", marker="o", markersize=3)
        best_step, best = min(evals, key=lambda e: e[1])
        metric_ax.axhline(best, color="tab:orange", linestyle=":", linewidth=1)
        metric_ax.annotate(
            f"best {format_value(best)} @ {best_step}",
            (best_step, best),
            textcoords="offset points",
            xytext=(5, 8),
            fontsize=8,
        )
    train_ax.set_title(title)
    if shared:
        train_ax.set_ylabel("loss")
    else:
        train_ax.set_ylabel(train_label)
        metric_ax.set_ylabel(metric)
    metric_ax.set_xlabel("step")
    for ax in {train_ax, metric_ax}:
        ax.grid(alpha=0.3)
        if ax.get_lines():
            ax.legend()
    return save_figure(fig, path)
