"""`attn bench`: side-by-side comparisons (filled in by the bench issue)."""

from __future__ import annotations

import typer

from attn.cli import app

bench_app = typer.Typer(help="Side-by-side benchmarks: attention vs its baselines.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")
