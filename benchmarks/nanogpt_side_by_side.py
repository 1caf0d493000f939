"""Training throughput of nanoGPT and of `attn train shakespeare_char`, in one call on one GPU (issue #13).

nanoGPT (karpathy/nanoGPT, `train.py config/train_shakespeare_char.py`: 6 x 384, block 256, batch 64,
bf16 autocast, torch.compile) and this toolkit's reference recipe train the same model size on the
same characters. Both are timed the same way, from outside: the moment each progress line arrives
(nanoGPT's `iter N:` lines, which follow a `loss.item()` sync; this toolkit's summary counts its own
steps after the first five), tokens per second between the first line after --skip iterations and
the last line. Each side runs as its own fresh process with a fresh torch.compile cache.

    # here, once: a nanoGPT checkout with the bundled tinyshakespeare encoded as its prepare.py does
    python benchmarks/nanogpt_side_by_side.py prepare --git /work/.mirror/karpathy+nanoGPT/repo --to .nanogpt
    # on the GPU machine (carry .nanogpt):
    python benchmarks/nanogpt_side_by_side.py run --nanogpt .nanogpt --iters 400 --out OUT
"""

from __future__ import annotations

import argparse
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from gpu import THROUGHPUT, THROUGHPUT_STEPS, run_experiment
from train_process import write_report

TOKENS_PER_ITER = 64 * 256
NANOGPT_FILES = ["model.py", "train.py", "configurator.py", "config/train_shakespeare_char.py"]
ITER_LINE = re.compile(r"^iter (\d+): loss ([0-9.]+), time ([0-9.]+)ms, mfu (-?[0-9.]+)%")
CORPUS = Path(__file__).resolve().parents[1] / "attn" / "datasets" / "corpora" / "tinyshakespeare.txt"


def prepare(git_dir: Path, dest: Path) -> None:
    """Copy nanoGPT's training files out of a bare git directory and encode the corpus as its prepare.py."""
    for name in NANOGPT_FILES:
        text = subprocess.run(
            ["git", "-C", str(git_dir), "show", f"HEAD:{name}"], check=True, capture_output=True, text=True
        ).stdout
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        (dest / name).write_text(text)
    data = CORPUS.read_text()
    chars = sorted(set(data))
    stoi = {ch: i for i, ch in enumerate(chars)}
    split = int(len(data) * 0.9)
    out = dest / "data" / "shakespeare_char"
    out.mkdir(parents=True, exist_ok=True)
    np.array([stoi[c] for c in data[:split]], dtype=np.uint16).tofile(out / "train.bin")
    np.array([stoi[c] for c in data[split:]], dtype=np.uint16).tofile(out / "val.bin")
    with open(out / "meta.pkl", "wb") as f:
        pickle.dump({"vocab_size": len(chars), "itos": dict(enumerate(chars)), "stoi": stoi}, f)
    print(f"nanoGPT files and {len(data):,} characters ({len(chars)} symbols) in {dest}")


def run_nanogpt(nanogpt: Path, iters: int, skip: int, timeout: float, extra: list[str]) -> dict:
    """nanoGPT's train.py for ``iters`` iterations (no evaluation after step 0), timed by its log lines' arrival."""
    work = Path(tempfile.mkdtemp(prefix="nanogpt-"))
    shutil.copytree(nanogpt, work, dirs_exist_ok=True)
    cache = work / "inductor"
    command = [
        sys.executable, "-u", "train.py", "config/train_shakespeare_char.py", f"--max_iters={iters}",
        f"--lr_decay_iters={iters}", "--eval_interval=1000000", "--eval_iters=1", "--log_interval=50",
        "--always_save_checkpoint=False", *extra,
    ]  # fmt: skip
    env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(cache), "PYTHONUNBUFFERED": "1"}
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    killer = threading.Timer(timeout, proc.kill)  # also when it hangs without printing
    killer.start()
    arrivals: list[tuple[int, float, float, float]] = []  # (iter, seconds since start, loss, mfu %)
    lines: list[str] = []
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            lines.append(line.rstrip())
            if match := ITER_LINE.match(line):
                arrivals.append((int(match[1]), time.perf_counter() - start, float(match[2]), float(match[4])))
        proc.wait()
        wall = time.perf_counter() - start
    finally:
        killer.cancel()
        shutil.rmtree(work, ignore_errors=True)
    if wall >= timeout:
        return {"name": "nanoGPT", "error": f"timed out after {timeout:g} s"}
    timed = [a for a in arrivals if a[0] >= skip]
    if proc.returncode != 0 or len(timed) < 2:
        return {"name": "nanoGPT", "error": "\n".join(lines[-5:]) or f"exit code {proc.returncode}"}
    (i0, t0, _, _), (i1, t1, loss, mfu) = timed[0], timed[-1]
    return {
        "name": "nanoGPT",
        "tok_per_s": (i1 - i0) * TOKENS_PER_ITER / (t1 - t0),
        "first_line_s": arrivals[0][1],
        "last_loss": loss,
        "mfu_own": mfu / 100,
        "process_wall_s": wall,
        "log": lines,
    }


def run_attn(variant: str, iters: int, workdir: Path, timeout: float) -> dict:
    """`attn train shakespeare_char` with a throughput variant of benchmarks/gpu.py for ``iters`` steps."""
    steps = [o for o in THROUGHPUT_STEPS if not o.startswith("train.max_steps")] + [f"train.max_steps={iters}"]
    result = run_experiment(variant, "shakespeare_char", [*THROUGHPUT[variant], *steps], workdir, int(timeout))
    if "error" in result:
        return {"name": f"attn {variant}", "error": result["error"]}
    s = result["summary"]
    return {
        "name": f"attn {variant}",
        "tok_per_s": s["tok_per_s"],
        "first_line_s": s.get("setup_s", float("nan")) + s.get("warmup_s", float("nan")),
        "last_loss": (s.get("final") or {}).get("train_loss", float("nan")),
        "mfu_own": s.get("mfu", float("nan")),
        "process_wall_s": s["process_wall_s"],
    }


def table(rows: list[dict]) -> str:
    base = next((r["tok_per_s"] for r in rows if r["name"] == "nanoGPT" and "tok_per_s" in r), None)
    out = [
        "| run | M tokens/s | vs nanoGPT | MFU (each tool's own count*) | first progress (s) | process wall (s) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if "error" in r:
            out.append(f"| {r['name']} | failed: {r['error'].splitlines()[-1][:100]} | | | | |")
            continue
        ratio = f"{r['tok_per_s'] / base:.2f}x" if base else "-"
        out.append(
            f"| {r['name']} | {r['tok_per_s'] / 1e6:.3f} | {ratio} | {100 * r['mfu_own']:.1f}% "
            f"| {r['first_line_s']:.1f} | {r['process_wall_s']:.1f} |"
        )
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    prep = sub.add_parser("prepare", help="copy nanoGPT's files and encode the bundled corpus")
    prep.add_argument("--git", type=Path, required=True, help="a bare git directory of karpathy/nanoGPT")
    prep.add_argument("--to", type=Path, required=True)
    run = sub.add_parser("run", help="time nanoGPT and this toolkit, one process each")
    run.add_argument("--nanogpt", type=Path, required=True, help="the folder `prepare` wrote")
    run.add_argument("--iters", type=int, default=400)
    run.add_argument("--skip", type=int, default=100, help="iterations before timing starts (compile, settle)")
    run.add_argument("--variants", default="compile-cudagraphs,eager-graphs", help="benchmarks/gpu.py throughput rows")
    run.add_argument("--timeout", type=float, default=200)
    run.add_argument("--out", type=Path, default=None)
    run.add_argument(
        "--nanogpt-args",
        default="",
        help="more nanoGPT options, e.g. '--device=cpu --compile=False' (not batch_size or block_size: tokens/s "
        "counts 64 x 256 per iteration)",
    )
    args = parser.parse_args()
    if args.command == "prepare":
        prepare(args.git, args.to)
        return
    workdir = Path(tempfile.mkdtemp(prefix="side-by-side-"))
    rows = [run_nanogpt(args.nanogpt, args.iters, args.skip, args.timeout, args.nanogpt_args.split())]
    print(table(rows), flush=True)
    rows += [run_attn(v, args.iters, workdir, args.timeout) for v in args.variants.split(",") if v]
    shutil.rmtree(workdir, ignore_errors=True)
    text = (
        f"{args.iters} iterations of 64 x 256 tokens each side; tokens/s from iteration {args.skip} on.\n\n"
        + table(rows)
        + "\n\n*nanoGPT counts against an A100's 312 TFLOP/s; this toolkit against the device's own dense bf16 peak. "
        "First progress: nanoGPT's first `iter` line after process start; this toolkit's set-up plus warm-up steps.\n"
    )
    print(text)
    if args.out:
        write_report(args.out, "nanogpt_side_by_side", text, rows)


if __name__ == "__main__":
    main()
