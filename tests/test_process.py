"""Process facts: the process clock and start-up profile, resident-set-size measurement, attn's git commit."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import attn
from attn import process
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


# ---- the process clock and the start-up profile ------------------------------------------------

CLOCK_REPORT = (
    "import time; imported = time.monotonic(); import attn.process as p; "
    "print(p.process_age_s(), time.monotonic(), imported, p.process_start()[1])"
)


def _child_clock(argv: list[str]) -> tuple[float, float, str]:
    """(the child's start and its import of attn, both on this machine's monotonic clock; the clock's source)."""
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout.split()
    age, now, imported = map(float, out[:3])
    return now - age, imported, out[3]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="the kernel's start time is read on Linux")
def test_the_process_clock_starts_when_the_process_does() -> None:
    before = time.monotonic()
    start, imported, source = _child_clock([sys.executable, "-c", CLOCK_REPORT])
    assert source == "kernel"
    assert before - 0.011 <= start <= imported  # the kernel counts in 10 ms ticks


@pytest.mark.skipif(not Path("/proc/self/stat").exists() or not shutil.which("bash"), reason="Linux and bash")
def test_a_shell_that_waits_and_then_execs_python_is_not_counted() -> None:
    """``a && b`` runs b in the shell's own process: the process is older than the Python in it."""
    before = time.monotonic()
    command = f"sleep 1; exec {shlex.quote(sys.executable)} -c {shlex.quote(CLOCK_REPORT)}"
    start, imported, source = _child_clock(["bash", "-c", command])
    assert source == "exec"
    assert before + 1.0 <= start <= imported


def test_startup_phases_add_up_and_close_at_finish(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([0.30, 0.35, 0.90, 1.00, 5.0])  # process ages at each mark
    monkeypatch.setattr(process, "process_age_s", lambda: next(clock))
    monkeypatch.setattr(process, "process_start", lambda: (attn.IMPORTED_AT[0] - 0.25, "kernel"))
    profile = process.StartupProfile()
    profile.mark("imports")  # 0.25 -> 0.30
    profile.mark("data")  # -> 0.35
    profile.mark("imports")  # -> 0.90: added to imports
    assert profile.finish("first step") == pytest.approx(1.00)
    profile.mark("data")  # after finish: ignored (the clock's 5.0 is never read)
    assert profile.finish() == pytest.approx(1.00)
    assert profile.phases == pytest.approx({"python": 0.25, "imports": 0.60, "data": 0.05, "first step": 0.10})
    assert profile.describe() == "1.00 = python 0.25 + imports 0.60 + data 0.05 + first step 0.10"


def test_the_profile_is_printed_at_exit_when_asked() -> None:
    env = {**os.environ, "ATTN_PROFILE_STARTUP": "1"}
    code = "import attn.process as p; p.startup.mark('work')"
    err = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stderr
    assert err.startswith("start-up (s, from process start): ") and "+ work " in err and "exit at" in err
    quiet = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stderr
    assert quiet == ""


def test_describe_phases_leaves_out_phases_under_5_ms() -> None:
    assert process.describe_phases({"a": 1.234, "b": 0.004, "c": 0.005}, 1.25) == "1.25 = a 1.23 + c 0.01"
    assert process.describe_phases({}, 0.5) == "0.50"


# ---- bytecode: a package Python compiles on every start -----------------------------------------


def _import_in_child(package_root: Path, module: str, **env: str) -> None:
    child_env = {key: value for key, value in os.environ.items() if key != "PYTHONPYCACHEPREFIX"}
    child_env.update(PYTHONPATH=str(package_root), **env)
    subprocess.run([sys.executable, "-c", f"import {module}"], env=child_env, check=True)


def test_bytecode_cache_is_seen_where_python_itself_keeps_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "slowpkg"
    package.mkdir()
    (package / "__init__.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "pycache_prefix", None)
    assert process.bytecode_cached("slowpkg") is False  # never imported
    _import_in_child(tmp_path, "slowpkg", PYTHONDONTWRITEBYTECODE="1")
    assert process.bytecode_cached("slowpkg") is False  # imported, but Python was told not to keep the bytecode
    _import_in_child(tmp_path, "slowpkg", PYTHONDONTWRITEBYTECODE="")
    assert process.bytecode_cached("slowpkg") is True  # Python's own import wrote __pycache__
    monkeypatch.setattr(sys, "pycache_prefix", str(tmp_path / "prefix"))  # PYTHONPYCACHEPREFIX: looked for there
    assert process.bytecode_cached("slowpkg") is False
    _import_in_child(tmp_path, "slowpkg", PYTHONDONTWRITEBYTECODE="", PYTHONPYCACHEPREFIX=str(tmp_path / "prefix"))
    assert process.bytecode_cached("slowpkg") is True
    assert process.bytecode_cached("no_such_package_here") is None


def test_the_profile_names_a_torch_that_is_compiled_at_every_start(tmp_path: Path) -> None:
    """PYTHONDONTWRITEBYTECODE=1 with an empty pycache prefix: torch's source is compiled in this process."""
    env = {**os.environ, "ATTN_PROFILE_STARTUP": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    env["PYTHONPYCACHEPREFIX"] = str(tmp_path / "empty")
    code = "import attn.process, torch"
    err = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stderr
    assert "start-up (s, from process start)" in err
    assert f"note: {process.BYTECODE_NOTE}" in err


def test_the_bytecode_note_is_given_once_and_only_where_torch_was_compiled(monkeypatch: pytest.MonkeyPatch) -> None:
    """``attn train`` and the start-up profile at exit both ask: the note appears once between them."""
    monkeypatch.setattr(process, "_bytecode_noted", False)
    monkeypatch.setattr(process, "bytecode_cached", lambda module="torch": True)
    assert process.bytecode_note() is None
    monkeypatch.setattr(process, "bytecode_cached", lambda module="torch": False)
    assert process.bytecode_note() == process.BYTECODE_NOTE
    assert process.bytecode_note() is None
