"""The README's quickstart commands are the ones CI runs."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def quickstart_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section)


def test_ci_runs_the_readme_test_command() -> None:
    commands = quickstart_commands()
    assert len(commands) >= 2
    test_command = next(c for c in commands if "pytest" in c)
    assert test_command in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_quickstart_trains_a_builtin_recipe() -> None:
    from attn.recipe import builtin_recipes

    train_command = quickstart_commands()[0]
    recipe = train_command.rsplit("attn train ", 1)[1].split()[0]
    assert recipe in builtin_recipes()
