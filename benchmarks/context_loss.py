"""What `attn generate --window shift` costs in quality: validation loss by the context a character is read with.

With the default sliding window every generated character past the first ``block_size`` is predicted
from a full context of ``block_size`` characters. With ``--window shift`` the context grows from half
the window to all of it and starts again, so each prediction sees ``block_size // 2 + 1`` to
``block_size`` characters, evenly. This script reads windows of ``block_size`` characters from the
run's validation split (every ``--stride`` characters) and reports the mean cross-entropy of the
last position (the full context: slide) and the mean over the positions from ``block_size // 2`` to
the last (shift), in nats per character, from the run's best checkpoint.

    python benchmarks/context_loss.py RUN_DIR [--stride 3] [--device cpu]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch.nn import functional as F

from attn.datasets.text import load_text_data
from attn.inference import load_trained


@torch.no_grad()
def loss_by_position(run_dir: Path, stride: int, device: str, batch: int = 64) -> tuple[torch.Tensor, int]:
    """Mean cross-entropy at each position of the validation windows (position p has p + 1 characters of
    context), and how many windows were read."""
    trained = load_trained(run_dir, "best", device)
    block = trained.model.block_size
    data = load_text_data(trained.recipe.data, block, trained.vocab)
    val = torch.from_numpy(data.corpora[0].val.astype("int64"))
    starts = torch.arange(0, len(val) - block - 1, stride)
    total = torch.zeros(block, dtype=torch.float64)
    for chunk in starts.split(batch):
        rows = torch.stack([val[s : s + block + 1] for s in chunk.tolist()]).to(device)
        logits = trained.model(rows[:, :-1]).float()
        losses = F.cross_entropy(logits.transpose(1, 2), rows[:, 1:], reduction="none")
        total += losses.sum(dim=0).double().cpu()
    return total / len(starts), len(starts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--stride", type=int, default=3, help="characters between the starts of two windows")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    per_position, windows = loss_by_position(args.run_dir, args.stride, args.device)
    block = len(per_position)
    slide = float(per_position[-1])
    shift = float(per_position[block // 2 :].mean())
    print(f"{args.run_dir}: block_size {block}, {windows:,} validation windows")
    print("| context | mean loss (nats/char) |\n|---|---:|")
    print(f"| the full window, {block} characters (--window slide) | {slide:.4f} |")
    print(f"| {block // 2 + 1} to {block} characters, evenly (--window shift) | {shift:.4f} ({shift - slide:+.4f}) |")
    print(
        f"| 1 to {block} characters (every position of a window, as the validation loss) | {per_position.mean():.4f} |"
    )


if __name__ == "__main__":
    main()
