"""Device, precision and compilation: decided here and nowhere else.

``auto`` means CUDA with bf16 autocast and ``torch.compile`` when a GPU is present, Apple
``mps`` in fp32 when that is present, else the CPU in fp32 without compilation.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import platform
import shutil
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from attn.errors import UserError
from attn.process import peak_rss_mb, user_cache_dir

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
PRELOAD_ENV = "ATTN_PRELOAD_DYNAMO"  # 0: do not import torch._dynamo on a background thread
INDUCTOR_CACHE_ENV = "TORCHINDUCTOR_CACHE_DIR"
_INDUCTOR_CACHE_DIRS = "torch._inductor.runtime.cache_dir_utils"  # sets INDUCTOR_CACHE_ENV to torch's default


@dataclass
class Runtime:
    """Where and how a model runs."""

    device: torch.device
    precision: str  # "fp32", "bf16" or "fp16"
    compile: bool
    notices: list[str] = field(default_factory=list)

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        return _DTYPES.get(self.precision)

    def autocast(self) -> contextlib.AbstractContextManager:
        """Autocast context for forward passes (a no-op in fp32)."""
        dtype = self.autocast_dtype
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    def synchronize(self) -> None:
        """Wait for queued device work (for honest wall-clock timing)."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        elif self.device.type == "mps":
            torch.mps.synchronize()

    def reset_peak_memory(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)

    def peak_memory_mb(self) -> float:
        """CUDA max allocated on GPU; peak resident set size of the process elsewhere."""
        if self.device.type == "cuda":
            return torch.cuda.max_memory_allocated(self.device) / 2**20
        return peak_rss_mb()

    def describe(self) -> str:
        name = str(self.device)
        if self.device.type == "cuda":
            name += f" ({torch.cuda.get_device_name(self.device)})"
        return f"{name}, {self.precision}{', compiled' if self.compile else ''}"


def resolve_device(name: str) -> torch.device:
    """``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps`` -> a usable torch.device."""
    name = name.strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            local_rank = int(os.environ.get("LOCAL_RANK", "0"))
            return torch.device("cuda", local_rank % torch.cuda.device_count())
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError(
                f"device '{name}' was asked for but CUDA is not available "
                f"(this torch {torch.__version__} build sees no GPU); use --device cpu or auto"
            )
        try:
            device = torch.device(name)
        except RuntimeError:
            raise UserError(f"device '{name}' is not a valid device name (try cuda or cuda:0)") from None
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UserError(f"device '{name}' does not exist: this machine has {torch.cuda.device_count()} GPU(s)")
        if device.index is None:
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        return device
    if name == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise UserError("device 'mps' was asked for but Apple Metal (mps) is not available here")
        return torch.device("mps")
    raise UserError(f"unknown device '{name}' (allowed: auto, cpu, cuda, cuda:N, mps)")


def prepare_compiler() -> threading.Thread | None:
    """Before anything imports ``torch._dynamo``: the persistent compile cache, and its import on a GPU.

    Returns the thread importing ``torch._dynamo`` (None where it was not started). See
    :func:`use_persistent_compile_cache` and :func:`start_dynamo_import`.
    """
    use_persistent_compile_cache()
    return start_dynamo_import()


def start_dynamo_import() -> threading.Thread | None:
    """Import ``torch._dynamo`` on a daemon thread when a GPU is present; returns the thread (None if not started).

    Every ``torch.optim`` optimizer needs it (its methods are wrapped in ``torch._disable_dynamo``, which
    imports it on the first call, and ``step`` imports it on every call), and importing it takes seconds.
    Python runs one thread at a time, so this only pays while the main thread waits outside Python:
    CUDA's start-up and copies to the GPU (on the CPU it gains nothing, and is not started). The
    optimizer's own import then waits for this one to finish. ``ATTN_PRELOAD_DYNAMO=0`` turns it off.
    """
    if "torch._dynamo" in sys.modules or os.environ.get(PRELOAD_ENV, "1") == "0" or not torch.cuda.is_available():
        return None
    thread = threading.Thread(
        target=importlib.import_module, args=("torch._dynamo",), name="import-dynamo", daemon=True
    )
    thread.start()
    return thread


def use_persistent_compile_cache() -> Path | None:
    """Point torch.compile's on-disk caches at the user cache, so that a second run skips most compilation.

    Inductor keeps compiled graphs, kernels (Triton's too) and autotuning results under
    ``TORCHINDUCTOR_CACHE_DIR``, by default a folder in the system's temporary directory, which is
    often cleared, or private to a container. Unless the user chose another folder, it becomes
    ``<user cache>/inductor`` (``$ATTN_CACHE`` or ``~/.cache/attn``) if that folder can be written;
    else torch's default stays (importing ``torch._dynamo``, which every optimizer does, fails on a
    cache folder it cannot create). Returns the folder set, or None. A folder the user chose that
    cannot be written is a UserError naming the variable.
    """
    current = os.environ.get(INDUCTOR_CACHE_ENV)
    if current is not None and _INDUCTOR_CACHE_DIRS in sys.modules:  # torch may have set it to its default itself
        from torch._inductor.runtime.cache_dir_utils import default_cache_dir  # (loaded: importing it costs seconds)

        current = None if os.path.abspath(current) == os.path.abspath(default_cache_dir()) else current
    if current is not None:
        if not _writable_folder(Path(current)):
            raise UserError(
                f"{INDUCTOR_CACHE_ENV}='{current}' is not a folder that can be created and written (torch's compile "
                "cache, which every torch optimizer imports); unset it or point it at a writable folder"
            )
        return Path(current)
    folder = user_cache_dir() / "inductor"
    if not _writable_folder(folder):
        return None
    os.environ[INDUCTOR_CACHE_ENV] = str(folder)
    return folder


def _writable_folder(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK | os.X_OK)


def compile_unsupported_reason(device: torch.device) -> str | None:
    """Why torch.compile cannot be used here, or None if it can."""
    if device.type == "mps":
        return "torch.compile is not used on Apple mps"
    if platform.system() == "Windows":
        return "torch.compile needs Triton, which is not available on Windows"
    dynamo = getattr(torch, "_dynamo", None)
    if dynamo is not None and hasattr(dynamo, "is_dynamo_supported") and not dynamo.is_dynamo_supported():
        return f"torch.compile does not support Python {platform.python_version()} with torch {torch.__version__}"
    if device.type == "cpu" and shutil.which(os.environ.get("CXX", "g++")) is None and shutil.which("cc") is None:
        return "torch.compile on CPU needs a C++ compiler, and none was found"
    return None


def resolve_runtime(device: str, precision: str, compile: Any) -> Runtime:
    """Decide device, precision and compilation for a run, with a notice for each fallback."""
    dev = resolve_device(device)
    notices: list[str] = []
    if precision == "auto":
        if dev.type == "cuda" and torch.cuda.is_bf16_supported():
            precision = "bf16"
        elif dev.type == "cuda":
            precision = "fp16"
        else:
            precision = "fp32"
    elif precision == "bf16" and dev.type == "cuda" and not torch.cuda.is_bf16_supported():
        notices.append("this GPU has no bf16 support: using fp16 autocast with loss scaling instead")
        precision = "fp16"
    elif precision == "fp16" and dev.type == "cpu":
        notices.append("fp16 autocast is not supported on the CPU: using fp32 instead")
        precision = "fp32"
    if compile == "auto":
        use_compile = dev.type == "cuda" and compile_unsupported_reason(dev) is None
    else:
        use_compile = bool(compile)
        reason = compile_unsupported_reason(dev) if use_compile else None
        if reason:
            notices.append(f"compilation switched off: {reason}")
            use_compile = False
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    return Runtime(dev, precision, use_compile, notices)


@contextlib.contextmanager
def eval_mode(model: torch.nn.Module) -> Iterator[None]:
    """Put ``model`` in eval mode and no-grad for the block, restoring its mode afterwards."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)
