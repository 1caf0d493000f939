"""Attention implementations side by side: forward+backward time and memory against sequence length.

Methods (all self-attention over ``(batch, length, d_model)`` with Q/K/V/output projections,
no dropout, training mode):

- ``manual``: :class:`attn.attention.MultiHeadAttention` with ``backend="manual"`` (matmul + softmax)
- ``sdpa``: the same module with ``backend="sdpa"`` (torch's fused kernels)
- ``sparse``: :class:`attn.attention.SparseTokenAttention` with ``scale_factor=0.5``
- ``torch_mha``: ``torch.nn.MultiheadAttention(batch_first=True)``, ``need_weights=False``
- ``lstm`` (not in the default set): one ``nn.LSTM(d_model, d_model, batch_first=True)`` layer,
  the recurrent layer attention replaces (``heads`` and ``causal`` do not apply to it)

Per method and length: ``warmup`` untimed passes, then the median of ``repeats`` timed
forward+backward passes with their minimum and maximum (CUDA: ``torch.cuda.Event`` timing after
synchronising; CPU: ``time.perf_counter``). A cell whose spread, (max - min) / median, exceeds
:data:`NOISY_SPREAD` is marked ``!``, and the report warns about it and about a busy machine (a
1-minute load average above :data:`BUSY_LOAD` per core when the bench starts or ends): such
timings are noise, not the method. Memory: on CUDA the peak of ``torch.cuda.max_memory_allocated`` during
one pass above what was allocated before it; on every device the *saved activations*, the bytes
of the tensors autograd keeps for backward (``torch.autograd.graph.saved_tensors_hooks``,
distinct storages, parameters excluded). Saved activations do not depend on timing noise, but
they do depend on the kernels the device picks for ``sdpa``. Sizes estimated not to fit are
marked ``skipped``, sizes that run out of memory ``OOM`` (and the larger ones of that method are
then skipped).

The scaling exponent ``k`` in ``time ~ N**k`` is the least-squares slope of log(time) against
log(N), fitted only over the lengths where the value grows (each at least
:data:`GROWTH` times the one before, up to the largest measured length;
:func:`attn.bench.measure.growth_range`), and the range is reported with it: at small N fixed
costs dominate, time hardly changes, and a slope through that says nothing (it can even be
negative). Fewer than two growing points give no exponent.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from attn.attention import MultiHeadAttention, SparseTokenAttention
from attn.bench.measure import (
    MIB,
    cuda_peak_mib,
    fit_exponent,
    growth_range,
    is_oom,
    median,
    saved_activation_bytes,
    time_ms,
)
from attn.bench.report import describe_machine, fmt, markdown_table
from attn.formatting import format_value
from attn.training.plots import new_figure, save_figure

METHODS = ("manual", "sdpa", "sparse", "torch_mha")
ALL_METHODS = (*METHODS, "lstm")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
DEFAULT_LENGTHS = (128, 256, 512, 1024, 2048, 4096)
NOISY_SPREAD = 0.25  # (max - min) / median of a cell's timed passes above this: marked noisy
BUSY_LOAD = 0.5  # 1-minute load average per core above this: the machine was busy
GROWTH = 1.1  # a length's value must exceed the previous length's by this factor to count as growing

Call = Callable[[nn.Module, torch.Tensor], torch.Tensor]


@dataclass
class AttentionSettings:
    """What the attention bench measures, and how often."""

    device: str = "cpu"
    lengths: list[int] = field(default_factory=lambda: list(DEFAULT_LENGTHS))
    d_model: int = 256
    batch: int = 4
    heads: int = 8
    repeats: int = 10
    warmup: int = 2
    dtype: str = "float32"
    causal: bool = False
    methods: list[str] = field(default_factory=lambda: list(METHODS))

    def validate(self) -> None:
        """ValueError naming the first bad setting."""
        if self.device.split(":")[0] not in ("cpu", "cuda"):
            raise ValueError(f"the attention bench runs on cpu or cuda[:N] (got {self.device!r})")
        if not self.lengths or min(self.lengths) < 1:
            raise ValueError(f"lengths must be positive integers (got {self.lengths})")
        if unknown := sorted(set(self.methods) - set(ALL_METHODS)):
            raise ValueError(f"unknown methods {unknown}; choose from {', '.join(ALL_METHODS)}")
        if not self.methods:
            raise ValueError("give at least one method")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)} (got {self.dtype!r})")
        if self.repeats < 1 or self.warmup < 0:
            raise ValueError(f"repeats must be >= 1 and warmup >= 0 (got {self.repeats} and {self.warmup})")
        if min(self.d_model, self.batch, self.heads) < 1 or self.d_model % self.heads:
            raise ValueError(
                f"d_model ({self.d_model}) must be a positive multiple of heads ({self.heads}), batch >= 1"
            )


def build(method: str, d_model: int, heads: int, causal: bool) -> tuple[nn.Module, Call]:
    """The module for ``method`` and how to call it on ``x`` (returning the output to back-propagate)."""
    if method in ("manual", "sdpa"):
        return (
            MultiHeadAttention(d_model, heads, backend=method, validate_inputs=False),
            lambda m, x: m(x, causal=causal)[0],
        )
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
    if method == "lstm":
        return nn.LSTM(d_model, d_model, batch_first=True), lambda m, x: m(x)[0]
    raise ValueError(f"unknown method {method!r}; choose from {ALL_METHODS}")


def estimated_bytes(method: str, batch: int, heads: int, length: int, d_model: int, elem: int, device: str) -> int:
    """A rough upper estimate of the memory one pass needs (to skip sizes that cannot fit)."""
    linear = 12 * batch * length * d_model * elem  # inputs, q, k, v, outputs and their gradients
    dense = 4 * batch * heads * length * length * elem  # scores, weights, masks, gradients
    if method in ("manual", "torch_mha") or (method == "sdpa" and device.startswith("cpu")):
        return linear + dense
    return linear


def memory_budget(device: str) -> int:
    """Bytes a single measurement may use: 90% of free GPU memory, half the available host memory."""
    if device.startswith("cuda"):
        free, _ = torch.cuda.mem_get_info(torch.device(device))
        return int(free * 0.9)
    import psutil

    return int(psutil.virtual_memory().available * 0.5)


def measure(method: str, length: int, settings: AttentionSettings) -> dict[str, Any]:
    """Time and memory of one method at one length; raises on OOM."""
    device = torch.device(settings.device)
    dtype = DTYPES[settings.dtype]
    module, call = build(method, settings.d_model, settings.heads, settings.causal)
    module = module.to(device=device, dtype=dtype).train()
    x = torch.randn(settings.batch, length, settings.d_model, device=device, dtype=dtype, requires_grad=True)
    grad_out = torch.randn(settings.batch, length, settings.d_model, device=device, dtype=dtype)

    def step() -> None:
        module.zero_grad(set_to_none=True)
        x.grad = None
        call(module, x).backward(grad_out)

    times = time_ms(step, device, settings.repeats, settings.warmup)
    module.zero_grad(set_to_none=True)
    x.grad = None
    peak = cuda_peak_mib(step, device)
    saved = saved_activation_bytes(lambda: call(module, x), list(module.parameters()))
    middle = median(times)
    return {
        "status": "ok",
        "time_ms": middle,
        "min_ms": min(times),
        "max_ms": max(times),
        "spread": (max(times) - min(times)) / middle if middle > 0 else 0.0,
        "times_ms": times,
        "peak_mib": peak,
        "saved_activations_mib": saved / MIB,
    }


def machine_load() -> dict[str, Any]:
    """The 1-minute load average and the core count (load None where the OS has none)."""
    try:
        load: float | None = os.getloadavg()[0]
    except (AttributeError, OSError):
        load = None
    return {"load_1min": load, "cores": os.cpu_count() or 1}


def bench_warnings(report: dict[str, Any]) -> list[str]:
    """Why the timings of ``report`` may not be trusted: noisy cells, a busy machine."""
    warnings = []
    noisy = [
        f"{method} N={n}"
        for method, per in report["results"].items()
        for n, cell in per.items()
        if cell.get("status") == "ok" and cell["spread"] > NOISY_SPREAD
    ]
    if noisy:
        warnings.append(
            f"{len(noisy)} timing(s) vary by more than {NOISY_SPREAD:.0%} of their median between repeats "
            f"(marked !: {', '.join(noisy[:6])}{', ...' if len(noisy) > 6 else ''}); rerun with more --repeats "
            "on a quiet machine before trusting them"
        )
    loads = [report["load"][when]["load_1min"] for when in ("before", "after")]
    cores = report["load"]["before"]["cores"]
    if any(load is not None and load > BUSY_LOAD * cores for load in loads):
        warnings.append(
            f"the machine was busy (1-minute load average {_load_text(report['load']['before'])} before the bench, "
            f"{_load_text(report['load']['after'])} after): other processes share the CPU, so these timings are "
            "slower and noisier than the methods are"
        )
    return warnings


def run_attention_bench(
    settings: AttentionSettings, environment: dict[str, Any], progress: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Measure every method at every length; the report (see :func:`markdown` for its tables)."""
    settings.validate()
    if settings.device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("device cuda was asked for but CUDA is not available")
    results: dict[str, dict[int, dict[str, Any]]] = {m: {} for m in settings.methods}
    load_before = machine_load()
    budget = memory_budget(settings.device)
    elem = torch.empty((), dtype=DTYPES[settings.dtype]).element_size()
    for method in settings.methods:
        failed = False
        for length in settings.lengths:
            needed = estimated_bytes(
                method, settings.batch, settings.heads, length, settings.d_model, elem, settings.device
            )
            if failed or needed > budget:
                reason = (
                    "after OOM" if failed else f"estimated {needed / 2**30:.1f} GiB > budget {budget / 2**30:.1f} GiB"
                )
                results[method][length] = {"status": "skipped", "reason": reason}
                if progress is not None:
                    progress(f"{method:>9} N={length:<6} {describe(results[method][length])}")
                continue
            try:
                results[method][length] = measure(method, length, settings)
            except (RuntimeError, MemoryError) as error:
                if not is_oom(error):
                    raise
                results[method][length] = {"status": "OOM"}
                failed = True
            if settings.device.startswith("cuda"):
                torch.cuda.empty_cache()
            if progress is not None:
                progress(f"{method:>9} N={length:<6} {describe(results[method][length])}")
    lengths = settings.lengths
    fits = {
        key: {m: fit_growth(lengths, [results[m][n].get(key) for n in lengths]) for m in settings.methods}
        for key in ("time_ms", "saved_activations_mib", "peak_mib")
    }
    report = {
        "bench": "attention",
        "environment": environment,
        "settings": asdict(settings),
        "results": {m: {str(n): r for n, r in per.items()} for m, per in results.items()},
        "load": {"before": load_before, "after": machine_load()},
    }
    for key, name in (("time_ms", "time"), ("saved_activations_mib", "saved_activations"), ("peak_mib", "peak_memory")):
        report[f"{name}_exponent"] = {m: fit[0] for m, fit in fits[key].items()}
        report[f"{name}_exponent_range"] = {m: fit[1] for m, fit in fits[key].items()}
    report["warnings"] = bench_warnings(report)
    return report


def fit_growth(lengths: list[int], values: list[float | None]) -> tuple[float | None, list[int] | None]:
    """The exponent over the lengths where ``values`` grow, and that range ``[N_first, N_last]``."""
    span = growth_range(values, GROWTH)
    if span is None:
        return None, None
    first, last = span
    return fit_exponent(lengths[first : last + 1], values[first : last + 1]), [lengths[first], lengths[last]]


def describe(cell: dict[str, Any]) -> str:
    """One measurement as text (for progress lines)."""
    if cell["status"] != "ok":
        return f"{cell['status']} ({cell['reason']})" if cell.get("reason") else cell["status"]
    text = (
        f"{cell['time_ms']:.2f} ms (min {cell['min_ms']:.2f}, max {cell['max_ms']:.2f}), "
        f"saved {cell['saved_activations_mib']:.1f} MiB"
    )
    if cell["peak_mib"] is not None:
        text += f", peak {cell['peak_mib']:.1f} MiB"
    return text


TABLES = (
    ("time_ms", "Time per forward+backward (ms): median (min-max) of the repeats", "time_exponent"),
    ("saved_activations_mib", "Saved activations (MiB)", "saved_activations_exponent"),
    ("peak_mib", "Peak CUDA memory above baseline (MiB)", "peak_memory_exponent"),
)


def cell_text(cell: dict[str, Any], key: str) -> str:
    """A table cell: the value; for times the median with (min-max), marked ! when noisy."""
    if cell["status"] != "ok":
        return cell["status"]
    if key != "time_ms":
        return fmt(cell.get(key))
    noisy = "!" if cell["spread"] > NOISY_SPREAD else ""
    low, mid, high = (format_value(cell[k], digits=3) for k in ("min_ms", "time_ms", "max_ms"))
    return f"{mid} ({low}-{high}){noisy}"


def table_rows(report: dict[str, Any], key: str, exponent_key: str | None) -> list[list[str]]:
    """Rows ``N, value per method``, then the fitted exponent and the range of N it was fitted over."""
    settings = report["settings"]
    rows = [
        [str(n)] + [cell_text(report["results"][m][str(n)], key) for m in settings["methods"]]
        for n in settings["lengths"]
    ]
    if exponent_key is not None:
        spans = report.get(f"{exponent_key}_range", {})

        def span(method: str) -> str:
            found = spans.get(method)
            return f"{found[0]}-{found[1]}" if found else "none (does not grow)"

        rows.append(["k (fit)"] + [fmt(report[exponent_key][m], ".2f") for m in settings["methods"]])
        rows.append(["fitted over N"] + [span(m) for m in settings["methods"]])
    return rows


def markdown(report: dict[str, Any]) -> str:
    env, settings = report["environment"], report["settings"]
    lines = [
        "# Attention benchmark: forward + backward",
        "",
        f"- machine: {describe_machine(env)}",
        f"- dtype {settings['dtype']}, d_model {settings['d_model']}, batch {settings['batch']}, heads {settings['heads']}, "
        f"causal {settings['causal']}; median of {settings['repeats']} timed passes after {settings['warmup']} warm-up",
        f"- command: `{env['command']}` ({env['date']})",
        "- saved activations: bytes of the tensors autograd keeps for backward (parameters excluded)",
        "- k (fit): least-squares slope of log(value) on log(N), i.e. value ~ N^k, over the lengths where the "
        f"value grows (each >= {GROWTH}x the previous; the range is given under it)",
        f"- time cells: median (min-max) of the timed passes; ! marks a spread above {NOISY_SPREAD:.0%} of the median",
        f"- load average before / after: {_load_text(report['load']['before'])} / {_load_text(report['load']['after'])}",
        "",
    ]
    lines += [f"**Warning:** {w}" for w in report.get("warnings", [])]
    if report.get("warnings"):
        lines.append("")
    for key, title, exponent_key in TABLES:
        if key == "peak_mib" and env["device"].split(":")[0] != "cuda":
            continue
        lines += [
            f"## {title}",
            "",
            markdown_table(["N", *settings["methods"]], table_rows(report, key, exponent_key)),
            "",
        ]
    return "\n".join(lines)


def _load_text(load: dict[str, Any]) -> str:
    value = load.get("load_1min")
    return f"{value:.2f} on {load['cores']} cores" if value is not None else "unknown"


def plot(report: dict[str, Any], path: Path) -> Path:
    """Time and memory against N, log-log, one line per method."""
    lengths = report["settings"]["lengths"]
    panels = [
        (k, t) for k, t, _ in TABLES if k != "peak_mib" or report["environment"]["device"].split(":")[0] == "cuda"
    ]
    fig = new_figure(5.0 * len(panels), 4.0)
    for i, (key, label) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        for method in report["settings"]["methods"]:
            points = [(n, report["results"][method][str(n)].get(key)) for n in lengths]
            points = [(n, v) for n, v in points if v]
            if points:
                ax.plot(*zip(*points), marker="o", label=method)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("sequence length N")
        ax.set_title(label, fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    return save_figure(fig, path)


def progress_to_stderr(line: str) -> None:
    print(line, file=sys.stderr)


def write_attention_report(report: dict[str, Any], out_dir: Path) -> str:
    """``report.json``, ``report.md`` and ``scaling.png`` in ``out_dir``; returns the markdown."""
    from attn.bench.report import write_report

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    text = markdown(report)
    write_report(out_dir, report, text)
    plot(report, out_dir / "scaling.png")
    return text
