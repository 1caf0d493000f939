"""Mapping fields (``dict[str, Any]``, ``dict[str, int]``) in recipe sections."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from attn.errors import RecipeError
from attn.recipe import apply_overrides
from attn.schema import build_section, describe_section, option, section_to_dict, type_name


@dataclass
class Section:
    kwargs: dict[str, Any] = option({}, help="free options")
    sizes: dict[str, int] = option({"a": 1}, help="named sizes", min=0)


def test_defaults_are_copied_per_instance():
    first, second = build_section(Section, {}, "model"), build_section(Section, {}, "model")
    first.kwargs["x"] = 1
    first.sizes["a"] = 5
    assert second.kwargs == {} and second.sizes == {"a": 1}
    assert Section().sizes is not Section().sizes


def test_any_values_pass_as_plain_data_and_are_copied():
    raw = {"kwargs": {"drop_prob": 0.25, "name": "x", "flag": True, "nothing": None, "nested": {"k": [1, 2.5]}}}
    section = build_section(Section, raw, "model")
    assert section.kwargs == raw["kwargs"]
    raw["kwargs"]["nested"]["k"].append(3)
    assert section.kwargs["nested"]["k"] == [1, 2.5]  # not shared with the input
    assert section_to_dict(section)["kwargs"] == section.kwargs
    assert build_section(Section, {"kwargs": None}, "model").kwargs == {}


def test_yaml_1_1_exponents_become_numbers_and_other_text_stays():
    kwargs = build_section(Section, {"kwargs": {"lr": "3e-4", "big": "1E+6", "word": "e5", "ver": "1.8"}}, "m").kwargs
    assert kwargs == {"lr": 3e-4, "big": 1e6, "word": "e5", "ver": "1.8"}


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"kwargs": [1, 2]}, r"recipe key 'model.kwargs' must be mapping of str \(got \[1, 2\]\)"),
        ({"kwargs": "drop_prob=0.1"}, r"'model.kwargs' must be mapping of str"),
        ({"kwargs": {1: "a"}}, r"recipe key 'model.kwargs \(a key\)' must be str \(got 1\)"),
        ({"kwargs": {"s": {1, 2}}}, r"recipe key 'model.kwargs.s' must be a number, text, true/false, null, a list"),
        ({"kwargs": {"m": {2: 3}}}, r"recipe key 'model.kwargs.m' must have text keys"),
        ({"sizes": {"a": "many"}}, r"recipe key 'model.sizes.a' must be int \(got 'many'\)"),
        ({"sizes": {"a": 1, "b": -1}}, r"recipe key 'model.sizes.b' must be >= 0 \(got -1\)"),
    ],
)
def test_bad_mappings_name_the_key(raw, message):
    with pytest.raises(RecipeError, match=message):
        build_section(Section, raw, "model")


def test_typed_values_are_coerced():
    assert build_section(Section, {"sizes": {"a": 2.0, "b": "3"}}, "model").sizes == {"a": 2, "b": 3}


def test_type_names_and_docs():
    assert type_name(dict[str, Any]) == "mapping of str"
    assert type_name(dict[str, int]) == "mapping of str to int"
    rows = {name: (kind, default) for name, kind, default, _ in describe_section(Section)}
    assert rows["kwargs"] == ("mapping of str", {}) and rows["sizes"] == ("mapping of str to int", {"a": 1})


def test_overrides_reach_into_a_mapping():
    raw = {"model": {"name": "eeg-braindecode", "kwargs": {"drop_prob": 0.5}}}
    out = apply_overrides(raw, ["model.kwargs.drop_prob=0.1", "model.kwargs.F1=8", "model.arch=EEGNet"])
    assert out["model"] == {"name": "eeg-braindecode", "kwargs": {"drop_prob": 0.1, "F1": 8}, "arch": "EEGNet"}
    assert raw["model"]["kwargs"] == {"drop_prob": 0.5}
