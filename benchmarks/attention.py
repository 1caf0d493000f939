"""Benchmark attention implementations: forward+backward time and memory against sequence length.

A thin command-line wrapper over :mod:`attn.bench.attention` (the same measurement as
``attn bench attention``; see that module and docs/bench.md for how it measures). Writes
``report.md``, ``report.json`` and ``scaling.png`` to ``--out`` when given.

Example: ``python benchmarks/attention.py --device cuda --out benchmarks/results/attention``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from attn.bench.attention import (  # noqa: F401  (re-exported for callers of this script)
    ALL_METHODS,
    DTYPES,
    METHODS,
    AttentionSettings,
    build,
    estimated_bytes,
    markdown,
    measure,
    plot,
    progress_to_stderr,
    run_attention_bench,
    write_attention_report,
)
from attn.bench.measure import SavedActivations, fit_exponent, is_oom  # noqa: F401
from attn.bench.report import bench_environment, command_line


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--lengths", default=",".join(map(str, AttentionSettings().lengths)), help="comma-separated sequence lengths"
    )
    parser.add_argument("--d-model", type=int, default=256)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="float32")
    parser.add_argument("--causal", action="store_true", help="causal masking for the dense methods")
    parser.add_argument(
        "--methods", default=",".join(METHODS), help=f"comma-separated subset of {','.join(ALL_METHODS)}"
    )
    parser.add_argument("--out", type=Path, default=None, help="directory for report.md, report.json and scaling.png")
    args = parser.parse_args(argv)
    args.argv = list(argv) if argv is not None else sys.argv[1:]
    try:
        lengths = [int(n) for n in args.lengths.split(",") if n.strip()]
    except ValueError:
        parser.error(f"--lengths must be comma-separated integers, got {args.lengths!r}")
    args.settings = AttentionSettings(
        device=args.device,
        lengths=lengths,
        d_model=args.d_model,
        batch=args.batch,
        heads=args.heads,
        repeats=args.repeats,
        warmup=args.warmup,
        dtype=args.dtype,
        causal=args.causal,
        methods=[m.strip() for m in args.methods.split(",") if m.strip()],
    )
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda but CUDA is not available")
    try:
        args.settings.validate()
    except ValueError as err:
        parser.error(str(err))
    return args


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse_args(argv)
    command = command_line("python", "benchmarks/attention.py", *args.argv)
    report = run_attention_bench(
        args.settings, bench_environment(torch.device(args.device), command), progress=progress_to_stderr
    )
    print(markdown(report))
    if args.out is not None:
        write_attention_report(report, args.out)
    return report


if __name__ == "__main__":
    main()
