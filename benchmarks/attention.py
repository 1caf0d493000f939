"""Benchmark attention implementations: forward+backward time and memory against sequence length.

Methods (all self-attention over ``(batch, length, d_model)`` with Q/K/V/output projections,
no dropout, training mode):

- ``manual``: :class:`attn.attention.MultiHeadAttention` with ``backend="manual"`` (matmul + softmax)
- ``sdpa``: the same module with ``backend="sdpa"`` (torch's fused kernels)
- ``sparse``: :class:`attn.attention.SparseTokenAttention` with ``scale_factor=0.5``
- ``torch_mha``: ``torch.nn.MultiheadAttention(batch_first=True)``, ``need_weights=False``

Per method and length: warm-up runs, then the median of ``--repeats`` timed forward+backward
passes (CUDA: ``torch.cuda.Event`` timing after synchronising; CPU: ``time.perf_counter``).
Memory: on CUDA the peak of ``torch.cuda.max_memory_allocated`` during one pass above what was
allocated before it; on every device the *saved activations*, the bytes of the tensors autograd
keeps for backward (``torch.autograd.graph.saved_tensors_hooks``, distinct storages, parameters
excluded). Saved activations do not depend on timing noise, but they do depend on the kernels
the device picks for ``sdpa``. Sizes estimated not to fit are marked ``skipped``, sizes that
run out of memory ``OOM`` (and the larger ones of that method are then skipped).

The scaling exponent ``k`` in ``time ~ N**k`` is the least-squares slope of log(time) against
log(N) over the measured lengths.

Example: ``python benchmarks/attention.py --device cuda --out benchmarks/results/attention``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import nn

from attn.attention import MultiHeadAttention, SparseTokenAttention

METHODS = ("manual", "sdpa", "sparse", "torch_mha")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
MIB = 2**20


def build(method: str, d_model: int, heads: int, causal: bool) -> tuple[nn.Module, Callable[[nn.Module, torch.Tensor], torch.Tensor]]:
    """The module for ``method`` and how to call it on ``x``."""
    if method in ("manual", "sdpa"):
        return MultiHeadAttention(d_model, heads, backend=method, validate_inputs=False), lambda m, x: m(x, causal=causal)[0]
    if method == "sparse":
        return SparseTokenAttention(d_model, scale_factor=0.5, dropout=0.0), lambda m, x: m(x)[0]
    if method == "torch_mha":
        module = nn.MultiheadAttention(d_model, heads, batch_first=True)

        def call(m: nn.Module, x: torch.Tensor) -> torch.Tensor:
            if causal:
                mask = nn.Transformer.generate_square_subsequent_mask(x.shape[1], device=x.device, dtype=x.dtype)
                return m(x, x, x, attn_mask=mask, is_causal=True, need_weights=False)[0]
            return m(x, x, x, need_weights=False)[0]

        return module, call
    raise ValueError(f"unknown method {method!r}; choose from {METHODS}")


def estimated_bytes(method: str, batch: int, heads: int, length: int, d_model: int, elem: int, device: str) -> int:
    """A rough upper estimate of the memory one pass needs (to skip sizes that cannot fit)."""
    linear = 12 * batch * length * d_model * elem  # inputs, q, k, v, outputs and their gradients
    dense = 4 * batch * heads * length * length * elem  # scores, weights, masks, gradients
    if method in ("manual", "torch_mha") or (method == "sdpa" and device == "cpu"):
        return linear + dense
    return linear


def memory_budget(device: str) -> int:
    if device == "cuda":
        free, _ = torch.cuda.mem_get_info()
        return int(free * 0.9)
    import psutil

    return int(psutil.virtual_memory().available * 0.5)


class SavedActivations:
    """Counts the bytes of distinct storages autograd saves for backward (parameters excluded)."""

    def __init__(self, exclude: Sequence[torch.Tensor]):
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


def is_oom(error: BaseException) -> bool:
    return isinstance(error, torch.cuda.OutOfMemoryError) or "out of memory" in str(error).lower() or isinstance(error, MemoryError)


def measure(method: str, length: int, args: argparse.Namespace) -> dict:
    """Time and memory of one method at one length; raises on OOM."""
    device = torch.device(args.device)
    dtype = DTYPES[args.dtype]
    module, call = build(method, args.d_model, args.heads, args.causal)
    module = module.to(device=device, dtype=dtype).train()
    x = torch.randn(args.batch, length, args.d_model, device=device, dtype=dtype, requires_grad=True)
    grad_out = torch.randn(args.batch, length, args.d_model, device=device, dtype=dtype)

    def step() -> None:
        module.zero_grad(set_to_none=True)
        x.grad = None
        call(module, x).backward(grad_out)

    for _ in range(args.warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()

    times_ms = []
    for _ in range(args.repeats):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            step()
            end.record()
            torch.cuda.synchronize()
            times_ms.append(start.elapsed_time(end))
        else:
            begin = time.perf_counter()
            step()
            times_ms.append((time.perf_counter() - begin) * 1000)

    peak_mib = None
    if device.type == "cuda":
        module.zero_grad(set_to_none=True)
        x.grad = None
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        step()
        torch.cuda.synchronize()
        peak_mib = (torch.cuda.max_memory_allocated() - before) / MIB

    saved = SavedActivations(list(module.parameters()))
    with torch.autograd.graph.saved_tensors_hooks(saved.pack, saved.unpack):
        out = call(module, x)
    del out
    return {
        "status": "ok",
        "time_ms": statistics.median(times_ms),
        "times_ms": times_ms,
        "peak_mib": peak_mib,
        "saved_activations_mib": saved.bytes / MIB,
    }


def fit_exponent(lengths: Sequence[int], values: Sequence[float | None]) -> float | None:
    """Least-squares slope of log(value) on log(length) over the measured points (None if < 2)."""
    points = [(math.log(n), math.log(v)) for n, v in zip(lengths, values) if v is not None and v > 0]
    if len(points) < 2 or len({p[0] for p in points}) < 2:
        return None
    mean_x = sum(p[0] for p in points) / len(points)
    mean_y = sum(p[1] for p in points) / len(points)
    sxx = sum((p[0] - mean_x) ** 2 for p in points)
    sxy = sum((p[0] - mean_x) * (p[1] - mean_y) for p in points)
    return sxy / sxx


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def environment(args: argparse.Namespace) -> dict:
    info = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.argv[0]).name, *(args.argv or [])]),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": cpu_name(),
        "cpu_threads": torch.get_num_threads(),
        "device": args.device,
        "dtype": args.dtype,
    }
    if args.device == "cuda":
        info["gpu"] = torch.cuda.get_device_name()
        info["cuda"] = torch.version.cuda
    return info


def run(args: argparse.Namespace) -> dict:
    results: dict[str, dict[int, dict]] = {m: {} for m in args.methods}
    budget = memory_budget(args.device)
    elem = torch.empty((), dtype=DTYPES[args.dtype]).element_size()
    for method in args.methods:
        failed = False
        for length in args.lengths:
            needed = estimated_bytes(method, args.batch, args.heads, length, args.d_model, elem, args.device)
            if failed or needed > budget:
                reason = "after OOM" if failed else f"estimated {needed / 2**30:.1f} GiB > budget {budget / 2**30:.1f} GiB"
                results[method][length] = {"status": "skipped", "reason": reason}
                continue
            try:
                results[method][length] = measure(method, length, args)
            except (RuntimeError, MemoryError) as error:
                if not is_oom(error):
                    raise
                results[method][length] = {"status": "OOM"}
                failed = True
            if args.device == "cuda":
                torch.cuda.empty_cache()
            print(f"{method:>9} N={length:<6} {describe(results[method][length])}", file=sys.stderr)
    exponents = {
        m: fit_exponent(args.lengths, [results[m][n].get("time_ms") for n in args.lengths]) for m in args.methods
    }
    memory_exponents = {
        m: fit_exponent(args.lengths, [results[m][n].get("saved_activations_mib") for n in args.lengths]) for m in args.methods
    }
    return {
        "environment": environment(args),
        "settings": {
            "lengths": args.lengths, "d_model": args.d_model, "batch": args.batch, "heads": args.heads,
            "repeats": args.repeats, "warmup": args.warmup, "causal": args.causal, "methods": args.methods,
        },
        "results": {m: {str(n): r for n, r in per.items()} for m, per in results.items()},
        "time_exponent": exponents,
        "saved_activations_exponent": memory_exponents,
    }


def describe(cell: dict) -> str:
    if cell["status"] != "ok":
        return cell["status"]
    text = f"{cell['time_ms']:.2f} ms, saved {cell['saved_activations_mib']:.1f} MiB"
    if cell["peak_mib"] is not None:
        text += f", peak {cell['peak_mib']:.1f} MiB"
    return text


def markdown(report: dict) -> str:
    env, settings = report["environment"], report["settings"]
    methods, lengths = settings["methods"], settings["lengths"]
    device = env.get("gpu", env["processor"]) if env["device"] == "cuda" else f"CPU ({env['processor']}, {env['cpu_threads']} threads)"
    lines = [
        "# Attention benchmark: forward + backward",
        "",
        f"- device: {env['device']}, {device}; dtype {env['dtype']}; torch {env['torch']}; {env['platform']}",
        f"- d_model {settings['d_model']}, batch {settings['batch']}, heads {settings['heads']}, "
        f"causal {settings['causal']}; median of {settings['repeats']} after {settings['warmup']} warm-up",
        f"- command: `{env['command']}` ({env['date']})",
        "- saved activations: bytes of the tensors autograd keeps for backward (parameters excluded)",
        "",
    ]

    def table(title: str, key: str, fmt: str, exponent: dict | None) -> None:
        lines.extend([f"## {title}", "", "| N | " + " | ".join(methods) + " |", "|---:|" + "---:|" * len(methods)])
        for n in lengths:
            cells = []
            for m in methods:
                cell = report["results"][m][str(n)]
                value = cell.get(key)
                cells.append(format(value, fmt) if cell["status"] == "ok" and value is not None else cell["status"] if cell["status"] != "ok" else "n/a")
            lines.append(f"| {n} | " + " | ".join(cells) + " |")
        if exponent is not None:
            lines.append("| k (fit) | " + " | ".join("n/a" if exponent[m] is None else f"{exponent[m]:.2f}" for m in methods) + " |")
        lines.append("")

    table("Time (ms, median)", "time_ms", ".4g", report["time_exponent"])
    table("Saved activations (MiB)", "saved_activations_mib", ".4g", report["saved_activations_exponent"])
    if env["device"] == "cuda":
        table("Peak CUDA memory above baseline (MiB)", "peak_mib", ".4g", None)
    return "\n".join(lines)


def plot(report: dict, path: Path) -> None:
    from matplotlib.figure import Figure

    lengths = report["settings"]["lengths"]
    fig = Figure(figsize=(10, 4), layout="constrained")
    panels = [("time_ms", "time per forward+backward (ms)"), ("saved_activations_mib", "saved activations (MiB)")]
    if report["environment"]["device"] == "cuda":
        panels.append(("peak_mib", "peak CUDA memory (MiB)"))
    for ax, (key, label) in zip(fig.subplots(1, len(panels), squeeze=False)[0], panels):
        for method in report["settings"]["methods"]:
            points = [(n, report["results"][method][str(n)].get(key)) for n in lengths]
            points = [(n, v) for n, v in points if v]
            if points:
                ax.plot(*zip(*points), marker="o", label=method)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("sequence length N")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.savefig(path, dpi=120)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--lengths", default="128,256,512,1024,2048,4096", help="comma-separated sequence lengths")
    parser.add_argument("--d-model", type=int, default=256)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="float32")
    parser.add_argument("--causal", action="store_true", help="causal masking for the dense methods")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated subset of {','.join(METHODS)}")
    parser.add_argument("--out", type=Path, default=None, help="directory for report.md, report.json and report.png")
    args = parser.parse_args(argv)
    args.argv = list(argv) if argv is not None else sys.argv[1:]
    try:
        args.lengths = [int(n) for n in args.lengths.split(",") if n.strip()]
    except ValueError:
        parser.error(f"--lengths must be comma-separated integers, got {args.lengths!r}")
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if not args.lengths or min(args.lengths) < 1:
        parser.error("--lengths needs positive integers")
    if unknown := set(args.methods) - set(METHODS):
        parser.error(f"unknown methods {sorted(unknown)}; choose from {METHODS}")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda but CUDA is not available")
    if args.repeats < 1 or args.warmup < 0:
        parser.error("--repeats must be >= 1 and --warmup >= 0")
    return args


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse_args(argv)
    report = run(args)
    text = markdown(report)
    print(text)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "report.md").write_text(text + "\n")
        (args.out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        plot(report, args.out / "report.png")
    return report


if __name__ == "__main__":
    main()
