"""Recipes: YAML files that name a model, its data and how to train it.

A recipe has five top-level keys: ``name``, ``description``, ``data``, ``model`` (with
``model.name`` picking a registered model) and ``train``, and may build on another recipe with
``base: NAME_OR_PATH`` (:func:`merge_base`). It is loaded into typed sections; ``a.b=value``
overrides are applied to the raw mapping first and checked like the file.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

from attn.errors import CheckpointError, RecipeError
from attn.fileio import path_kind, read_text_file
from attn.schema import build_section, option, section_to_dict, unknown_key_error
from attn.training.config import TrainConfig

TOP_LEVEL_KEYS = ("name", "description", "data", "model", "train")
MAX_RECIPE_BYTES = 1 << 20  # a recipe is a few hundred bytes; a larger "recipe" is the wrong file
MAX_NAME_LENGTH = 100  # recipe names become folder names (file systems allow 255 bytes)
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+://")


@dataclass
class Recipe:
    """A validated recipe."""

    name: str
    description: str
    family: str  # "text" or "eeg", from the model's registration
    model_name: str
    data: Any
    model: Any
    train: TrainConfig

    def to_dict(self) -> dict[str, Any]:
        """The resolved recipe as plain data (what a run writes to recipe.yaml)."""
        return {
            "name": self.name,
            "description": self.description,
            "data": section_to_dict(self.data),
            "model": {"name": self.model_name, **section_to_dict(self.model)},
            "train": section_to_dict(self.train),
        }

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def replace(self, overrides: list[str]) -> Recipe:
        """A copy with ``a.b=value`` overrides applied and validated."""
        return parse_recipe(apply_overrides(self.to_dict(), overrides), self.name)


@dataclass
class EEGTrainConfig(TrainConfig):
    """The ``train`` section of EEG recipes: the generic keys plus those only EEG regression reads."""

    loss: Literal["mse", "huber"] = option("mse", help="regression loss (EEG)")
    folds: int = option(1, help="k-fold cross-validation by subject (EEG); 1 = a single train/val/test split", min=1)
    augmentation: Literal["none", "fixed", "adaptive"] = option(
        "none",
        help="noise + temporal smoothing of training windows (EEG): fixed at the controller's starting values, "
        "or adapted after each evaluation by the feature-attention controller",
    )
    adaptive_augmentation: bool = option(
        False, help="the older spelling of train.augmentation=adaptive (EEG); kept so old recipes load"
    )
    time_shift_s: float = option(
        0.0,
        help="shift training windows by up to this many seconds and their response times by the same (EEG); 0: off",
        min=0.0,
        max=1.0,
    )

    def validate(self, section: str) -> None:
        super().validate(section)
        if self.adaptive_augmentation and self.augmentation == "fixed":
            raise RecipeError(
                f"recipe keys '{section}.adaptive_augmentation: true' and '{section}.augmentation: fixed' "
                f"contradict each other; use {section}.augmentation alone"
            )

    @property
    def augmentation_mode(self) -> str:
        """``none``, ``fixed`` or ``adaptive``, with the older boolean key taken into account."""
        return "adaptive" if self.adaptive_augmentation else self.augmentation


# The family of every built-in model, known without importing the models (and torch) for listings;
# tests/test_recipe.py checks it against the registry.
MODEL_FAMILIES = {
    "char-transformer": "text",
    "char-lstm": "text",
    "eeg-cnn": "eeg",
    "eeg-latency": "eeg",
    "eeg-sparse-lightweight": "eeg",
    "eeg-sparse-improved": "eeg",
    "eeg-eegnex": "eeg",
    "eeg-braindecode": "eeg",
}


@dataclass(frozen=True)
class Family:
    """What a task family adds to the recipe format: its data section and its train section."""

    name: str
    data: Callable[[], type]  # the data section class (imported when first needed)
    train: type  # TrainConfig, or a subclass with the family's own keys
    epochs: bool  # whether train.epochs applies (a fixed training set, not sampled windows)


def _text_data() -> type:
    from attn.datasets.text import TextDataConfig

    return TextDataConfig


def _eeg_data() -> type:
    from attn.datasets.eeg import EEGDataConfig

    return EEGDataConfig


FAMILIES = {
    "text": Family("text", _text_data, TrainConfig, epochs=False),
    "eeg": Family("eeg", _eeg_data, EEGTrainConfig, epochs=True),
}


def data_section_class(family: str) -> type:
    """The ``data`` section class of a task family."""
    if family not in FAMILIES:
        raise ValueError(f"unknown task family {family!r}")
    return FAMILIES[family].data()


def builtin_recipe_dir() -> Path:
    return Path(str(resources.files("attn.recipes")))


def builtin_recipes(include_bases: bool = False) -> dict[str, Path]:
    """Built-in recipe names and their files; ``include_bases`` adds the ``_``-named bases other recipes build on."""
    files = sorted(builtin_recipe_dir().glob("*.yaml"))
    return {p.stem: p for p in files if include_bases or not p.stem.startswith("_")}


def resolve_recipe_path(ref: str) -> Path:
    """A recipe reference is a path to a YAML file or the name of a built-in recipe (never a URL)."""
    if _URL.match(ref):
        raise RecipeError(
            f"recipe '{ref}' is a URL: attn reads recipes from local files only "
            f"(download it first, e.g. `curl -LO {ref}`, then pass the file)"
        )
    path = Path(ref).expanduser()
    kind = path_kind(path, "recipe file", RecipeError)
    if kind == "file":
        return path
    known = builtin_recipes(include_bases=True)
    if ref in known:
        return known[ref]
    if path.parent.name == "recipes" and path.stem in known:  # `recipes/NAME.yaml` outside the repository
        return known[path.stem]
    if kind == "folder":
        raise RecipeError(f"recipe '{ref}' is a folder, not a recipe file")
    if kind == "special":
        raise RecipeError(f"recipe '{ref}' is not a regular file (it is a device, pipe or socket)")
    if path.suffix in (".yaml", ".yml") or "/" in ref:
        raise RecipeError(f"recipe file '{ref}' does not exist")
    import difflib

    close = difflib.get_close_matches(ref, list(known), n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    raise RecipeError(
        f"'{ref}' is neither a recipe file nor a built-in recipe{hint} (built-in: {', '.join(builtin_recipes())})"
    )


class _Refused(yaml.MarkedYAMLError):
    """YAML that parses but that a recipe may not contain (an alias, a key given twice)."""


class _RecipeLoader(yaml.SafeLoader):
    """PyYAML's safe loader without aliases (no "billion laughs" expansion) and without duplicate keys."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise _Refused(
                problem=f"YAML aliases (*{event.anchor}) are not allowed in recipes: write each value out",
                problem_mark=event.start_mark,
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, Any] = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                if isinstance(key, (str, int, float, bool)) or key is None:
                    if key in seen:
                        raise _Refused(
                            problem=f"key '{key}' is given twice (first at line {seen[key].line + 1}); keep one",
                            problem_mark=key_node.start_mark,
                        )
                    seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str, source: str, locate: bool = True) -> dict[str, Any]:
    """Parse recipe YAML; a syntax error, an alias or a repeated key names the file (and line, with ``locate``)."""
    try:
        raw = yaml.load(text, Loader=_RecipeLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark and locate else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        what = "cannot be used" if isinstance(err, _Refused) else "is not valid YAML"
        raise RecipeError(f"recipe '{source}' {what}{where}: {problem}") from None
    except RecursionError:
        raise RecipeError(f"recipe '{source}' is nested too deeply to be a recipe") from None
    except ValueError as err:  # e.g. an integer of more digits than Python converts (4300)
        raise RecipeError(f"recipe '{source}' has a value that cannot be read: {str(err).split(';')[0]}") from None
    if raw is None:
        raise RecipeError(f"recipe '{source}' is empty")
    if not isinstance(raw, dict):
        raise RecipeError(
            f"recipe '{source}' must be a mapping of sections (data, model, train), got {type(raw).__name__}"
        )
    return raw


def resolve_relative_paths(raw: dict[str, Any], folder: Path) -> dict[str, Any]:
    """``raw`` with the relative paths of its data section made relative to ``folder`` (the recipe file's).

    The fields that hold paths are declared with ``option(..., path=True)`` in a family's data
    section (any family's: a recipe that inherits its model need not name one); values listed in a
    field's ``names`` (built-in corpus names) are names, not paths. Paths given as overrides on the
    command line are left relative to the current directory.
    """
    data = raw.get("data")
    if not isinstance(data, dict):
        return raw  # parse_recipe reports it
    data = dict(data)
    for family in FAMILIES:
        for field in dataclasses.fields(data_section_class(family)):
            if field.metadata.get("path") and field.name in data:
                data[field.name] = _relative_to(data[field.name], folder, field.metadata.get("names", ()))
    return {**raw, "data": data}


def _relative_to(value: Any, folder: Path, names: tuple[str, ...]) -> Any:
    if isinstance(value, list):
        return [_relative_to(v, folder, names) for v in value]
    if not isinstance(value, str) or not value or value in names or Path(value).expanduser().is_absolute():
        return value
    return str(Path(folder).absolute() / value)


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``section.key=value`` overrides (values parsed as YAML) to a copy of ``raw``."""
    import copy

    raw = copy.deepcopy(raw)
    for item in overrides:
        if "=" not in item:
            raise RecipeError(f"override '{item}' must look like section.key=value (e.g. train.lr=3e-4)")
        dotted, text = item.split("=", 1)
        keys = dotted.strip().split(".")
        if not all(keys):
            raise RecipeError(f"override '{item}' has an empty key")
        value = parse_yaml(f"v: {text}", f"override {dotted}", locate=False)["v"] if text.strip() else None
        target = raw
        for depth, key in enumerate(keys[:-1]):
            if key not in TOP_LEVEL_KEYS and depth == 0:
                raise unknown_key_error(key, "", list(TOP_LEVEL_KEYS))
            node = target.get(key)
            if node is None:
                node = target[key] = {}
            if not isinstance(node, dict):
                raise RecipeError(f"override '{item}': '{'.'.join(keys[: depth + 1])}' is not a section")
            target = node
        target[keys[-1]] = value
    return raw


def parse_recipe(raw: dict[str, Any], default_name: str) -> Recipe:
    """Validate a raw recipe mapping into a :class:`Recipe`."""
    import attn.models.catalog  # noqa: F401  (registers the built-in models)
    from attn.models import get_model_spec

    for key in raw:
        if key not in TOP_LEVEL_KEYS:
            raise unknown_key_error(str(key), "", list(TOP_LEVEL_KEYS))
    name = check_recipe_name(raw.get("name", default_name))
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise RecipeError(f"recipe key 'description' must be text (got {description!r})")
    model_raw = raw.get("model")
    if not isinstance(model_raw, dict) or "name" not in model_raw:
        raise RecipeError("recipe section 'model' must have a 'name' (see `attn recipes models`)")
    spec = get_model_spec(str(model_raw["name"]))
    model = build_section(spec.config, model_raw, "model", ignore=("name",))
    data = build_section(data_section_class(spec.task), raw.get("data"), "data")
    family = FAMILIES[spec.task]
    train = build_section(family.train, _without_other_family_defaults(family, raw.get("train")), "train")
    if not family.epochs and train.epochs is not None:
        raise RecipeError(
            f"recipe key 'train.epochs' does not apply to {family.name} recipes (their batches are sampled, "
            f"not passes over a fixed set): use train.max_steps or train.max_time_s"
        )
    return Recipe(name, description, spec.task, spec.name, data, model, train)


def check_recipe_name(name: Any) -> str:
    """A recipe name names the run folders (``runs/<name>/``): a plain name the file system accepts."""
    if (
        not isinstance(name, str)
        or not name.strip()
        or any(c in name for c in "/\\")
        or name.startswith(".")
        or any(ord(c) < 32 or ord(c) == 127 for c in name)
        or len(name) > MAX_NAME_LENGTH
    ):
        raise RecipeError(
            f"recipe key 'name' must be a plain name of at most {MAX_NAME_LENGTH} characters, without '/', "
            f"'\\', control characters or a leading '.' (got {name!r})"
        )
    return name


def _without_other_family_defaults(family: Family, train: Any) -> Any:
    """The train mapping without other families' keys left at their defaults.

    Resolved recipes once listed every family's keys (``folds: 1`` in a text run's recipe.yaml),
    so those load; a key of another family set to anything else is an error that names the family.
    """
    if not isinstance(train, dict):
        return train
    own = {f.name for f in dataclasses.fields(family.train)}
    kept = dict(train)
    for other in FAMILIES.values():
        defaults = section_to_dict(other.train())
        for key in set(defaults) - own:
            if key in kept:
                if kept[key] != defaults[key]:
                    raise RecipeError(f"recipe key 'train.{key}' applies to {other.name.upper()} recipes only")
                del kept[key]
    return kept


def read_recipe_text(ref: str) -> tuple[Path, str]:
    """The file a recipe reference names and its text (checked: a readable UTF-8 file of recipe size)."""
    path = resolve_recipe_path(ref)
    return path, read_text_file(path, "recipe file", RecipeError, max_bytes=MAX_RECIPE_BYTES)


def load_recipe(ref: str, overrides: list[str] | tuple[str, ...] = ()) -> Recipe:
    """Load a recipe file or built-in recipe name and apply overrides."""
    path = resolve_recipe_path(ref)
    raw = apply_overrides(merge_base(read_recipe_file(path, str(ref)), path), list(overrides))
    return parse_recipe(raw, path.stem)


def read_recipe_file(path: Path, source: str) -> dict[str, Any]:
    """The raw mapping of a recipe file (``source`` names it in errors): a readable UTF-8 file of recipe
    size, valid YAML without aliases or repeated keys, its relative data paths taken from its own folder."""
    text = read_text_file(path, "recipe file", RecipeError, max_bytes=MAX_RECIPE_BYTES)
    return resolve_relative_paths(parse_yaml(text, source), path.parent)


# ---- inheritance: `base: NAME_OR_PATH` -------------------------------------------------------


def merge_base(raw: dict[str, Any], path: Path, chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """``raw`` (read from ``path``) on top of its ``base`` recipe, recursively; without a ``base`` key.

    The base is a built-in recipe name, or a ``.yaml``/``.yml`` path (relative paths are taken
    from the folder of the recipe that names it). Mappings merge key by key, anything else (lists
    included) is replaced; a ``model`` section that names another model replaces the base's whole
    section (its keys belong to the other model); ``name`` is never inherited. Chains are allowed,
    a cycle is an error that names it.
    """
    if "base" not in raw:
        return raw
    here = path.resolve()
    chain = (*chain, here)
    ref = raw["base"]
    if not isinstance(ref, str) or not ref.strip():
        raise RecipeError(f"recipe '{path}': 'base' must name a built-in recipe or a recipe file (got {ref!r})")
    base_path = _base_path(ref.strip(), path)
    if base_path.resolve() in chain:
        names = " -> ".join(str(p) for p in (*chain, base_path.resolve()))
        raise RecipeError(f"recipe '{path}': its bases form a cycle: {names}")
    base = merge_base(read_recipe_file(base_path, str(base_path)), base_path, chain)
    base.pop("name", None)
    own = {k: v for k, v in raw.items() if k != "base"}
    if _names_other_model(own.get("model"), base.get("model")):
        base.pop("model")
    return deep_merge(base, own)


def _base_path(ref: str, path: Path) -> Path:
    """The file a ``base`` value names: a path (relative to ``path``'s folder) or a built-in name."""
    if ref.endswith((".yaml", ".yml")) or "/" in ref or "\\" in ref:
        candidate = Path(ref).expanduser()
        if not candidate.is_absolute():
            candidate = path.parent / candidate
        if not candidate.is_file():
            raise RecipeError(f"recipe '{path}': its base file '{ref}' does not exist (looked for {candidate})")
        return candidate
    known = builtin_recipes(include_bases=True)
    if ref not in known:
        import difflib

        close = difflib.get_close_matches(ref, list(known), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise RecipeError(
            f"recipe '{path}': base '{ref}' is not a built-in recipe{hint} (a file is named by a .yaml path)"
        )
    return known[ref]


def _names_other_model(own: Any, base: Any) -> bool:
    return isinstance(own, dict) and isinstance(base, dict) and "name" in own and own.get("name") != base.get("name")


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` on top of ``base``: mappings merge key by key, every other value replaces (lists too)."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def recipe_from_dict(raw: dict[str, Any]) -> Recipe:
    """A recipe stored in a run directory or checkpoint."""
    return parse_recipe(raw, str(raw.get("name", "recipe")))


def load_run_recipe(path: Path, default_name: str) -> Recipe:
    """The resolved recipe a run wrote (``RUN_DIR/recipe.yaml``), checked like any recipe file."""
    text = read_text_file(path, "run recipe", RecipeError, max_bytes=MAX_RECIPE_BYTES)
    raw = parse_yaml(text, str(path))
    try:
        return parse_recipe(raw, default_name)
    except RecipeError as err:  # a hand edit gone wrong: say in which file
        raise RecipeError(f"'{path}': {err}") from None


def stored_recipe(raw: Any, source: Path, default_name: str) -> Recipe:
    """The recipe stored in checkpoint ``source``; one this attn cannot use is a :class:`CheckpointError`."""
    try:
        return parse_recipe(raw, default_name)
    except RecipeError as err:
        raise CheckpointError(f"checkpoint '{source}' holds a recipe this attn cannot use: {err}") from None


def editable_in_a_run(key: str) -> bool:
    """Whether a run's recipe.yaml may change dotted ``key`` after training started (train.*, name, description)."""
    return key.startswith("train.") or key in ("name", "description")


def reconcile_run_recipe(trained: Recipe, path: Path, frozen: tuple[str, ...] = ()) -> Recipe:
    """The recipe of a run's recipe.yaml (``path``), checked against ``trained`` (its checkpoint's).

    recipe.yaml is used, not ignored: hand edits of ``train.*`` keys (not those in ``frozen``), the
    name and the description take effect. Any other difference means the checkpoint does not belong
    to this recipe (another model or data, or an edited model or data section): refused, naming the key.
    """
    written = load_run_recipe(path, trained.name)
    fixed = {k: v for k, v in recipe_changes(trained, written).items() if not editable_in_a_run(k) or k in frozen}
    if fixed:
        key, (old, new) = next(iter(fixed.items()))
        more = f" (and {len(fixed) - 1} more)" if len(fixed) > 1 else ""
        raise CheckpointError(
            f"'{path}' does not match the run's checkpoint: {key} is {new!r} there but {old!r} in the "
            f"checkpoint{more}. A run can only change train.* keys after it started: undo that edit, "
            f"or train a new run with the new recipe"
        )
    return written


def flat_recipe(recipe: Recipe) -> dict[str, Any]:
    """Every value of ``recipe`` by its dotted key (``train.lr``), as written to recipe.yaml."""
    flat: dict[str, Any] = {}
    for key, value in recipe.to_dict().items():
        if isinstance(value, dict):
            flat.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            flat[key] = value
    return flat


def recipe_changes(old: Recipe, new: Recipe) -> dict[str, tuple[Any, Any]]:
    """``{dotted key: (old value, new value)}`` for every value that differs between two recipes."""
    before, after = flat_recipe(old), flat_recipe(new)
    return {k: (before.get(k), after.get(k)) for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k)}


def describe_recipe_keys(family: str | None = None) -> list[tuple[str, list[tuple[str, str, Any, str]]]]:
    """(section, rows) documentation of every recipe key, for `attn recipes keys`."""
    import attn.models.catalog  # noqa: F401
    from attn.models import model_specs
    from attn.schema import describe_section

    sections = [("train", describe_section(TrainConfig))]
    generic = {f.name for f in dataclasses.fields(TrainConfig)}
    for fam in FAMILIES.values():
        if family in (None, fam.name):
            own = [row for row in describe_section(fam.train) if row[0] not in generic]
            if own:
                sections.append((f"train ({fam.name} only)", own))
            sections.append((f"data ({fam.name})", describe_section(fam.data())))
    for spec in model_specs():
        if family in (None, spec.task):
            sections.append((f"model ({spec.name})", describe_section(spec.config)))
    return sections


__all__ = [
    "EEGTrainConfig",
    "FAMILIES",
    "Recipe",
    "apply_overrides",
    "builtin_recipes",
    "deep_merge",
    "describe_recipe_keys",
    "load_recipe",
    "load_run_recipe",
    "merge_base",
    "parse_recipe",
    "recipe_changes",
    "recipe_from_dict",
    "resolve_recipe_path",
]
