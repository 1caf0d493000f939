"""Start-up and time to quality of `attn train`, and first-character latency of `attn generate`.

For one recipe (default shakespeare_char_fast) it runs `python -m attn train` as separate processes:
``cold`` (an empty torch.compile cache), ``warm`` (the same cache again), ``warm, no dynamo
preload`` (ATTN_PRELOAD_DYNAMO=0: the optimizer imports torch._dynamo itself) and three runs with
torch's bytecode cached under the work folder or compiled from source in the process (see
:func:`variants`), and prints each one's
start-up profile (summary.json's setup_phases_s), warm-up, and the time from process start to a
whole-split validation loss <= --target. Then `python -X importtime` of torch and torch._dynamo,
and `attn generate` from the warm run: the time to its first character (the start-up profile that
ATTN_PROFILE_STARTUP=1 prints) and the whole command, on each device, repeated (median, min, max).

    python benchmarks/startup.py                                  # shakespeare_char_fast
    python benchmarks/startup.py --recipe shakespeare_char_cpu --devices cpu -- train.max_steps=200
    python benchmarks/startup.py --recipe shakespeare_char -- train.compile=true train.max_steps=300
    python benchmarks/startup.py --out $OUT                       # also writes startup.md and startup.json
    python benchmarks/startup.py --recipe shakespeare_char_sprint --run cold --run warm --run warm   # two warm

Run it on an otherwise idle machine: every number is one process's wall clock.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gpu import run_experiment
from train_process import write_report

PROFILE_LINE = re.compile(r"start-up \(s, [^)]*\): ([0-9.]+) = (.*); exit at ([0-9.]+)")


def variants(workdir: Path) -> dict[str, dict[str, str]]:
    """Each training run's extra environment. The bytecode rows: torch's modules loaded from a bytecode cache
    under the work folder (the first of them writes it), and compiled from source in the process (as where
    PYTHONDONTWRITEBYTECODE=1 meets an install without .pyc files, like the lent GPU image)."""
    cached = {"PYTHONDONTWRITEBYTECODE": "", "PYTHONPYCACHEPREFIX": str(workdir / "pycache")}
    return {
        "cold": {},
        "warm": {},
        "warm, no dynamo preload": {"ATTN_PRELOAD_DYNAMO": "0"},
        "bytecode cache being written": cached,
        "warm, bytecode cached": cached,
        "warm, no bytecode cache": {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": str(workdir / "empty")},
    }


def time_to_target(result: dict, target: float) -> str:
    """Process start to a whole-split val loss <= target (the final evaluation of the best checkpoint)."""
    s = result["summary"]
    full = s.get("best_checkpoint_eval", {})
    if full.get("full_split") and full.get("val_loss") is not None:
        reached = "yes" if full["val_loss"] <= target else "no"
        return f"{s['process_wall_s']:.1f} ({reached}: {full['val_loss']:.4f})"
    sampled = [m for m in result["metrics"] if m["kind"] == "eval" and m.get("val_loss", 9e9) <= target]
    if sampled:  # no whole-split evaluation: the first sampled one that reached it
        return f"{s['setup_s'] + sampled[0]['elapsed_s']:.1f} (sampled {sampled[0]['val_loss']:.4f})"
    return "-"


def train_rows(results: list[dict], target: float) -> str:
    lines = [
        "| run | torch bytecode cached | set-up before step 1 (s) | warm-up, first 5 steps (s) | process wall (s) "
        f"| process start to whole-split val <= {target} (s) | outside wall (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['name']} | error: {r['error'].strip().splitlines()[-1][:100]} | | | | | |")
            continue
        s = r["summary"]
        phases = ", ".join(f"{k} {v:.2f}" for k, v in s.get("setup_phases_s", {}).items())
        lines.append(
            f"| {r['name']} | {s.get('torch_bytecode_cached', '-')} | {s['setup_s']:.2f} ({phases}) | {s['warmup_s']:.2f} | {s['process_wall_s']:.1f} "
            f"| {time_to_target(r, target)} | {r['outside_wall_s']:.1f} |"
        )
    return "\n".join(lines)


def import_times() -> str:
    """`python -X importtime`: torch, then torch._dynamo on top of it (cumulative seconds), and their largest parts."""
    code = "import torch; import torch._dynamo"
    err = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True).stderr
    rows = []
    for line in err.splitlines():
        parts = line.split("|")
        if line.startswith("import time:") and len(parts) == 3 and parts[1].strip().isdigit():
            rows.append((int(parts[1]) / 1e6, len(parts[2]) - len(parts[2].lstrip()), parts[2].strip()))
    top = {name: seconds for seconds, depth, name in rows if depth == 1}
    children = sorted(((s, n) for s, d, n in rows if d == 3), reverse=True)[:8]
    largest = ", ".join(f"{n} {s:.2f}" for s, n in children)
    return (
        f"import torch: {top.get('torch', 0):.2f} s; then import torch._dynamo: {top.get('torch._dynamo', 0):.2f} s "
        f"(python -X importtime, one process)\nlargest parts: {largest}"
    )


def generate_latency(
    run_dir: str, device: str, repeats: int, extra_env: dict[str, str] | None = None, label: str | None = None
) -> dict:
    """`attn generate RUN` repeated: first character (the process's own clock) and the whole command.

    ``extra_env``: added to the environment; ``label``: the row's name (default: the device)."""
    command = [sys.executable, "-m", "attn", "generate", run_dir, "--prompt", "To be", "--length", "20"]
    command += ["--random-seed", "1", "--device", device]
    env = {**os.environ, "ATTN_PROFILE_STARTUP": "1", **(extra_env or {})}
    first, whole, profile = [], [], ""
    for _ in range(repeats):
        start = time.perf_counter()
        proc = subprocess.run(command, env=env, capture_output=True, text=True)
        whole.append(time.perf_counter() - start)
        match = PROFILE_LINE.search(proc.stderr)
        if proc.returncode != 0 or not match:
            return {"device": label or device, "error": proc.stderr[-500:]}
        first.append(float(match.group(1)))
        profile = match.group(2)
    return {"device": label or device, "first_char_s": first, "command_s": whole, "last_profile": profile}


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} (min {min(values):.2f}, max {max(values):.2f})"


def generate_rows(results: list[dict]) -> str:
    lines = ["| device | first character (s) | whole command (s) | last profile |", "|---|---|---|---|"]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['device']} | error: {r['error'].strip().splitlines()[-1][:100]} | | |")
        else:
            lines.append(
                f"| {r['device']} | {spread(r['first_char_s'])} | {spread(r['command_s'])} | {r['last_profile']} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="shakespeare_char_fast")
    parser.add_argument("--target", type=float, default=1.47, help="validation loss for time to quality")
    parser.add_argument("--devices", default="auto,cpu", help="comma-separated devices for attn generate")
    parser.add_argument("--generate-repeats", type=int, default=5)
    parser.add_argument("--timeout", type=int, default=600)
    parser.add_argument(
        "--run",
        dest="runs",
        action="append",
        default=None,
        help="a training run (repeatable, in order; a name given again repeats it); default: every one of "
        "variants(), the first of which is cold",
    )
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("overrides", nargs="*", help="recipe overrides for every training run")
    args = parser.parse_intermixed_args()

    workdir = Path(tempfile.mkdtemp(prefix="attn-startup-"))
    cache = workdir / "inductor"  # cold for the first run, warm for the later ones
    trains = []
    known = variants(workdir)
    names = args.runs or list(known)
    unknown = sorted(set(names) - set(known))
    if unknown:
        parser.error(f"--run: unknown {', '.join(unknown)} (known: {'; '.join(known)})")
    for name in names:
        env = known[name]
        trains.append(run_experiment(name, args.recipe, args.overrides, workdir, args.timeout, cache=cache, env=env))
        print(f"{name}: done", file=sys.stderr, flush=True)
    report: list[str] = []
    generation: list[dict] = []

    def publish(*section: str) -> None:
        """Print a section as soon as it is measured and rewrite the report, so a timed-out call keeps it."""
        report.extend(section)
        print("\n".join(section), flush=True)
        if args.out:
            write_report(args.out, "startup", "\n".join(report), {"train": trains, "generate": generation})

    command = f"attn train {args.recipe} {' '.join(args.overrides)}".rstrip()
    publish(f"## start-up of `{command}`", "", train_rows(trains, args.target))
    publish("", import_times())
    warm = next((r for r in trains if r["name"] == "warm" and "error" not in r), None)
    if warm is not None:
        cached = variants(workdir)["warm, bytecode cached"]
        for device in args.devices.split(","):
            generation.append(generate_latency(warm["run_dir"], device, args.generate_repeats))
            label = f"{device}, bytecode cached"
            generation.append(generate_latency(warm["run_dir"], device, args.generate_repeats, cached, label))
        publish(
            "", f"## `attn generate` from the warm run ({args.generate_repeats} repeats)", "", generate_rows(generation)
        )
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
