"""PNG plots of a run (matplotlib's object API with the Agg canvas: no global state, no screen)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from attn.fileio import atomic_write_bytes


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
    records: list[dict[str, Any]], path: Path, *, title: str, metric: str = "val_loss", train_key: str = "train_loss"
) -> Path | None:
    """Training loss per logged step and the evaluation metric per evaluation, against steps."""
    train = [(r["step"], r[train_key]) for r in records if r.get("kind") == "train" and r.get(train_key) is not None]
    evals = [(r["step"], r[metric]) for r in records if r.get("kind") == "eval" and r.get(metric) is not None]
    if not train and not evals:
        return None
    fig = new_figure()
    ax = fig.add_subplot(1, 1, 1)
    if train:
        ax.plot(*zip(*train), label=train_key.replace("_", " "), color="tab:blue", alpha=0.8, linewidth=1)
    if evals:
        ax.plot(*zip(*evals), label=metric.replace("_", " "), color="tab:orange", marker="o", markersize=3)
        best_step, best = min(evals, key=lambda e: e[1])
        ax.axhline(best, color="tab:orange", linestyle=":", linewidth=1)
        ax.annotate(
            f"best {best:.4f} @ {best_step}", (best_step, best), textcoords="offset points", xytext=(5, 8), fontsize=8
        )
    ax.set_xlabel("step")
    ax.set_ylabel("loss" if metric.endswith("loss") else metric)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    return save_figure(fig, path)
