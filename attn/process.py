"""Facts about this process and machine: its clock and start-up phases, memory, CPU name, attn's commit.

The process clock (:func:`process_age_s`) counts from the start of this program's interpreter:
the kernel's record of when the process was created (Linux ``/proc/self/stat``, 10 ms
resolution, compared with ``CLOCK_BOOTTIME`` so that wall-clock adjustments and the whole-second
boot time that ``psutil`` adds cannot shift it), unless the process existed long before Python
ran in it. A shell runs the last command of ``a && b`` by ``exec`` in its own process, so the
kernel's creation time is the shell's, before ``a`` ran (``pip install ... && attn train``
would count the whole install). When more time passed between creation and the import of
``attn`` than the process spent on the CPU, the start is taken as the import of ``attn`` less
the CPU time used until then (the interpreter's start-up is CPU work).

:data:`startup` is the start-up profile: code marks the end of each phase (``startup.mark("data")``)
and the profile says where the time to the first useful work went. ``ATTN_PROFILE_STARTUP=1``
prints it on stderr when the process exits, for any command.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import attn
from attn.errors import ResourceError
from attn.fileio import format_bytes

MIB = 2**20
PROFILE_ENV = "ATTN_PROFILE_STARTUP"
# More than this between the process's creation and Python's start, beyond the CPU time used, means
# the process was a shell that ran something else first and then exec'd Python.
EXEC_GAP_S = 0.5


def _kernel_age_s() -> float | None:
    """Seconds since the kernel created this process (Linux), or None where that cannot be read."""
    try:
        with open("/proc/self/stat", "rb") as handle:
            stat = handle.read()
        start_ticks = int(stat[stat.rindex(b")") + 2 :].split()[19])  # field 22, in clock ticks after boot
        return time.clock_gettime(time.CLOCK_BOOTTIME) - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


@functools.cache
def process_start() -> tuple[float, str]:
    """This process's start on the ``time.perf_counter`` clock, and how it was found.

    ``"kernel"``: the kernel's creation time; ``"exec"``: the process was created long before
    Python ran in it (see the module docstring), so the start is attn's import less the CPU time
    the process had used by then.
    """
    now = time.perf_counter()
    age = _kernel_age_s()
    if age is None:  # not Linux: psutil's creation time (wall clock)
        import psutil

        age = time.time() - psutil.Process().create_time()
    created = now - age
    imported, cpu = attn.IMPORTED_AT
    if imported - created > cpu + EXEC_GAP_S:
        return imported - cpu, "exec"
    return created, "kernel"


def process_age_s() -> float:
    """Seconds since this process's interpreter started (start-up and imports included)."""
    return time.perf_counter() - process_start()[0]


class StartupProfile:
    """Where the time before a command's first useful work went: named phases on the process clock.

    ``mark(name)`` ends phase ``name`` now: the time since the previous mark is added to it (a
    name marked again accumulates). The first phase, ``python``, runs from the process start to
    the import of attn. ``finish(name)`` ends the last phase and closes the profile: later
    marks are ignored (a second fold or a resumed loop in the same process is not start-up).
    """

    def __init__(self) -> None:
        self.phases: dict[str, float] = {}
        self.total_s: float | None = None
        self._last: float | None = None

    def mark(self, name: str) -> None:
        if self.total_s is not None:
            return
        now = process_age_s()
        if self._last is None:
            self._last = attn.IMPORTED_AT[0] - process_start()[0]
            self.phases["python"] = self._last
        self.phases[name] = self.phases.get(name, 0.0) + max(0.0, now - self._last)
        self._last = now

    def finish(self, name: str = "other") -> float:
        """End the last phase as ``name`` and close the profile; returns the total (the first call's)."""
        if self.total_s is None:
            self.mark(name)
            self.total_s = self._last
        return float(self.total_s)

    def rounded(self) -> dict[str, float]:
        """The phases in seconds, to the millisecond (for summary.json)."""
        return {name: round(seconds, 3) for name, seconds in self.phases.items()}

    def describe(self) -> str:
        """One line: ``1.45 = python 0.03 + imports 1.10 + ...`` (seconds)."""
        return describe_phases(self.phases, self.total_s if self.total_s is not None else (self._last or 0.0))


startup = StartupProfile()


def describe_phases(phases: dict[str, float], total_s: float) -> str:
    """``1.45 = python 0.03 + imports 1.10 + ...``: a total in seconds and its phases (those of 5 ms or more)."""
    parts = " + ".join(f"{name} {seconds:.2f}" for name, seconds in phases.items() if seconds >= 0.005)
    return f"{total_s:.2f} = {parts}" if parts else f"{total_s:.2f}"


def bytecode_cached(module: str = "torch") -> bool | None:
    """Whether ``module`` (a package) loads from compiled bytecode in ``__pycache__`` (or under
    ``sys.pycache_prefix``); None where it is not installed or has no source file.

    False after the module was imported means Python compiled its source in this process and could
    not keep the result (``PYTHONDONTWRITEBYTECODE=1``, or a read-only install without ``.pyc``
    files): every process pays that again. For torch that is seconds (docs/DEVELOPING.md, "Start-up").
    """
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    origin = spec.origin if spec is not None else None
    if not origin or not origin.endswith(".py"):
        return None
    return os.path.exists(importlib.util.cache_from_source(origin))


BYTECODE_NOTE = (
    "torch has no bytecode cache here (PYTHONDONTWRITEBYTECODE is set, or a read-only install has no .pyc "
    "files), so every process compiles its source again, seconds of start-up; to keep it, unset "
    "PYTHONDONTWRITEBYTECODE and set PYTHONPYCACHEPREFIX to a writable folder, or run python -m compileall on "
    "torch's folder"
)


_bytecode_noted = False  # whether this process already gave BYTECODE_NOTE


def bytecode_note() -> str | None:
    """:data:`BYTECODE_NOTE` if this process compiled torch's source (see :func:`bytecode_cached`) and has
    not said so yet; else None. ``attn train`` and the start-up profile both show it, once between them."""
    global _bytecode_noted
    if _bytecode_noted or "torch" not in sys.modules or bytecode_cached("torch") is not False:
        return None
    _bytecode_noted = True
    return BYTECODE_NOTE


def print_startup_profile_at_exit() -> None:
    """At exit, print :data:`startup` (ending an open profile as ``other``) and the process's age on stderr."""
    import atexit

    def report() -> None:
        startup.finish()
        clock = "from exec (the process was created earlier)" if process_start()[1] == "exec" else "from process start"
        sys.stderr.write(f"start-up (s, {clock}): {startup.describe()}; exit at {process_age_s():.2f}\n")
        note = bytecode_note()
        if note:
            sys.stderr.write(f"note: {note}\n")

    atexit.register(report)


def user_cache_dir() -> Path:
    """``$ATTN_CACHE`` if set, else ``~/.cache/attn``: data and compile caches kept between runs."""
    env = os.environ.get("ATTN_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "attn"


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
    """(total, available) bytes of this machine's memory (/proc/meminfo on Linux: no psutil import)."""
    try:
        fields = {}
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                name, _, rest = line.partition(":")
                fields[name] = int(rest.split()[0]) * 1024
        return fields["MemTotal"], fields.get("MemAvailable", fields["MemTotal"])
    except (OSError, ValueError, KeyError, IndexError):
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
