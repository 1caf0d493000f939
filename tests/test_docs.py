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


def section_commands(title: str) -> list[str]:
    """The commands of the first bash block of README section ``title``, comments dropped."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split(f"## {title}", 1)[1].split("\n## ", 1)[0]
    block = re.findall(r"```bash\n(.+?)\n```", section, re.S)[0]
    lines = [line.split("  #")[0].strip() for line in block.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def test_train_on_your_own_text_works_as_written(tmp_path, monkeypatch) -> None:
    """The README's steps, in order, on a small text; only the training is shortened (train.max_steps)."""
    import shlex

    import yaml

    from tests.helpers import make_corpus, run_cli

    monkeypatch.chdir(tmp_path)
    make_corpus(tmp_path / "my_book.txt", words=["Once", "upon", "a", "time", "there", "was", "king"])
    commands = section_commands("Train on your own text")
    assert [c.split()[:3] for c in commands] == [
        ["attn", "recipes", "copy"],
        ["attn", "recipes", "validate"],
        ["attn", "train", "my_text.yaml"],
        ["attn", "generate", "--prompt"],
    ]
    outputs = []
    for command in commands:
        args = shlex.split(command)[1:]
        if args[0] == "train":
            args += ["train.max_steps=10", "train.eval_interval=5", "train.eval_batches=2"]
        result = run_cli(*args)
        assert result.exit_code == 0, (command, result.output)
        outputs.append(result.stdout)
        if args[:2] == ["recipes", "copy"]:  # the edit the README describes
            recipe = yaml.safe_load(open("my_text.yaml", encoding="utf-8"))
            assert recipe["data"]["corpora"] == ["tinyshakespeare"] and recipe["name"] == "my_text"
            text = open("my_text.yaml", encoding="utf-8").read().replace("[tinyshakespeare]", "[my_book.txt]")
            open("my_text.yaml", "w", encoding="utf-8").write(text)
    run_dir = outputs[2].strip()
    assert run_dir.startswith("runs/my_text/")
    assert outputs[3].startswith("Once upon a time") and len(outputs[3]) == len("Once upon a time") + 300 + 1
