"""Measuring tools shared by the benches: timing with device sync, saved activations, scaling fits.

Process memory (resident set size) is measured by :mod:`attn.process`."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence

import torch

from attn.process import MIB


class SavedActivations:
    """Counts the bytes of distinct storages autograd saves for backward (``exclude``: parameters).

    Use its :meth:`pack` and :meth:`unpack` with ``torch.autograd.graph.saved_tensors_hooks``.
    Views of one storage count once, at the size of the whole storage.
    """

    def __init__(self, exclude: Sequence[torch.Tensor] = ()):
        self.exclude = {t.untyped_storage().data_ptr() for t in exclude}
        self.seen: set[int] = set()
        self.bytes = 0

    def pack(self, tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        key = storage.data_ptr()
        if key not in self.exclude and key not in self.seen:
            self.seen.add(key)
            self.bytes += storage.nbytes()
        return tensor

    @staticmethod
    def unpack(tensor: torch.Tensor) -> torch.Tensor:
        return tensor


def saved_activation_bytes(forward: Callable[[], torch.Tensor], exclude: Sequence[torch.Tensor]) -> int:
    """Bytes autograd keeps for backward while running ``forward()`` (nothing is back-propagated)."""
    counter = SavedActivations(exclude)
    with torch.autograd.graph.saved_tensors_hooks(counter.pack, counter.unpack):
        out = forward()
    del out
    return counter.bytes


def time_ms(step: Callable[[], object], device: torch.device, repeats: int, warmup: int) -> list[float]:
    """Milliseconds of each of ``repeats`` calls of ``step`` after ``warmup`` untimed calls.

    CUDA: ``torch.cuda.Event`` pairs around each call, read after synchronising; elsewhere
    ``time.perf_counter``. Take the median of the result, not the mean.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"repeats must be >= 1 and warmup >= 0 (got {repeats} and {warmup})")
    for _ in range(warmup):
        step()
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.synchronize(device)
    times = []
    for _ in range(repeats):
        if cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            step()
            end.record()
            torch.cuda.synchronize(device)
            times.append(start.elapsed_time(end))
        else:
            begin = time.perf_counter()
            step()
            times.append((time.perf_counter() - begin) * 1000)
    return times


def cuda_peak_mib(step: Callable[[], object], device: torch.device) -> float | None:
    """Peak CUDA memory allocated during one ``step()`` above what was allocated before it (None off CUDA)."""
    if device.type != "cuda":
        return None
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    step()
    torch.cuda.synchronize(device)
    return (torch.cuda.max_memory_allocated(device) - before) / MIB


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def fit_exponent(lengths: Sequence[int], values: Sequence[float | None]) -> float | None:
    """Least-squares slope ``k`` of log(value) on log(length) (value ~ length**k); None if < 2 points."""
    points = [(math.log(n), math.log(v)) for n, v in zip(lengths, values) if v is not None and v > 0]
    if len(points) < 2 or len({p[0] for p in points}) < 2:
        return None
    mean_x = sum(p[0] for p in points) / len(points)
    mean_y = sum(p[1] for p in points) / len(points)
    sxx = sum((p[0] - mean_x) ** 2 for p in points)
    sxy = sum((p[0] - mean_x) * (p[1] - mean_y) for p in points)
    return sxy / sxx


def is_oom(error: BaseException) -> bool:
    """Whether ``error`` is an out-of-memory error (CUDA or host)."""
    return isinstance(error, (torch.cuda.OutOfMemoryError, MemoryError)) or "out of memory" in str(error).lower()


def growth_range(values: Sequence[float | None], min_ratio: float = 1.1) -> tuple[int, int] | None:
    """Indices ``(first, last)`` of the longest run at the end of ``values`` over which every value
    exceeds the one before by ``min_ratio`` at least (None when fewer than 2 points grow so).

    Fitting a scaling exponent makes sense only where the value grows with size: below that,
    fixed costs (kernel launches) dominate, and a slope through them says nothing (or goes negative).
    """
    last = len(values) - 1
    while last >= 0 and (values[last] is None or values[last] <= 0):
        last -= 1
    first = last
    while first > 0 and values[first - 1] is not None and values[first - 1] > 0:
        if values[first] < values[first - 1] * min_ratio:
            break
        first -= 1
    return (first, last) if last - first >= 1 else None
