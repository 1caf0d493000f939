"""Process facts: resident-set-size measurement, and which git commit counts as attn's."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import torch

from attn.process import MIB, attn_source_commit, current_rss_mb, peak_rss_since_reset_mb, reset_peak_rss


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="peak RSS reset needs Linux")
def test_peak_rss_reset_forgets_earlier_peaks_and_sees_new_allocations() -> None:
    spike = torch.ones(48 * MIB // 4)  # 48 MiB, touched
    del spike
    assert reset_peak_rss()
    before = current_rss_mb()
    assert peak_rss_since_reset_mb() == pytest.approx(before, abs=2.0)
    block = torch.ones(32 * MIB // 4)  # 32 MiB, touched
    assert peak_rss_since_reset_mb() >= before + 30
    del block


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def _commit_all(repo: Path) -> str:
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "x")
    return _git(repo, "rev-parse", "HEAD")


def test_a_checkout_of_attn_reports_its_commit(tmp_path: Path) -> None:
    (tmp_path / "attn").mkdir()
    (tmp_path / "attn" / "__init__.py").write_text("")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "attn"\n')
    head = _commit_all(tmp_path)
    assert attn_source_commit(tmp_path / "attn") == head


def test_attn_installed_inside_another_repository_reports_no_commit(tmp_path: Path) -> None:
    package = tmp_path / ".venv" / "lib" / "site-packages" / "attn"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "someone-else"\n')
    _commit_all(tmp_path)
    assert attn_source_commit(package) is None


def test_no_repository_means_no_commit(tmp_path: Path) -> None:
    (tmp_path / "attn").mkdir()
    assert attn_source_commit(tmp_path / "attn") is None
