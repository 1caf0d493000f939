"""Each command imports what it uses and no more: a command that does not train leaves out the training
loop, plotting, scipy, mne, psutil and torch._dynamo (checked in a fresh interpreter per command)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import train_tiny_text_run

# Modules (and their submodules) that only training, plotting, EEG data or compilation need.
NOT_NEEDED = ("attn.training.trainer", "attn.runs", "matplotlib", "scipy", "mne", "psutil", "torch._dynamo")

RUN_AND_LIST = """
import json, sys
from attn.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code or 0
print("MODULES", json.dumps({"exit": code, "modules": sorted(sys.modules)}))
"""


def imports_of(*args: object) -> set[str]:
    """The modules loaded by ``attn ARGS`` in a fresh interpreter (the command must succeed)."""
    out = subprocess.run(
        [sys.executable, "-c", RUN_AND_LIST, *map(str, args)], capture_output=True, text=True, check=True
    ).stdout
    report = json.loads(out.rsplit("MODULES ", 1)[1])
    assert report["exit"] == 0, out
    return set(report["modules"])


def unneeded(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in NOT_NEEDED))


@pytest.fixture(scope="module")
def text_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny_text_run(tmp_path_factory.mktemp("imports"), steps=4)


@pytest.mark.slow
@pytest.mark.parametrize(
    "args",
    [
        ["generate", "{run}", "--prompt", "To", "--length", "5", "--num-samples", "2", "--top-p", "0.9"],
        ["eval", "{run}", "--device", "cpu"],
        ["recipes", "list"],
        ["recipes", "validate", "eeg_sparse_lightweight"],
        ["recipes", "keys"],
    ],
    ids=lambda args: " ".join(a for a in args if a != "{run}")[:40],
)
def test_commands_that_do_not_train_import_no_training_plotting_or_compiler(text_run: Path, args: list[str]) -> None:
    modules = imports_of(*(str(text_run) if a == "{run}" else a for a in args))
    assert not unneeded(modules)


@pytest.mark.parametrize("command", ["train", "generate", "eval", "recipes", "bench"])
def test_help_of_every_command_starts_without_torch(command: str) -> None:
    modules = imports_of(command, "--help")
    assert "torch" not in modules and not unneeded(modules)


@pytest.mark.slow
def test_listing_the_recipes_needs_no_torch() -> None:
    assert "torch" not in imports_of("recipes", "list")
