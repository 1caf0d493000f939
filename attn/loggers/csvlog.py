"""``csv``: ``metrics.csv`` in the run directory, one row per record, a column per key.

Columns are every key seen so far (train and eval records together; a record leaves the others'
cells empty). A record with a new key rewrites the file with the wider header; otherwise the
row is appended. A resumed run keeps the rows up to its checkpoint's step, as ``metrics.jsonl`` does.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from attn.fileio import atomic_write_text
from attn.loggers.base import TrackedRun, Tracker

FILE = "metrics.csv"


class CSVTracker(Tracker):
    name = "csv"

    def __init__(self, run: TrackedRun):
        super().__init__(run)
        self.path = Path(run.run_dir) / FILE
        self.rows: list[dict[str, str]] = []
        self.columns: list[str] = []
        if run.resume_step is not None and self.path.is_file():
            with open(self.path, newline="", encoding="utf-8") as handle:
                reader = csv.DictReader(handle)
                self.columns = list(reader.fieldnames or [])
                self.rows = [r for r in reader if _step(r) <= run.resume_step]
        self._rewrite()

    def log(self, record: dict[str, Any]) -> None:
        row = {key: _cell(value) for key, value in record.items()}
        self.rows.append(row)
        new = [key for key in row if key not in self.columns]
        if new:
            self.columns += new
            self._rewrite()
            return
        with open(self.path, "a", newline="", encoding="utf-8") as handle:
            csv.DictWriter(handle, self.columns).writerow(row)

    def finish(self, plots: list[Path], summary: dict[str, Any], status: str) -> None:
        """Nothing to add: the plots and summary.json are in the run directory already."""

    def _rewrite(self) -> None:
        buffer = io.StringIO(newline="")
        writer = csv.DictWriter(buffer, self.columns)
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write_text(self.path, buffer.getvalue())


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (str, int, float, bool)):
        return str(value)
    return json.dumps(value)


def _step(row: dict[str, str]) -> float:
    try:
        return float(row.get("step") or 0)
    except ValueError:
        return 0.0
