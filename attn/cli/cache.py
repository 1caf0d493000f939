"""`attn cache list | clear`: the on-disk EEG cache ($ATTN_CACHE, default ~/.cache/attn).

Every distinct EEG data setting (simulator parameters, or the HBN files read) is cached as one
file of about 250 MB; a changed setting makes a new one, so they add up. ``list`` shows each
entry with its size and what it holds; ``clear KEY...`` removes the named entries and ``clear
--all`` every one. ``clear`` asks nothing: it prints what it removed (the paths on stdout, the
total on stderr). A removed entry is rebuilt the next time a run needs it.
"""

from __future__ import annotations

from typing import Optional

import typer
from rich.table import Table

from attn.cli.app import app, user_errors
from attn.cli.output import console, err_console, plain, print_json, print_result
from attn.errors import UserError

cache_app = typer.Typer(help="List or clear the on-disk EEG data cache ($ATTN_CACHE, else ~/.cache/attn).")
app.add_typer(cache_app, name="cache", no_args_is_help=True)


def _size(n_bytes: int) -> str:
    return f"{n_bytes / 2**20:,.1f} MiB"


def _entries(n: int) -> str:
    return f"{n} entr{'y' if n == 1 else 'ies'}"


@cache_app.command("list")
@user_errors
def list_cache(
    json_output: bool = typer.Option(False, "--json", help="Print JSON on stdout instead of a table."),
) -> None:
    """Every cache entry: its key, size and what it holds (largest first)."""
    from attn.datasets.eeg.cache import cache_dir, cache_entries

    entries = cache_entries()
    if json_output:
        print_json(
            [
                {"key": e.key, "kind": e.kind, "bytes": e.bytes, "path": str(e.path), "holds": e.describe()}
                for e in entries
            ]
        )
        return
    table = Table(title=plain(f"EEG cache in {cache_dir()}"), title_justify="left")
    table.add_column("key", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("holds")
    for entry in entries:
        table.add_row(plain(entry.key), plain(entry.kind), _size(entry.bytes), plain(entry.describe()))
    table.caption = plain(
        f"{_entries(len(entries))}, {_size(sum(e.bytes for e in entries))}; remove with attn cache clear KEY or --all"
    )
    table.caption_justify = "left"
    console.print(table)


@cache_app.command("clear")
@user_errors
def clear_cache(
    keys: Optional[list[str]] = typer.Argument(
        None, help="Entries to remove: keys from `attn cache list` (or their first characters).", show_default=False
    ),
    all_entries: bool = typer.Option(False, "--all", help="Remove every entry (unfinished writes included)."),
) -> None:
    """Remove cache entries without asking; prints what it removed."""
    from attn.datasets.eeg.cache import cache_dir, cache_entries, remove_entries, select_entries

    if bool(keys) == all_entries:
        raise UserError("give the KEYs to remove (see `attn cache list`) or --all, not both and not neither")
    entries = cache_entries()
    chosen = entries if all_entries else select_entries(entries, list(keys or []))
    removed = remove_entries(chosen)
    for entry in removed:
        print_result(str(entry.path))
    err_console.print(
        plain(f"removed {_entries(len(removed))} ({_size(sum(e.bytes for e in removed))}) from {cache_dir()}")
    )
