"""`attn recipes`: list, show, copy and validate recipes; document every key and model.

Listings (``list``, ``keys``, ``models``, ``show``) are the result and go to stdout, as a table or,
with ``--json``, as JSON; notes go to stderr. Recipe and model text is never read as rich markup.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table
from rich.text import Text

from attn.cli.app import app, user_errors
from attn.cli.output import console, err_console, plain, print_json, print_result
from attn.errors import UserError

recipes_app = typer.Typer(help="List, show, copy and validate recipes.", no_args_is_help=True)
app.add_typer(recipes_app, name="recipes")

_JSON = typer.Option(False, "--json", help="Print JSON on stdout instead of a table.")


def complete_recipe(incomplete: str) -> list[str]:
    """Shell completion of a recipe argument: the built-in names (files complete as files)."""
    from attn.recipe import builtin_recipes

    return [name for name in builtin_recipes() if name.startswith(incomplete)]


def recipe_listing() -> list[dict[str, Any]]:
    """Every built-in recipe: name, family, model, description and measured times (attn/recipes/timings.py)."""
    from dataclasses import asdict

    from attn.recipe import MODEL_FAMILIES, builtin_recipes, merge_base, read_recipe_file
    from attn.recipes.timings import DEVICES, expected_time

    rows = []
    for name, path in builtin_recipes().items():
        raw = merge_base(read_recipe_file(path, name), path)  # as written: no model import, so no torch
        model = str(raw["model"]["name"])
        times = {device: expected_time(name, device) for device in DEVICES}
        rows.append(
            {
                "name": name,
                "family": MODEL_FAMILIES[model],
                "model": model,
                "description": raw.get("description", ""),
                "expected_time": {d: asdict(t) if t else None for d, t in times.items()},
            }
        )
    return rows


def _time_cell(timing: dict[str, Any] | None) -> str:
    from attn.formatting import format_duration

    if timing is None:
        return "-"
    return format_duration(timing["seconds"]) + (f" ({timing['what']})" if timing["what"] else "")


@recipes_app.command("list")
@user_errors
def list_recipes(json_output: bool = _JSON) -> None:
    """Built-in recipes: model, measured time on a CPU and on one GPU, and what each is for."""
    rows = recipe_listing()
    if json_output:
        print_json(rows)
        return
    table = Table(title="built-in recipes", title_justify="left")
    table.add_column("name", style="bold", no_wrap=True)
    table.add_column("model", no_wrap=True)
    table.add_column("CPU", justify="right")
    table.add_column("1 GPU", justify="right")
    table.add_column("description")
    for row in rows:
        times = row["expected_time"]
        table.add_row(
            plain(row["name"]),
            plain(row["model"]),
            _time_cell(times["cpu"]),
            _time_cell(times["gpu"]),
            plain(row["description"]),
        )
    table.caption = plain(
        "CPU: 2 cores; 1 GPU: one H100. Measured wall time, process start to end (BENCHMARKS.md, kept in "
        "attn/recipes/timings.py; --json names each figure's table); - not measured. "
        "attn train prints its own estimate before the first step."
    )
    table.caption_justify = "left"
    console.print(table)


@recipes_app.command("show")
@user_errors
def show(
    name: str = typer.Argument(..., help="Built-in recipe name or recipe file.", autocompletion=complete_recipe),
    resolved: bool = typer.Option(False, "--resolved", help="Show every key with its default filled in."),
) -> None:
    """Print a recipe (as written, or fully resolved with --resolved)."""
    from attn.recipe import read_recipe_text

    if resolved:
        from attn.recipe import load_recipe

        console.out(load_recipe(name).to_yaml(), highlight=False)
    else:
        console.out(read_recipe_text(name)[1], highlight=False, end="")


def copied_recipe_text(text: str, source: str, builtin: bool, new_name: str) -> str:
    """``text`` of a recipe with ``name`` set to ``new_name`` and a description that says where it came from.

    Only those two top-level lines change (inserted when absent), so comments and layout stay.
    """
    import re

    import yaml

    import attn
    from attn.recipe import parse_yaml

    old = str(parse_yaml(text, source).get("description") or "").strip()
    origin = f"built-in recipe {source} (attn {attn.__version__})" if builtin else f"recipe file {source}"
    description = f"copy of {origin}" + (f"; its description: {old}" if old else "")

    def line(key: str, value: str) -> str:
        return yaml.safe_dump({key: value}, width=float("inf"), allow_unicode=True).strip()

    for key, value in (("description", description), ("name", new_name)):
        found = re.search(rf"^{key}:.*$", text, re.MULTILINE)
        if found:
            text = text[: found.start()] + line(key, value) + text[found.end() :]
        else:
            text = f"{line(key, value)}\n{text}"
    return text


@recipes_app.command("copy")
@user_errors
def copy(
    name: str = typer.Argument(
        ..., help="Built-in recipe (or recipe file) to start from.", autocompletion=complete_recipe
    ),
    path: Path = typer.Argument(..., help="Where to write your copy: a .yaml file, or a folder to put NAME.yaml in."),
    force: bool = typer.Option(False, "--force", help="Overwrite PATH if it exists."),
) -> None:
    """Start a recipe of your own from a built-in one.

    The copy is named after its file (runs go to runs/<that name>/) and its description says what it
    was copied from; everything else, comments included, stays as it was. Prints PATH on stdout.
    """
    from attn.fileio import atomic_write_text
    from attn.recipe import builtin_recipes, read_recipe_text

    source, text = read_recipe_text(name)
    if path.is_dir():  # like cp: into the folder, under the recipe's own file name
        path = path / source.name
    if path.exists() and not force:
        raise UserError(f"'{path}' already exists (use --force to overwrite)")
    builtin = source == builtin_recipes().get(source.stem)
    text = copied_recipe_text(text, source.stem if builtin else name, builtin, path.stem)
    atomic_write_text(path, text)
    err_console.print(
        plain(f"wrote {path}; edit it, check it with `attn recipes validate {path}`, then `attn train {path}`")
    )
    print_result(str(path))


@recipes_app.command("validate")
@user_errors
def validate(
    path: str = typer.Argument(..., help="Recipe file (or built-in name) to check."),
    overrides: Optional[list[str]] = typer.Argument(None, help="Overrides to check along with it (key=value)."),
) -> None:
    """Check a recipe without training: every key, type and range, and its data (exit code 2 if invalid).

    The data checks: text corpora exist and are UTF-8 text long enough for the block size; EEG
    recordings exist and the subjects allow the splits (or train.folds).
    """
    from attn.recipe import load_recipe
    from attn.tasks import check_data

    recipe = load_recipe(path, list(overrides or []))
    data = check_data(recipe)
    err_console.print(
        Text.assemble(
            ("ok", "green"), f": {path} is a valid {recipe.family} recipe for model {recipe.model_name} (data: {data})"
        )
    )


def key_listing(family: str | None) -> list[dict[str, Any]]:
    """Every recipe key (of ``family``, or all): section, key, type, default, meaning."""
    from attn.recipe import describe_recipe_keys

    return [
        {"section": section, "key": key, "type": typ, "default": default, "meaning": text}
        for section, rows in describe_recipe_keys(family)
        for key, typ, default, text in rows
    ]


@recipes_app.command("keys")
@user_errors
def keys(
    family: Optional[str] = typer.Option(None, "--family", help="text or eeg: only that family's keys."),
    json_output: bool = _JSON,
) -> None:
    """Every recipe key with its type, default and meaning."""
    from attn.recipe import FAMILIES

    if family is not None and family not in FAMILIES:
        raise UserError(f"--family must be one of {', '.join(FAMILIES)} (got {family!r})")
    rows = key_listing(family)
    if json_output:
        print_json(rows)
        return
    sections: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        sections.setdefault(row["section"], []).append(row)
    for section, entries in sections.items():
        table = Table(title=plain(section), title_justify="left")
        # The key is what one types: never wrapped or cut; the meaning wraps instead.
        table.add_column("key", no_wrap=True, min_width=max(len(e["key"]) for e in entries))
        table.add_column("type", max_width=16, overflow="fold")
        table.add_column("default", max_width=16, overflow="fold")
        table.add_column("meaning", min_width=18)
        for entry in entries:
            table.add_row(
                plain(entry["key"]), plain(entry["type"]), plain(repr(entry["default"])), plain(entry["meaning"])
            )
        console.print(table)


@recipes_app.command("models")
@user_errors
def models(
    json_output: bool = _JSON,
    braindecode: bool = typer.Option(
        False,
        "--braindecode",
        help="Also try every braindecode model at 129 channels x 200 samples (100 Hz) and list which build here "
        "for model.name eeg-braindecode, model.arch NAME (about 20 s; needs the braindecode extra).",
    ),
) -> None:
    """The model names a recipe's model.name can take (and, with --braindecode, the model.arch names)."""
    import attn.models.catalog  # noqa: F401
    from attn.models import model_specs

    if braindecode:
        from attn.models.eeg_braindecode import braindecode_archs

        archs = [{"arch": name, "builds": status} for name, status in braindecode_archs().items()]
        if json_output:
            print_json(archs)
            return
        table = Table(title="braindecode models for eeg-braindecode (model.arch)", title_justify="left")
        table.add_column("model.arch", style="bold", no_wrap=True)
        table.add_column("builds at (129, 1, 200, 100 Hz)")
        for row in archs:
            table.add_row(plain(row["arch"]), plain(row["builds"]))
        console.print(table)
        return

    rows = [{"name": spec.name, "family": spec.task, "description": spec.description} for spec in model_specs()]
    if json_output:
        print_json(rows)
        return
    table = Table(title="models", title_justify="left")
    table.add_column("model.name", style="bold", no_wrap=True)
    table.add_column("family")
    table.add_column("description")
    for row in rows:
        table.add_row(plain(row["name"]), plain(row["family"]), plain(row["description"]))
    console.print(table)
