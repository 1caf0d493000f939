"""`attn cache list | clear` and the size note when the EEG cache is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from attn.datasets.eeg import EEGDataConfig, load_eeg_dataset
from attn.datasets.eeg.cache import cache_dir
from tests.helpers import run_cli

SMALL = {"n_subjects": 2, "trials_per_subject": 3, "seed": 1}
OTHER = {"n_subjects": 2, "trials_per_subject": 4, "seed": 2}


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cache folder of this test alone (clearing it touches no other test's data)."""
    monkeypatch.setenv("ATTN_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def two_entries() -> list[Path]:
    for settings in (SMALL, OTHER):
        load_eeg_dataset(EEGDataConfig(**settings))
    return sorted(cache_dir().glob("eeg-*.npz"))


def test_writing_the_cache_reports_its_size() -> None:
    messages: list[str] = []
    load_eeg_dataset(EEGDataConfig(**SMALL), progress=messages.append)
    (path,) = cache_dir().glob("eeg-*.npz")
    note = next(m for m in messages if m.startswith("cached"))
    assert str(path) in note and f"({path.stat().st_size / 2**20:,.1f} MiB" in note


def test_list_shows_every_entry_with_its_size_and_contents(two_entries: list[Path]) -> None:
    listing = json.loads(run_cli("cache", "list", "--json").stdout)
    by_path = {entry["path"]: entry for entry in listing}
    assert set(by_path) >= {str(p) for p in two_entries}
    for path in two_entries:
        entry = by_path[str(path)]
        assert entry["bytes"] == path.stat().st_size and entry["kind"] == "synthetic"
        assert path.name == f"eeg-synthetic-{entry['key']}.npz"
    holds = {by_path[str(p)]["holds"] for p in two_entries}
    assert any("2 subjects x 3 trials, seed 1 (6 windows)" in h for h in holds)
    assert any("2 subjects x 4 trials, seed 2 (8 windows)" in h for h in holds)
    table = run_cli("cache", "list")
    assert table.exit_code == 0 and all(by_path[str(p)]["key"] in table.stdout for p in two_entries)


def test_clear_one_key_then_all(two_entries: list[Path]) -> None:
    listing = json.loads(run_cli("cache", "list", "--json").stdout)
    first = next(e for e in listing if e["path"] == str(two_entries[0]))
    result = run_cli("cache", "clear", first["key"][:8])  # the start of a key is enough
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{two_entries[0]}\n" and "removed 1 entry" in result.stderr
    assert not two_entries[0].exists() and two_entries[1].exists()
    unfinished = cache_dir() / ".eeg-synthetic-0123.npz.abcd.tmp"  # left by a killed write
    unfinished.write_bytes(b"partial")
    result = run_cli("cache", "clear", "--all")
    assert result.exit_code == 0, result.output
    assert set(result.stdout.split()) >= {str(two_entries[1]), str(unfinished)}
    assert not list(cache_dir().iterdir())


@pytest.mark.parametrize("args", [[], ["nosuchkey"], ["--all", "abc"]])
def test_clear_needs_keys_or_all_and_names_a_bad_key(two_entries: list[Path], args: list[str]) -> None:
    result = run_cli("cache", "clear", *args)
    assert result.exit_code == 2 and result.stderr.startswith("error:")
    assert all(p.exists() for p in two_entries)
