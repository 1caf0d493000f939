"""One attention layer against one LSTM layer: the memory comparison of the original seeds.

At sequence length 128, width 256 and batch 4 (fp32, training mode): one causal
``MultiHeadAttention(256, 8)`` (sdpa, its default backend, and the manual matmul+softmax path)
against one ``nn.LSTM(256, 256, batch_first=True)``. Measured with the attention bench's
:func:`attn.bench.attention.measure`: activation memory saved for backward (saved-tensor hooks,
parameters excluded), peak CUDA memory above the baseline on GPU, and the median
forward+backward time.
"""

from __future__ import annotations

from typing import Any

import torch

from attn.bench.attention import AttentionSettings, build, measure

LAYER_LENGTH, LAYER_WIDTH, LAYER_HEADS, LAYER_BATCH = 128, 256, 8, 4
LAYERS = {
    "attention_sdpa": ("sdpa", "attention, sdpa"),
    "attention_manual": ("manual", "attention, manual"),
    "lstm": ("lstm", "LSTM"),
}

LAYER_DEFINITIONS = (
    "attention: one causal MultiHeadAttention(256, 8) with its sdpa backend (torch's fused kernels) "
    "and with the manual matmul + softmax backend; LSTM: one nn.LSTM(256, 256, batch_first=True)"
)


def layer_comparison(device: torch.device, repeats: int = 10, warmup: int = 2) -> dict[str, Any]:
    """Saved activations, CUDA peak and time of one attention and one LSTM layer (see the module docstring)."""
    settings = AttentionSettings(
        device=str(device),
        lengths=[LAYER_LENGTH],
        d_model=LAYER_WIDTH,
        batch=LAYER_BATCH,
        heads=LAYER_HEADS,
        repeats=repeats,
        warmup=warmup,
        causal=True,
        methods=[method for method, _ in LAYERS.values()],
    )
    settings.validate()
    results = {}
    for key, (method, label) in LAYERS.items():
        module, _ = build(method, LAYER_WIDTH, LAYER_HEADS, causal=True)
        results[key] = {
            "layer": label,
            "parameters": sum(p.numel() for p in module.parameters()),
            **measure(method, LAYER_LENGTH, settings),
        }
    return {
        "layers": LAYER_DEFINITIONS,
        "settings": {
            "length": LAYER_LENGTH,
            "d_model": LAYER_WIDTH,
            "heads": LAYER_HEADS,
            "batch": LAYER_BATCH,
            "dtype": settings.dtype,
            "device": str(device),
            "repeats": repeats,
            "warmup": warmup,
        },
        "results": results,
    }
