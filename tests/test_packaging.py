"""pyproject.toml: one version, extras without repeats, package data that matches the files.

.ci/run also builds the wheel and runs it in a fresh virtual environment outside the checkout.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

import attn

ROOT = Path(__file__).resolve().parents[1]
tomllib = pytest.importorskip("tomllib") if sys.version_info >= (3, 11) else pytest.importorskip("tomli")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def requirement_name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower()


def test_the_version_has_one_source() -> None:
    assert attn.__version__ == PYPROJECT["project"]["version"]
    assert not re.search(r"__version__\s*=\s*['\"]", (ROOT / "attn" / "__init__.py").read_text(encoding="utf-8"))


def test_no_package_is_named_by_two_extras_and_test_builds_on_the_others() -> None:
    extras = PYPROJECT["project"]["optional-dependencies"]
    owners: dict[str, list[str]] = {}
    for extra, requirements in extras.items():
        for requirement in requirements:
            name = requirement_name(requirement)
            if name != "attn":
                owners.setdefault(name, []).append(extra)
    repeated = {name: names for name, names in owners.items() if len(names) > 1}  # one extra pulls another instead
    assert not repeated, repeated
    pulled = next(r for r in extras["test"] if r.startswith("attn["))
    assert {"eeg", "tensorboard", "export"} <= set(pulled[len("attn[") : -1].split(","))
    assert "mne-bids" not in owners  # declared once and never imported: dropped


def test_package_data_covers_every_recipe_and_corpus() -> None:
    data = PYPROJECT["tool"]["setuptools"]["package-data"]
    for package, patterns in data.items():
        folder = ROOT.joinpath(*package.split("."))
        matched = {p for pattern in patterns for p in folder.glob(pattern)}
        assert matched, package
    recipes = set((ROOT / "attn" / "recipes").glob("*.yaml"))
    corpora = set((ROOT / "attn" / "datasets" / "corpora").glob("*.txt"))
    assert recipes and corpora
    assert recipes <= {p for pattern in data["attn.recipes"] for p in (ROOT / "attn" / "recipes").glob(pattern)}
    folder = ROOT / "attn" / "datasets" / "corpora"
    assert corpora <= {p for pattern in data["attn.datasets.corpora"] for p in folder.glob(pattern)}


def test_the_licence_is_an_spdx_expression_with_its_file() -> None:
    assert PYPROJECT["project"]["license"] == "MIT"
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")
    assert PYPROJECT["project"]["license-files"] == ["LICENSE"]
    manifest = (ROOT / "MANIFEST.in").read_text(encoding="utf-8")
    assert {"graft tests", "graft docs", "include LICENSE README.md BENCHMARKS.md"} <= set(manifest.splitlines())


@pytest.mark.slow
def test_the_sdist_holds_the_package_data_tests_docs_and_licence(tmp_path: Path) -> None:
    import subprocess
    import tarfile

    pytest.importorskip("setuptools", minversion="77")  # the build backend pyproject.toml names
    build = "import sys; from setuptools import build_meta; print(build_meta.build_sdist(sys.argv[1]))"
    done = subprocess.run(
        [sys.executable, "-c", build, str(tmp_path)], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    name = done.stdout.strip().splitlines()[-1]
    with tarfile.open(tmp_path / name) as sdist:
        inside = {"/".join(member.split("/")[1:]) for member in sdist.getnames()}
    expected = {"LICENSE", "README.md", "BENCHMARKS.md", ".ci/run", "pyproject.toml", "docs/ARCHITECTURE.md"}
    expected |= {"tests/conftest.py", "tests/test_packaging.py", "attn/recipes/shakespeare_char_cpu.yaml"}
    expected |= {str(p.relative_to(ROOT)) for p in (ROOT / "attn" / "datasets" / "corpora").glob("*.txt")}
    assert expected <= inside, sorted(expected - inside)
    assert not any("__pycache__" in member for member in inside)
