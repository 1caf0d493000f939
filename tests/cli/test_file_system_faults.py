"""Real file-system faults through the installed `attn`: a read-only file system, a full one, unreadable files.

Root ignores file permissions and may not mount file systems on the host, so these run `attn` in a new
user namespace (``unshare``): as an unprivileged user for permissions, and as that namespace's root
for a small tmpfs of its own (full: ENOSPC; remounted read-only: EROFS). Where the machine does not
allow user namespaces, the tests that need one are skipped with that reason.
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import attn_command, make_corpus, text_recipe, write_recipe

pytestmark = pytest.mark.slow


@functools.cache
def namespaces_allowed() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", "mount -t tmpfs none /mnt"]
    return subprocess.run(probe, capture_output=True).returncode == 0


needs_namespaces = pytest.mark.skipif(
    not namespaces_allowed(), reason="needs unprivileged user namespaces (unshare --user --mount) for a private tmpfs"
)


def in_own_tmpfs(folder: Path, script: str, size: str = "1m", read_only: bool = False) -> subprocess.CompletedProcess:
    """Run shell ``script`` with a fresh tmpfs of ``size`` mounted on ``folder`` (seen by that script only)."""
    mount = f"mount -t tmpfs -o size={size} none {shlex.quote(str(folder))}"
    if read_only:
        mount += f" && mkdir {shlex.quote(str(folder))}/runs && mount -o remount,ro {shlex.quote(str(folder))}"
    command = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", f"{mount} && {script}"]
    return subprocess.run(command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})


def as_unprivileged(args: list[str]) -> list[str]:
    """``args`` run so that file permissions apply: directly when not root, else as nobody in a user namespace."""
    if os.geteuid() != 0:
        return args
    if shutil.which("unshare") is None or subprocess.run(["unshare", "--user", "true"]).returncode != 0:
        pytest.skip("runs as root, for whom chmod does not stop reads or writes, and cannot drop to another user")
    return ["unshare", "--user", *args]


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder every user can reach (pytest's tmp_path is private to its owner)."""
    folder = Path(tempfile.mkdtemp(prefix="attn-fs-", dir="/tmp"))
    folder.chmod(0o777)
    yield folder
    for path in folder.rglob("*"):
        path.chmod(0o777 if path.is_dir() else 0o666)
    shutil.rmtree(folder, ignore_errors=True)


def attn(*args: object) -> str:
    return shlex.join([*attn_command(), *map(str, args)])


def error_lines(output: str) -> list[str]:
    assert "Traceback" not in output, output
    return [line for line in output.splitlines() if line.startswith("error: ")]


@needs_namespaces
def test_a_read_only_file_system(tmp_path: Path, recipe_file: Path) -> None:
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    script = f"{attn('train', recipe_file, '--runs-dir', mnt / 'runs')}; echo rc=$?; {attn('recipes', 'copy', 'alice_char', mnt / 'mine.yaml')}; echo rc=$?"
    result = in_own_tmpfs(mnt, script, size="1g", read_only=True)  # room enough: only read-only stops it
    assert result.stdout.count("rc=2") == 2, result.stdout + result.stderr
    lines = error_lines(result.stderr)
    assert len(lines) == 2 and all("the file system is read-only (EROFS)" in line for line in lines), lines
    assert f"cannot create a run directory under '{mnt / 'runs'}'" in lines[0]


@needs_namespaces
def test_a_full_file_system_refuses_a_run_before_it_starts_and_leaves_nothing(
    tmp_path: Path, recipe_file: Path
) -> None:
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    script = f"{attn('train', recipe_file, '--runs-dir', mnt / 'runs')}; echo rc=$?; ls -A {mnt}"
    result = in_own_tmpfs(mnt, script, size="1m")
    lines = error_lines(result.stderr)
    assert "rc=2" in result.stdout and len(lines) == 1, result.stdout + result.stderr
    assert "not enough free disk space for the run's checkpoints" in lines[0] and f"'{mnt}'" in lines[0]
    assert result.stdout.strip().endswith("rc=2"), "nothing was written to the file system"


@needs_namespaces
def test_enospc_while_writing_leaves_no_temporary_file(tmp_path: Path) -> None:
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    fill = f"dd if=/dev/zero of={mnt}/filler bs=4k count=1000 2>/dev/null"  # fills the 64 KiB tmpfs
    script = f"{fill}; {attn('recipes', 'copy', 'shakespeare_char', mnt / 'mine.yaml')}; echo rc=$?; ls -A {mnt}"
    result = in_own_tmpfs(mnt, script, size="64k")
    lines = error_lines(result.stderr)
    assert "rc=2" in result.stdout and len(lines) == 1, result.stdout + result.stderr
    assert f"'{mnt / 'mine.yaml'}': no space left on the device (ENOSPC)" in lines[0]
    assert result.stdout.split("rc=2")[1].split() == ["filler"], "no temporary file is left behind"


@needs_namespaces
def test_a_full_cache_file_system_only_costs_the_cache(tmp_path: Path, eeg_recipe_file: Path) -> None:
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    runs = tmp_path / "runs"
    script = (
        f"ATTN_CACHE={mnt}/cache {attn('train', eeg_recipe_file, '--runs-dir', runs)}; echo rc=$?; ls -A {mnt}/cache"
    )
    result = in_own_tmpfs(mnt, script, size="64k")
    assert "rc=0" in result.stdout, result.stdout + result.stderr
    assert "could not write the EEG cache" in " ".join(result.stderr.split()) and "ENOSPC" in result.stderr
    assert result.stdout.split("rc=0")[1].split() == [], "no temporary file is left in the cache"
    assert list(runs.glob("*/*/summary.json"))


def test_an_unreadable_corpus_and_an_unwritable_runs_folder(shared_dir: Path) -> None:
    corpus = make_corpus(shared_dir / "corpus.txt")
    recipe = write_recipe(shared_dir, text_recipe(corpus), "r.yaml")
    recipe.chmod(0o644)
    runs = shared_dir / "runs"

    def train_error() -> str:
        result = subprocess.run(
            as_unprivileged([*attn_command(), "train", str(recipe), "--runs-dir", str(runs)]),
            capture_output=True,
            text=True,
        )
        lines = error_lines(result.stderr)
        assert result.returncode == 2 and len(lines) == 1, result.stderr
        return lines[0]

    corpus.chmod(0o000)
    assert f"corpus '{corpus}' cannot be read: permission denied" in train_error()
    corpus.chmod(0o644)
    runs.mkdir(mode=0o555)
    runs.chmod(0o555)
    line = train_error()
    assert f"cannot create a run directory under '{runs}'" in line and "permission denied (EACCES)" in line
    assert list(runs.iterdir()) == []
