"""Run directories, their lock and their metrics log.

``runs/<recipe-name>/<timestamp>/`` holds the resolved recipe, ``metrics.jsonl``,
``summary.json``, ``env.json``, ``checkpoints/`` and plots. Every file but the log is written
atomically (:mod:`attn.fileio`); the log is appended line by line and a torn or garbled line (from
a killed process, a full disk) is skipped when read. One process at a time writes to a run
directory: :class:`RunLock`.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import socket
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from attn.errors import CheckpointError, PathError, RunLocked, UserError, about_path, describe_os_error
from attn.fileio import atomic_write_text, read_json, to_json
from attn.process import attn_source_commit
from attn.training.sinks import MetricSink

RUNS_ENV = "ATTN_RUNS_DIR"
LOCK_NAME = ".lock"

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no flock, the pid check below stands alone
    fcntl = None  # type: ignore[assignment]


class MetricsLog:
    """``metrics.jsonl``: one JSON object per logged step or evaluation, appended line by line.

    Each appended record then goes to every ``sinks`` entry (the experiment trackers).
    """

    def __init__(self, path: Path, sinks: Sequence[MetricSink] = ()):
        self.path = Path(path)
        self.sinks = list(sinks)
        self._checked_end = False

    def append(self, record: dict[str, Any]) -> None:
        line = to_json(record, indent=None) + "\n"
        if not self._checked_end:  # a torn last line from a killed process: start on a line of our own
            self._checked_end = True
            if self._ends_without_newline():
                line = "\n" + line
        try:
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(line)
                handle.flush()
        except OSError as err:
            raise about_path(err, self.path) from err
        for sink in self.sinks:
            sink.log(record)

    def _ends_without_newline(self) -> bool:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(0, os.SEEK_END)
                if handle.tell() == 0:
                    return False
                handle.seek(-1, os.SEEK_END)
                return handle.read(1) != b"\n"
        except FileNotFoundError:
            return False

    def read(self) -> list[dict[str, Any]]:
        """All complete records; torn lines, bytes that are not UTF-8 and lines that are not records are skipped."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return []
        records = []
        for line in raw.split(b"\n"):
            try:
                record = json.loads(line.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                continue
            if isinstance(record, dict) and isinstance(record.get("step", 0), int):
                records.append(record)
        return records

    def truncate_after(self, step: int) -> None:
        """Keep only records up to ``step`` (a resumed run repeats the steps after its checkpoint)."""
        kept = [r for r in self.read() if r.get("step", 0) <= step]
        atomic_write_text(self.path, "".join(json.dumps(r) + "\n" for r in kept))


def runs_root(cli_value: str | os.PathLike | None = None) -> Path:
    """``--runs-dir`` if given, else ``$ATTN_RUNS_DIR``, else ``./runs``."""
    return Path(cli_value or os.environ.get(RUNS_ENV) or "runs")


def create_run_dir(root: Path, recipe_name: str, checkpoints: bool = True) -> Path:
    """A new ``root/<recipe_name>/<YYYYmmdd-HHMMSS>`` (suffixed when that second is taken)."""
    base = Path(root) / recipe_name
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(1000):
        candidate = base / (stamp if n == 0 else f"{stamp}-{n}")
        try:
            candidate.mkdir(parents=True, exist_ok=False)
        except (FileExistsError, NotADirectoryError):
            if not base.is_dir():
                raise PathError(
                    f"cannot create a run directory: '{_first_file(base)}' is a file, not a folder"
                ) from None
            continue
        except OSError as err:
            raise PathError(f"cannot create a run directory under '{root}': {describe_os_error(err)}") from None
        if checkpoints:
            (candidate / "checkpoints").mkdir()
        return candidate
    raise UserError(f"could not create a new run directory under '{base}'")


def _first_file(path: Path) -> Path:
    """The first component of ``path`` that exists and is not a folder."""
    for candidate in reversed((path, *path.parents)):
        if candidate.exists() and not candidate.is_dir():
            return candidate
    return path


def lock_path(run_dir: Path) -> Path:
    """The lock file of ``run_dir``; a fold of a cross-validation run shares its parent's."""
    run_dir = Path(run_dir).absolute()
    owner = run_dir.parent if (run_dir.parent / "cv.json").is_file() else run_dir
    return owner / LOCK_NAME


class RunLock:
    """Exclusive use of a run directory by this process, from ``__enter__`` to ``__exit__``.

    The lock is ``flock`` on ``RUN_DIR/.lock``, which holds the owner's process id and host. The
    kernel drops the lock when its process ends, however it ends (even SIGKILL), so a lock left by a
    dead process is simply taken over; a second live writer fails at once with :class:`RunLocked`
    naming the holder. Within one process the lock is re-entrant. Meant for local file systems (and
    NFS with working locks). Where ``flock`` is missing, a live process id in the file is the lock.
    """

    _held: dict[Path, list[Any]] = {}  # lock path -> [file descriptor, depth]

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self.path = lock_path(run_dir)

    def __enter__(self) -> RunLock:
        held = RunLock._held.get(self.path)
        if held is not None:
            held[1] += 1
        else:
            RunLock._held[self.path] = [self._acquire(), 1]
        return self

    def __exit__(self, *exc: object) -> None:
        held = RunLock._held[self.path]
        held[1] -= 1
        if held[1] == 0:
            del RunLock._held[self.path]
            with contextlib.suppress(OSError):
                self.path.unlink()  # still holding the lock: nobody else can be using this file
            os.close(held[0])

    def _acquire(self) -> int:
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as err:
                raise PathError(f"cannot lock run directory '{self.run_dir}': {describe_os_error(err)}") from None
            try:
                locked = self._lock(fd)
            except BaseException:
                os.close(fd)
                raise
            if not locked:
                holder = _read_holder(fd)
                os.close(fd)
                raise RunLocked(
                    f"run directory '{self.run_dir}' is in use by {holder}: wait for it to finish or stop it "
                    f"first (two writers would interleave its checkpoints and metrics)"
                )
            try:  # the holder before us may have removed the file as it let go: then lock the new one
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                os.ftruncate(fd, 0)
                os.lseek(fd, 0, os.SEEK_SET)
                os.write(fd, f"{os.getpid()} {socket.gethostname()} {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
                return fd
            os.close(fd)

    def _lock(self, fd: int) -> bool:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                return False
        pid = _holder_pid(fd)  # pragma: no cover - no flock on this platform
        return pid is None or pid == os.getpid() or not _alive(pid)


def _lock_words(fd: int) -> list[str]:
    """The words of a lock file: process id, host, date and time."""
    os.lseek(fd, 0, os.SEEK_SET)
    return os.read(fd, 200).decode("utf-8", "replace").split()


def _read_holder(fd: int) -> str:
    words = _lock_words(fd)
    if not words:
        return "another process"
    host = f" on {words[1]}" if len(words) > 1 and words[1] != socket.gethostname() else ""
    since = f" (since {' '.join(words[2:4])})" if len(words) >= 4 else ""
    return f"process {words[0]}{host}{since}"


def _holder_pid(fd: int) -> int | None:  # pragma: no cover - used without flock only
    words = _lock_words(fd)
    return int(words[0]) if words and words[0].isdigit() else None


def _alive(pid: int) -> bool:  # pragma: no cover - used without flock only
    import psutil

    return psutil.pid_exists(pid)


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """:class:`RunLock` in the process that writes (rank 0 under torchrun; the others never write)."""
    if int(os.environ.get("RANK", "0")) != 0:
        yield
        return
    with RunLock(run_dir):
        yield


def iter_runs(root: Path) -> Iterable[Path]:
    """Every run directory (one holding a recipe.yaml) under ``root``."""
    root = Path(root)
    if not root.is_dir():
        return []
    return (p.parent for p in root.glob("*/*/recipe.yaml"))


def latest_run(root: Path, family: str | None = None) -> Path:
    """The newest run under ``root`` with a checkpoint (or folds: ``cv.json``), optionally of one task
    family (env.json). Newest by when the run started (its recipe.yaml, written once), so that
    writing an evaluation into an older run does not make it the newest."""
    candidates = []
    for run in iter_runs(root):
        has_checkpoint = any((run / "checkpoints" / n).exists() for n in ("best.pt", "last.pt"))
        if not has_checkpoint and not (run / "cv.json").is_file():
            continue
        if family is not None:
            try:
                run_family = read_json(run / "env.json").get("family")
            except CheckpointError:
                continue
            if run_family != family:
                continue
        candidates.append(run)
    if not candidates:
        what = f"{family} " if family else ""
        raise UserError(f"no {what}run with a checkpoint found under '{root}'; train one first")
    return max(candidates, key=lambda p: ((p / "recipe.yaml").stat().st_mtime, str(p)))


def environment_info(device: torch.device) -> dict[str, Any]:
    """Versions, machine and device facts for env.json and bench reports."""
    import attn

    info: dict[str, Any] = {
        "attn": attn.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
        "command": " ".join(sys.argv),
        "git_commit": attn_source_commit(),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(
            gpu=props.name,
            gpu_memory_gb=round(props.total_memory / 2**30, 1),
            cuda=torch.version.cuda,
            gpu_count=torch.cuda.device_count(),
        )
    return info
