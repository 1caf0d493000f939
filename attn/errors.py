"""Errors that are the user's to fix: the CLI prints them as one line and exits with code 2."""

from __future__ import annotations

import errno
import os


class UserError(Exception):
    """A problem with the user's input (recipe, file, prompt, checkpoint), not a bug in attn."""

    exit_code = 2


class RecipeError(UserError):
    """A recipe that cannot be loaded: malformed YAML, an unknown key or an invalid value."""


class DataError(UserError):
    """A data source that cannot be used: missing, empty, binary or too short."""


class CheckpointError(UserError):
    """A checkpoint or run directory that cannot be read."""


class TrainingDiverged(UserError):
    """The loss or the weights became NaN or Inf; the last checkpoint with finite weights is kept. Its own
    exit code (3), so that a script can tell a diverged run (try other settings) from bad input (exit code 2)."""

    exit_code = 3


class PathError(UserError):
    """A file or folder that cannot be used: missing, the wrong kind, unreadable, unwritable."""


class ResourceError(UserError):
    """Not enough memory or disk space for what was asked; the message gives the estimate."""


class RunLocked(UserError):
    """Another live process is writing to the same run directory."""


# What an OSError means, in words (errno names are kept in the message for searching).
_OS_PROBLEMS = {
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "the file system is read-only",
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.ENAMETOOLONG: "a name in the path is too long for the file system",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "it is a folder, not a file",
    errno.ENOENT: "it does not exist",
    errno.EEXIST: "it already exists",
    errno.ELOOP: "too many levels of symbolic links",
    errno.EMFILE: "too many open files",
    errno.EIO: "input/output error",
}


def describe_os_error(err: OSError) -> str:
    """One line naming the path(s) and the problem of ``err``, e.g. ``'runs/x': permission denied (EACCES)``."""
    code = err.errno
    problem = _OS_PROBLEMS.get(code) if code is not None else None
    problem = problem or (err.strerror or str(err) or type(err).__name__).strip().lower()
    name = errno.errorcode.get(code, "") if code is not None else ""
    suffix = f" ({name})" if name else ""
    paths = [p for p in (err.filename, err.filename2) if p is not None]
    if not paths:
        return f"{problem}{suffix}"
    shown = " -> ".join(f"'{os.fsdecode(p)}'" for p in paths)
    return f"{shown}: {problem}{suffix}"


def about_path(err: OSError, path: str | os.PathLike) -> OSError:
    """``err`` naming ``path`` (a write to an open file, or to a temporary file, names no path of its own)."""
    if err.filename is not None and os.fspath(err.filename) == os.fspath(path):
        return err
    return OSError(err.errno, err.strerror or str(err), os.fspath(path))
