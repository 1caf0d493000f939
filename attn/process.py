"""Facts about this process and machine: age, memory, CPU name, the attn source commit."""

from __future__ import annotations

import platform
import subprocess
import sys
import time
from pathlib import Path

from attn.errors import ResourceError
from attn.fileio import format_bytes

MIB = 2**20


def process_age_s() -> float:
    """Seconds since this process started (interpreter start-up and imports included)."""
    import psutil

    return time.time() - psutil.Process().create_time()


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MiB (0 where the platform does not say)."""
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 2**20 if sys.platform == "darwin" else peak / 2**10
    except (ImportError, OSError):  # pragma: no cover - Windows
        return 0.0


def _proc_status_mb(field: str) -> float | None:
    """A ``kB`` field of /proc/self/status (Linux) in MiB, or None elsewhere."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def current_rss_mb() -> float | None:
    """Resident set size of this process now (Linux; None elsewhere)."""
    return _proc_status_mb("VmRSS")


def reset_peak_rss() -> bool:
    """Reset this process's peak RSS (VmHWM) to its current RSS; False where the OS cannot (not Linux).

    Writing ``5`` to ``/proc/self/clear_refs`` (Linux 4.0+) does it, so that the peak read later
    is the peak of what ran after the reset, not of start-up.
    """
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def peak_rss_since_reset_mb() -> float | None:
    """VmHWM: the peak RSS since :func:`reset_peak_rss` (or since the process started)."""
    return _proc_status_mb("VmHWM")


def memory_bytes() -> tuple[int, int]:
    """(total, available) bytes of this machine's memory."""
    import psutil

    memory = psutil.virtual_memory()
    return memory.total, memory.available


def check_memory(needed_bytes: float, what: str, hint: str, total_bytes: int | None = None, where: str = "") -> None:
    """Refuse ``what`` before allocating it when ``needed_bytes`` is more than the memory there is.

    ``total_bytes`` defaults to this machine's memory; ``where`` names it in the message.
    """
    total = memory_bytes()[0] if total_bytes is None else total_bytes
    if needed_bytes > total:
        raise ResourceError(
            f"{what} needs about {format_bytes(needed_bytes)} of memory and {where or 'this machine'} has "
            f"{format_bytes(total)}: {hint}"
        )


def cpu_name() -> str:
    """The CPU model name (from /proc/cpuinfo on Linux)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None


def attn_source_commit(package_dir: Path | None = None) -> str | None:
    """The git commit of the attn source tree, when attn runs from a checkout of attn; else None.

    An attn installed from a wheel may sit inside some other git repository (a virtual
    environment in a project folder): that repository's HEAD is not attn's commit, so the
    checkout counts only when its top level holds this very package folder and attn's pyproject.
    """
    package_dir = (package_dir or Path(__file__).resolve().parent).resolve()
    top = _git(["rev-parse", "--show-toplevel"], package_dir)
    if top is None:
        return None
    root = Path(top).resolve()
    pyproject = root / "pyproject.toml"
    try:
        is_attn = (root / package_dir.name) == package_dir and 'name = "attn"' in pyproject.read_text(encoding="utf-8")
    except OSError:
        return None
    return _git(["rev-parse", "HEAD"], root) if is_attn else None
