"""attn.fileio: atomic writes, stale temporaries, free space, readable text files, OS errors as one line."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from attn.errors import PathError, ResourceError, describe_os_error
from attn.fileio import atomic_write_json, atomic_write_text, check_free_space, read_text_file, remove_stale_temporaries


def test_atomic_write_replaces_whole_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "summary.json"
    atomic_write_json(target, {"a": 1})
    atomic_write_json(target, {"a": 2, "nan": float("nan")})
    assert json.loads(target.read_text()) == {"a": 2, "nan": None}
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]
    assert oct(target.stat().st_mode & 0o777) != oct(0o600), "files get the usual permissions, not mkstemp's 0600"


def test_failed_atomic_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "last.pt"
    atomic_write_text(target, "old")

    def crash(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_an_atomic_write_onto_a_folder_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    (tmp_path / "target").mkdir()
    with pytest.raises(PathError, match="it is a folder, not a file"):
        atomic_write_text(tmp_path / "target", "x")
    assert [p.name for p in tmp_path.iterdir()] == ["target"]


def test_stale_temporaries_of_killed_writes_are_removed(tmp_path: Path) -> None:
    (tmp_path / ".last.pt.abc123.tmp").write_bytes(b"half a checkpoint")
    (tmp_path / "last.pt").write_bytes(b"whole")
    assert [p.name for p in remove_stale_temporaries(tmp_path)] == [".last.pt.abc123.tmp"]
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_the_free_space_check_reads_the_file_system_of_the_nearest_existing_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = []

    def fake_usage(path: str) -> shutil._ntuple_diskusage:
        asked.append(Path(path))
        return shutil._ntuple_diskusage(total=10 * 2**30, used=10 * 2**30 - 5 * 2**20, free=5 * 2**20)

    monkeypatch.setattr(shutil, "disk_usage", fake_usage)
    check_free_space(tmp_path / "runs" / "new", 4 * 2**20, "the checkpoints")  # 4 MiB of 5: fine
    with pytest.raises(ResourceError, match=r"needs about 6.0 MiB and the file system of '.*' has 5.0 MiB free"):
        check_free_space(tmp_path / "runs" / "new", 6 * 2**20, "the checkpoints")
    assert asked == [tmp_path, tmp_path]


@pytest.mark.parametrize(
    ("err", "message"),
    [
        (PermissionError(13, "Permission denied", "/x/y"), "'/x/y': permission denied (EACCES)"),
        (OSError(28, "No space left on device", "/x"), "'/x': no space left on the device (ENOSPC)"),
        (OSError(30, "Read-only file system", "/ro"), "'/ro': the file system is read-only (EROFS)"),
        (OSError(36, "File name too long", "/a" * 3), "a name in the path is too long for the file system"),
        (NotADirectoryError(20, "Not a directory", "/f/x"), "a part of the path is a file, not a folder (ENOTDIR)"),
        (OSError(18, "Invalid cross-device link", "/a", None, "/b"), "'/a' -> '/b': invalid cross-device link (EXDEV)"),
    ],
)
def test_os_errors_become_one_line_naming_the_path(err: OSError, message: str) -> None:
    assert message in describe_os_error(err) and "\n" not in describe_os_error(err)


def test_read_text_file_names_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(PathError, match="corpus '.*nope' does not exist"):
        read_text_file(tmp_path / "nope", "corpus")
    with pytest.raises(PathError, match="is a folder, not a file"):
        read_text_file(tmp_path, "corpus")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(PathError, match="is not a regular file"):
        read_text_file(fifo, "corpus")  # opening it would wait for a writer forever
    (tmp_path / "t.txt").write_bytes("h\u00e9".encode("utf-16"))
    with pytest.raises(PathError, match=r"is not UTF-8 text \(byte 0"):
        read_text_file(tmp_path / "t.txt", "corpus")
