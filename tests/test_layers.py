"""The package's layering (docs/ARCHITECTURE.md): imports only point down, and nothing imports in a cycle.

Every ``import`` in ``attn/`` counts, also those inside functions (lazy imports are still
dependencies). A package's layer is its first name under ``attn``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "attn"

# Lowest first; a module may import its own layer and the layers below it.
LAYERS: list[set[str]] = [
    {"errors", "recipes"},
    {"fileio", "formatting", "process"},
    {"schema", "metrics"},
    {"attention"},
    {"datasets"},
    {"models"},
    {"training"},
    {"loggers"},
    {"recipe"},
    {"tasks"},
    {"inference"},
    {"runs"},
    {"bench"},
    {"cli", "__main__"},
]
HEIGHT = {name: height for height, names in enumerate(LAYERS) for name in names}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imported_modules(path: Path) -> set[str]:
    """The attn modules ``path`` imports (``from attn.x import y`` counts attn.x.y when that is a module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name in MODULES and name != "attn"}


GRAPH = {name: imported_modules(path) for name, path in MODULES.items()}


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_module_is_in_a_layer() -> None:
    unknown = {layer_of(m) for m in MODULES} - set(HEIGHT) - {"__init__"}
    assert not unknown, f"packages missing from LAYERS (and docs/ARCHITECTURE.md): {sorted(unknown)}"


def test_imports_only_point_down() -> None:
    upward = []
    for module, imports in GRAPH.items():
        if layer_of(module) == "__init__":
            continue
        for target in imports:
            if HEIGHT[layer_of(target)] > HEIGHT[layer_of(module)]:
                upward.append(f"{module} -> {target}")
    assert not upward, "imports that point up:\n" + "\n".join(sorted(upward))


def test_no_import_cycles() -> None:
    # `from attn.x import y` inside attn.x itself names its own submodule y, not attn.x again.
    def edges(module: str) -> set[str]:
        return {t for t in GRAPH[module] if t != module}

    visiting, done, cycles = set(), set(), []

    def visit(module: str, trail: list[str]) -> None:
        if module in done:
            return
        if module in visiting:
            cycles.append(" -> ".join(trail[trail.index(module) :] + [module]))
            return
        visiting.add(module)
        for target in sorted(edges(module)):
            visit(target, trail + [module])
        visiting.discard(module)
        done.add(module)

    for module in sorted(GRAPH):
        visit(module, [])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_training_engine_knows_no_family_and_no_recipe() -> None:
    named = []
    for module, path in MODULES.items():
        if layer_of(module) != "training":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                words = node.value.replace("(", " ").replace(")", " ").replace(",", " ").split()
                if {"eeg", "EEG", "text"} & set(words):
                    named.append(f"{module}: {node.value[:60]!r}")
        assert not any(t.startswith(("attn.recipe", "attn.tasks", "attn.datasets")) for t in GRAPH[module]), module
    assert not named, "family names in attn/training:\n" + "\n".join(named)


def documented_layers() -> dict[str, int]:
    """Package -> layer number, read from the layer table of docs/ARCHITECTURE.md."""
    text = (PACKAGE.parent / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    table = text.split("```")[1]  # the first code block is the layer table
    layers: dict[str, int] = {}
    current = None
    for line in table.splitlines():
        head = line.split()
        if head and head[0].isdigit():
            current = int(head[0])
        if current is not None:
            for name in re.findall(r"\battn/(\w+)", line):
                layers.setdefault(name, current)
    return layers


def test_the_documented_layer_table_is_the_enforced_one() -> None:
    enforced = {name: height for name, height in HEIGHT.items() if name != "__main__"}
    assert documented_layers() == enforced
