"""Which braindecode models build as eeg-braindecode peers, their sizes and CPU forward speed.

    python benchmarks/braindecode_zoo.py [--archs EEGNeX,EEGNet,...] [--batch 64] [--repeats 5]

Needs braindecode (a venv where it imports: docs/DEVELOPING.md). For each arch: built through
the registry exactly as a recipe would (129 channels, 200 samples, 100 Hz, one output),
parameter count, and the median wall time of an eval-mode forward on a batch of random windows
(after one warm-up), on the CPU with the current torch thread count. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from attn.models import eeg_braindecode
from attn.models.registry import build_model
from attn.schema import build_section

PEERS = ["EEGNeX", "EEGNet", "ShallowFBCSPNet", "Deep4Net", "EEGConformer", "ATCNet", "CTNet"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", default=",".join(PEERS))
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.manual_seed(0)
    x = torch.randn(args.batch, 129, 200)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), batch {args.batch}, CPU\n")
    print("| arch | builds | parameters | forward ms (median) |")
    print("|---|---|---|---|")
    for arch in args.archs.split(","):
        cfg = build_section(eeg_braindecode.EEGBraindecodeConfig, {"arch": arch}, "model")
        try:
            model = build_model("eeg-braindecode", cfg, n_channels=129, n_times=200).eval()
        except Exception as err:  # noqa: BLE001
            print(f"| {arch} | no: {str(err)[:120]} | | |")
            continue
        n_params = sum(p.numel() for p in model.parameters())
        times = []
        with torch.no_grad():
            model(x)
            for _ in range(args.repeats):
                start = time.perf_counter()
                out = model(x)
                times.append(time.perf_counter() - start)
        assert out.shape == (args.batch,)
        print(f"| {arch} | yes | {n_params:,} | {1000 * statistics.median(times):.1f} |")


if __name__ == "__main__":
    main()
