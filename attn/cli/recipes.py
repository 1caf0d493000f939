"""`attn recipes`: list, show, copy and validate recipes; document every key and model."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from attn.cli.app import app, console, user_errors
from attn.errors import UserError

recipes_app = typer.Typer(help="List, show, copy and validate recipes.", no_args_is_help=True)
app.add_typer(recipes_app, name="recipes")


@recipes_app.command("list")
@user_errors
def list_recipes() -> None:
    """Built-in recipes with a one-line description each."""
    from attn.recipe import builtin_recipes, load_recipe

    table = Table(title="built-in recipes", title_justify="left")
    table.add_column("name", style="bold")
    table.add_column("model")
    table.add_column("description")
    for name in builtin_recipes():
        recipe = load_recipe(name)
        table.add_row(name, recipe.model_name, recipe.description)
    console.print(table)


@recipes_app.command("show")
@user_errors
def show(
    name: str = typer.Argument(..., help="Built-in recipe name or recipe file."),
    resolved: bool = typer.Option(False, "--resolved", help="Show every key with its default filled in."),
) -> None:
    """Print a recipe (as written, or fully resolved with --resolved)."""
    from attn.recipe import read_recipe_text

    if resolved:
        from attn.recipe import load_recipe

        console.out(load_recipe(name).to_yaml(), highlight=False)
    else:
        console.out(read_recipe_text(name)[1], highlight=False, end="")


@recipes_app.command("copy")
@user_errors
def copy(
    name: str = typer.Argument(..., help="Built-in recipe to start from."),
    path: Path = typer.Argument(..., help="Where to write your copy: a .yaml file, or a folder to put NAME.yaml in."),
    force: bool = typer.Option(False, "--force", help="Overwrite PATH if it exists."),
) -> None:
    """Start a recipe of your own from a built-in one."""
    from attn.fileio import atomic_write_text
    from attn.recipe import read_recipe_text

    source, text = read_recipe_text(name)
    if path.is_dir():  # like cp: into the folder, under the recipe's own file name
        path = path / source.name
    if path.exists() and not force:
        raise UserError(f"'{path}' already exists (use --force to overwrite)")
    atomic_write_text(path, text)
    console.print(f"wrote {path}; edit it, check it with `attn recipes validate {path}`, then `attn train {path}`")


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
    console.print(
        f"[green]ok[/]: {path} is a valid {recipe.family} recipe for model {recipe.model_name} (data: {data})",
        highlight=False,
    )


@recipes_app.command("keys")
@user_errors
def keys(family: Optional[str] = typer.Option(None, "--family", help="text or eeg: only that family's keys.")) -> None:
    """Every recipe key with its type, default and meaning."""
    from attn.recipe import describe_recipe_keys

    if family not in (None, "text", "eeg"):
        raise UserError(f"--family must be text or eeg (got {family!r})")
    for section, rows in describe_recipe_keys(family):
        table = Table(title=section, title_justify="left")
        for column in ("key", "type", "default", "meaning"):
            table.add_column(column)
        for key, typ, default, text in rows:
            table.add_row(key, typ, repr(default), text)
        console.print(table)


@recipes_app.command("models")
@user_errors
def models() -> None:
    """The model names a recipe's model.name can take."""
    import attn.models.catalog  # noqa: F401
    from attn.models import model_specs

    table = Table(title="models", title_justify="left")
    table.add_column("model.name", style="bold")
    table.add_column("family")
    table.add_column("description")
    for spec in model_specs():
        table.add_row(spec.name, spec.task, spec.description)
    console.print(table)
