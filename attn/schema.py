"""Typed, validated configuration sections built from plain dicts (a YAML recipe).

A section is a dataclass whose fields are declared with :func:`option`, which records the help
text and the allowed range. :func:`build_section` turns a mapping into an instance and reports
every problem as a :class:`~attn.errors.RecipeError` that names the full dotted key, what is
allowed and what was given; an unknown key also names the closest valid one.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, Union

from attn.errors import RecipeError

T = TypeVar("T")

_NUMBER = (int, float)


def option(
    default: Any,
    *,
    help: str,
    min: float | None = None,
    max: float | None = None,
    min_exclusive: bool = False,
    max_exclusive: bool = False,
    path: bool = False,
    names: tuple[str, ...] = (),
) -> Any:
    """Declare a section field with its help text and (optional) numeric bounds.

    ``path``: the value is a file-system path (or a list of them); in a recipe file a relative
    path is relative to the file's folder, except the values in ``names`` (built-in names).
    Lists are copied per instance, so ``option([...])`` is safe as a default.
    """
    meta = {
        "help": help,
        "min": min,
        "max": max,
        "min_exclusive": min_exclusive,
        "max_exclusive": max_exclusive,
        "path": path,
        "names": names,
    }
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def describe_range(meta: Mapping[str, Any]) -> str:
    """Human text for the bounds of a field, e.g. '> 0' or 'in [0, 1)'."""
    lo, hi = meta.get("min"), meta.get("max")
    lo_ex, hi_ex = meta.get("min_exclusive"), meta.get("max_exclusive")
    if lo is not None and hi is not None:
        return f"in {'(' if lo_ex else '['}{_bound(lo)}, {_bound(hi)}{')' if hi_ex else ']'}"
    if lo is not None:
        return f"{'>' if lo_ex else '>='} {_bound(lo)}"
    if hi is not None:
        return f"{'<' if hi_ex else '<='} {_bound(hi)}"
    return ""


def _bound(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


def type_name(tp: Any) -> str:
    """Readable name of a field type for error messages and docs."""
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (Union, types.UnionType):
        return " | ".join(type_name(a) for a in typing.get_args(tp))
    if origin is list:
        (inner,) = typing.get_args(tp)
        return f"list of {type_name(inner)}"
    if origin is dict:
        key_type, value_type = typing.get_args(tp)
        values = "" if value_type is Any else f" to {type_name(value_type)}"
        return f"mapping of {type_name(key_type)}{values}"
    if tp is Any:
        return "any value"
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against type ``tp``; convert where the intent is clear (3e-4 as text)."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except RecipeError as err:
                errors.append(err)
        raise RecipeError(f"recipe key '{key}' must be {type_name(tp)} (got {value!r})")
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value in allowed and type(value) in {type(a) for a in allowed}:
            return value
        close = difflib.get_close_matches(str(value), [str(a) for a in allowed], n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise RecipeError(
            f"recipe key '{key}' must be one of {', '.join(repr(a) for a in allowed)} (got {value!r}){hint}"
        )
    if origin is list:
        (inner,) = typing.get_args(tp)
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, list):
            raise RecipeError(f"recipe key '{key}' must be {type_name(tp)} (got {value!r})")
        return [_coerce(v, inner, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        key_type, value_type = typing.get_args(tp)
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            raise RecipeError(f"recipe key '{key}' must be {type_name(tp)} (got {value!r})")
        return {_coerce(k, key_type, f"{key} (a key)"): _coerce(v, value_type, f"{key}.{k}") for k, v in value.items()}
    if tp is Any:
        return _plain(value, key)
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, str):
            value = _parse_number(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif tp is float:
        if isinstance(value, str):
            value = _parse_number(value)
        if isinstance(value, _NUMBER) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    else:  # pragma: no cover - a section declared a type this module does not handle
        raise TypeError(f"unsupported field type {tp!r} for {key}")
    raise RecipeError(f"recipe key '{key}' must be {type_name(tp)} (got {value!r})")


_PLAIN_SCALARS = (str, int, float, bool, type(None))
_YAML11_EXPONENT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")


def _plain(value: Any, key: str) -> Any:
    """``value`` (a copy) if it is made of what YAML and JSON both write: scalars, lists and str-keyed mappings."""
    if isinstance(value, str) and _YAML11_EXPONENT.match(value):
        return float(value)  # 3e-4: YAML 1.1 reads it as text, the writer meant a number
    if isinstance(value, _PLAIN_SCALARS):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{key}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        if not all(isinstance(k, str) for k in value):
            raise RecipeError(f"recipe key '{key}' must have text keys (got {list(value)!r})")
        return {k: _plain(v, f"{key}.{k}") for k, v in value.items()}
    raise RecipeError(
        f"recipe key '{key}' must be a number, text, true/false, null, a list or a mapping (got {value!r})"
    )


def _parse_number(text: str) -> Any:
    """'3e-4' -> 0.0003 (YAML 1.1 reads it as a string); anything else stays a string."""
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() and "." not in text and "e" not in text.lower() else number


def _check_range(value: Any, meta: Mapping[str, Any], key: str) -> None:
    if not isinstance(value, _NUMBER) or isinstance(value, bool):
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise RecipeError(f"recipe key '{key}' must be a finite number (got {value!r})")
    lo, hi = meta.get("min"), meta.get("max")
    bad = (
        (lo is not None and (value < lo or (meta.get("min_exclusive") and value == lo)))
        or (hi is not None and (value > hi or (meta.get("max_exclusive") and value == hi)))
        or value != value  # NaN
    )
    if bad:
        raise RecipeError(f"recipe key '{key}' must be {describe_range(meta)} (got {value!r})")


def unknown_key_error(key: str, section: str, allowed: list[str]) -> RecipeError:
    """The error for a key a section does not have, naming the closest valid key."""
    full = f"{section}.{key}" if section else key
    where = f"section '{section}'" if section else "the top level of the recipe"
    close = closest_key(key, allowed)
    hint = f"; did you mean '{close}'?" if close else ""
    return RecipeError(f"unknown recipe key '{full}' in {where}{hint} (allowed: {', '.join(sorted(allowed))})")


def _words(key: str) -> list[str]:
    return [w for w in key.lower().replace("-", "_").split("_") if w]


def _abbreviates(short: list[str], long: list[str]) -> bool:
    """Whether the words ``short`` spell ``long`` with runs of words cut to their initials (lr: learning_rate)."""
    if not short:
        return not long
    if not long:
        return False
    word = short[0]
    if word == long[0] or word.rstrip("s") == long[0].rstrip("s"):
        return _abbreviates(short[1:], long[1:])
    return any(
        word == "".join(w[0] for w in long[:n]) and _abbreviates(short[1:], long[n:]) for n in range(2, len(long) + 1)
    )


def closest_key(key: str, allowed: list[str]) -> str | None:
    """The valid key ``key`` most likely meant, ranked by meaning before spelling.

    First a key that abbreviates it or that it abbreviates (``learning_rate`` -> ``lr``), then the
    keys that share the most words with it (``patience`` -> ``early_stopping_patience``; plural and
    singular count as one word), closest spelling first; else the closest spelling overall.
    """
    words = _words(key)
    for candidate in allowed:
        other = _words(candidate)
        if other != words and (_abbreviates(other, words) or _abbreviates(words, other)):
            return candidate
    stems = {w.rstrip("s") for w in words}

    def shared(candidate: str) -> int:
        return len(stems & {w.rstrip("s") for w in _words(candidate)})

    def spelling(candidate: str) -> float:
        return difflib.SequenceMatcher(None, key, candidate).ratio()

    best = max(allowed, key=lambda c: (shared(c), spelling(c)), default=None)
    if best is not None and shared(best) > 0:
        return best
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.5)
    return close[0] if close else None


def build_section(cls: type[T], data: Any, section: str, *, ignore: tuple[str, ...] = ()) -> T:
    """Build dataclass ``cls`` from mapping ``data`` (the recipe section named ``section``).

    Keys listed in ``ignore`` are accepted and skipped (e.g. ``name`` in the model section,
    which selects the class). After the fields are checked, ``cls.validate()`` runs if present
    for checks that involve several fields.
    """
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise RecipeError(f"recipe section '{section}' must be a mapping of keys to values (got {type(data).__name__})")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    hints = typing.get_type_hints(cls)
    for key in data:
        if key not in fields and key not in ignore:
            raise unknown_key_error(str(key), section, list(fields) + list(ignore))
    values = {}
    for name, field in fields.items():
        if name not in data:
            continue
        key = f"{section}.{name}" if section else name
        value = _coerce(data[name], hints[name], key)
        _check_range(value, field.metadata, key)
        if isinstance(value, list):
            for i, item in enumerate(value):
                _check_range(item, field.metadata, f"{key}[{i}]")
        if isinstance(value, dict) and typing.get_args(hints[name])[1] is not Any:
            for item_key, item in value.items():
                _check_range(item, field.metadata, f"{key}.{item_key}")
        values[name] = value
    instance = cls(**values)
    validate = getattr(instance, "validate", None)
    if callable(validate):
        validate(section)
    return instance


def section_to_dict(instance: Any) -> dict[str, Any]:
    """Plain dict of a section's fields (for the resolved recipe written to a run)."""
    return {f.name: getattr(instance, f.name) for f in dataclasses.fields(instance) if f.init}


def describe_section(cls: type) -> list[tuple[str, str, Any, str]]:
    """(name, type, default, help with range) for each field: the docs of a section."""
    hints = typing.get_type_hints(cls)
    rows = []
    for field in dataclasses.fields(cls):
        if not field.init:
            continue
        default = field.default
        if default is dataclasses.MISSING and field.default_factory is not dataclasses.MISSING:
            default = field.default_factory()
        text = field.metadata.get("help", "")
        bounds = describe_range(field.metadata)
        if bounds:
            text = f"{text} ({bounds})"
        rows.append((field.name, type_name(hints[field.name]), default, text))
    return rows
