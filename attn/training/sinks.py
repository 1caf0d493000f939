"""Where metric records go besides ``metrics.jsonl``: the one interface experiment trackers implement.

The trainer knows only :class:`MetricSink`; the trackers themselves (TensorBoard, W&B, MLflow,
CSV) live in :mod:`attn.loggers`, a layer above, and are built by :mod:`attn.runs` from the
recipe's ``train.loggers``.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class MetricSink(Protocol):
    """Receives every record the run appends to ``metrics.jsonl`` (rank 0 only), right after it is written.

    A record is ``{"kind": "train" | "eval", "step": int, <metric>: value, ...}``, exactly the
    JSON object of that line.
    """

    def log(self, record: dict[str, Any]) -> None: ...
