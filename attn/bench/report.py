"""Bench output: the bench directory, its environment record, report.json/report.md and tables."""

from __future__ import annotations

import datetime as dt
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from rich.table import Table
from rich.text import Text

from attn.fileio import atomic_write_json, atomic_write_text
from attn.formatting import format_value
from attn.process import cpu_name
from attn.training.rundir import create_run_dir, environment_info, runs_root


def create_bench_dir(what: str, runs_dir: str | Path | None = None) -> Path:
    """A new ``<runs>/bench-<what>/<timestamp>/`` (``--runs-dir``, else ``$ATTN_RUNS_DIR``, else ./runs)."""
    path = create_run_dir(runs_root(runs_dir), f"bench-{what}", checkpoints=False)
    return path


def command_line(*parts: Any, options: dict[str, Any] | None = None) -> str:
    """A shell command from positional ``parts`` and ``--option value`` pairs (None and False left out)."""
    words = [str(p) for p in parts]
    for name, value in (options or {}).items():
        flag = f"--{name.replace('_', '-')}"
        if value is None or value is False:
            continue
        if value is True:
            words.append(flag)
        elif isinstance(value, (list, tuple)):
            for item in value:
                words += [flag, str(item)]
        else:
            words += [flag, str(value)]
    return " ".join(shlex.quote(w) for w in words)


def bench_environment(device: torch.device, command: str) -> dict[str, Any]:
    """Versions, machine and device (:func:`attn.training.rundir.environment_info`), date and command."""
    info = environment_info(device)
    info.update(
        date=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        processor=cpu_name(),
        command=command,
    )
    return info


def describe_machine(env: dict[str, Any]) -> str:
    """One line: device, processor, threads, versions."""
    where = env.get("gpu") or f"CPU {env.get('processor')}, {env.get('torch_threads')} torch threads"
    return (
        f"{env['device']} ({where}); torch {env['torch']}, Python {env['python']}, attn {env['attn']}; "
        f"{env['platform']}; git {str(env.get('git_commit') or 'unknown')[:12]}"
    )


def fmt(value: Any, spec: str | None = None) -> str:
    """A bench table cell (:func:`attn.formatting.format_value`, None as 'n/a')."""
    return format_value(value, spec, missing="n/a")


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub table; the first column left-aligned, the others right-aligned."""
    lines = ["| " + " | ".join(headers) + " |", "|---|" + "---:|" * (len(headers) - 1)]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def rich_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    """A terminal table; cells are plain text (a recipe text like ``attn[eegnex]`` is not read as markup)."""
    table = Table(title=Text(title), title_justify="left")
    for i, header in enumerate(headers):
        table.add_column(Text(header), justify="left" if i == 0 else "right", style="bold" if i == 0 else None)
    for row in rows:
        table.add_row(*(Text(str(c)) for c in row))
    return table


def write_report(out_dir: Path, report: dict[str, Any], markdown: str) -> None:
    """``report.json`` (NaN/Inf as null) and ``report.md``, both written atomically."""
    atomic_write_json(Path(out_dir) / "report.json", report)
    atomic_write_text(Path(out_dir) / "report.md", markdown.rstrip() + "\n")
