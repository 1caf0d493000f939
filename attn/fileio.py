"""Atomic file writes and JSON files: a reader (or a run resumed after SIGKILL) sees the old file or the new one, never a torn one."""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from attn.errors import CheckpointError, PathError, ResourceError, UserError, about_path, describe_os_error

TEMPORARY_SUFFIX = ".tmp"  # atomic writes go to ``.<name>.<random>.tmp`` beside their target


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


@contextlib.contextmanager
def atomic_writer(path: Path) -> Iterator[BinaryIO]:
    """A binary file handle whose content replaces ``path`` only when the block ends without error.

    The data go to a temporary file in the same folder, are flushed and fsynced, then renamed
    over ``path``; on an error the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    if path.is_dir():
        raise PathError(f"cannot write '{path}': it is a folder, not a file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX, dir=path.parent)
    except OSError as err:
        raise about_path(err, path) from err
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file the usual permissions
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        _sync_folder(path.parent)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise about_path(err, path) from err
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _sync_folder(folder: Path) -> None:
    """fsync a folder, so that a rename in it survives a power failure too (POSIX; a no-op elsewhere)."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):  # some file systems cannot sync a folder; the rename has happened
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_writer(path) as handle:
        handle.write(data)


def atomic_write_text(path: Path, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):  # numpy and torch scalars
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def finite_or_none(value: Any) -> Any:
    """``value`` with every NaN/Inf float (at any depth of dicts and lists) replaced by None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(v) for v in value]
    return value


def to_json(data: Any, indent: int | None = 2) -> str:
    """JSON text with NaN/Inf written as null (strict JSON readers reject NaN)."""
    return json.dumps(finite_or_none(data), indent=indent, default=_json_default, allow_nan=False)


def atomic_write_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON (see :func:`to_json`) to ``path`` atomically."""
    atomic_write_text(path, to_json(data) + "\n")


def read_json(path: Path) -> Any:
    """The JSON in ``path``; a missing or malformed file is a :class:`CheckpointError` naming it."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"'{path}' does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"'{path}' is not valid JSON ({err})") from None


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Remove the temporary files of atomic writes that a killed process left in ``folder``.

    Only call this while no other process writes there (the run-directory lock guarantees it).
    """
    removed = []
    for tmp in Path(folder).glob(f".*{TEMPORARY_SUFFIX}"):
        if tmp.is_file():
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def path_kind(path: Path, what: str, error: type[UserError] = PathError) -> str:
    """``"missing"``, ``"folder"``, ``"file"`` or ``"special"`` (device, pipe, socket) for ``path``.

    A path the file system refuses to look at (permission, a NUL byte) is ``error``, naming ``what``.
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "missing"
    except NotADirectoryError:  # a file where a folder of the path belongs: say which
        blocker = next((p for p in Path(path).parents if p.is_file()), None)
        where = f": '{blocker}' is a file, not a folder" if blocker is not None else ""
        raise error(f"{what} '{path}' cannot exist{where}") from None
    except ValueError:  # an embedded NUL byte
        raise error(f"{what} {str(path)!r} is not a valid path (it contains a NUL byte)") from None
    except OSError as err:
        raise error(f"{what} {describe_os_error(err)}") from None
    if stat.S_ISDIR(mode):
        return "folder"
    return "file" if stat.S_ISREG(mode) else "special"


def check_file(path: Path, what: str, error: type[UserError] = PathError) -> Path:
    """``path`` if it is an existing, readable regular file; else ``error`` saying which of these it is not."""
    path = Path(path).expanduser()
    kind = path_kind(path, what, error)
    if kind == "missing":
        raise error(f"{what} '{path}' does not exist")
    if kind == "folder":
        raise error(f"{what} '{path}' is a folder, not a file")
    if kind == "special":
        raise error(f"{what} '{path}' is not a regular file (it is a device, pipe or socket)")
    if not os.access(path, os.R_OK):
        raise error(f"{what} '{path}' cannot be read: permission denied")
    return path


def check_folder(path: Path, what: str, error: type[UserError] = PathError) -> Path:
    """``path`` if it is an existing, readable folder; else ``error`` saying which of these it is not."""
    path = Path(path).expanduser()
    kind = path_kind(path, what, error)
    if kind == "missing":
        raise error(f"{what} '{path}' does not exist")
    if kind != "folder":
        raise error(f"{what} '{path}' is a file, not a folder")
    if not os.access(path, os.R_OK | os.X_OK):
        raise error(f"{what} '{path}' cannot be read: permission denied")
    return path


def read_text_file(path: Path, what: str, error: type[UserError] = PathError, max_bytes: int | None = None) -> str:
    """The UTF-8 text of the file ``path`` (checked with :func:`check_file`), at most ``max_bytes`` long."""
    path = check_file(path, what, error)
    try:
        with open(path, "rb") as handle:
            raw = handle.read() if max_bytes is None else handle.read(max_bytes + 1)
    except OSError as err:
        raise error(f"{what} {describe_os_error(err)}") from None
    if max_bytes is not None and len(raw) > max_bytes:
        raise error(f"{what} '{path}' is larger than {max_bytes // 1024} KiB; is it the right file?")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise error(f"{what} '{path}' is not UTF-8 text (byte {err.start}: {err.reason})") from None


def nearest_existing_folder(path: Path) -> Path:
    """``path`` or its closest ancestor that exists (where a folder about to be made would live)."""
    path = Path(path).expanduser().absolute()
    return next(candidate for candidate in (path, *path.parents) if candidate.exists())


def check_free_space(folder: Path, needed_bytes: int, what: str) -> None:
    """Refuse to start ``what`` when the file system of ``folder`` has less than ``needed_bytes`` free."""
    where = nearest_existing_folder(folder)
    free = shutil.disk_usage(where).free
    if free < needed_bytes:
        raise ResourceError(
            f"not enough free disk space for {what}: it needs about {format_bytes(needed_bytes)} "
            f"and the file system of '{where}' has {format_bytes(free)} free"
        )


def format_bytes(n: float) -> str:
    """``n`` bytes as a short human size: ``512 B``, ``3.1 MiB``, ``2.0 TiB``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")
