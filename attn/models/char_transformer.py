"""`char-transformer`: a GPT-style decoder over characters.

Token and learned position embeddings, pre-LayerNorm blocks of causal
:class:`~attn.attention.MultiHeadAttention` and a GELU MLP, dropout, and an output head tied to
the token embedding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from attn.attention import MultiHeadAttention
from attn.errors import RecipeError
from attn.models.registry import register_model
from attn.schema import option


@dataclass
class CharTransformerConfig:
    """The ``model`` section of a char-transformer recipe."""

    n_layer: int = option(6, help="transformer blocks", min=1)
    n_head: int = option(6, help="attention heads per block (must divide d_model)", min=1)
    d_model: int = option(384, help="width of the residual stream", min=1)
    block_size: int = option(256, help="context length in characters", min=1)
    dropout: float = option(
        0.2, help="dropout on embeddings, attention weights and residual branches", min=0, max=1, max_exclusive=True
    )
    bias: bool = option(False, help="biases in linear layers and LayerNorms")
    attention: Literal["sdpa", "manual"] = option(
        "sdpa", help="sdpa: torch's fused kernels; manual: the from-scratch path"
    )

    def validate(self, section: str) -> None:
        if self.d_model % self.n_head:
            raise RecipeError(
                f"recipe key '{section}.d_model' ({self.d_model}) must be divisible by "
                f"'{section}.n_head' ({self.n_head})"
            )


class MLP(nn.Module):
    def __init__(self, d_model: int, dropout: float, bias: bool):
        super().__init__()
        self.fc1 = nn.Linear(d_model, 4 * d_model, bias=bias)
        self.fc2 = nn.Linear(4 * d_model, d_model, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.fc2(F.gelu(self.fc1(x))))


class Block(nn.Module):
    """Pre-LayerNorm transformer block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, cfg: CharTransformerConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.d_model, bias=cfg.bias)
        self.attn = MultiHeadAttention(
            cfg.d_model,
            cfg.n_head,
            dropout=cfg.dropout,
            bias=cfg.bias,
            backend=cfg.attention,
            validate_inputs=False,
        )
        self.resid_dropout = nn.Dropout(cfg.dropout)
        self.ln2 = nn.LayerNorm(cfg.d_model, bias=cfg.bias)
        self.mlp = MLP(cfg.d_model, cfg.dropout, cfg.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        attended, _ = self.attn(self.ln1(x), causal=True)
        x = x + self.resid_dropout(attended)
        return x + self.mlp(self.ln2(x))


class CharTransformer(nn.Module):
    """Maps token ids (B, T) to next-character logits (B, T, vocab_size)."""

    def __init__(self, cfg: CharTransformerConfig, vocab_size: int):
        super().__init__()
        self.cfg = cfg
        self.block_size = cfg.block_size
        self.tok_emb = nn.Embedding(vocab_size, cfg.d_model)
        self.pos_emb = nn.Embedding(cfg.block_size, cfg.d_model)
        self.dropout = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.d_model, bias=cfg.bias)
        self.head = nn.Linear(cfg.d_model, vocab_size, bias=False)
        self.head.weight = self.tok_emb.weight  # tied input/output embeddings
        self.apply(self._init_weights)
        # GPT-2 scaling: residual projections shrink with depth.
        for name, param in self.named_parameters():
            if name.endswith(("out_proj.weight", "fc2.weight")):
                nn.init.normal_(param, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        _, t = idx.shape
        if t > self.block_size:
            raise ValueError(f"sequence of {t} tokens is longer than block_size {self.block_size}")
        pos = torch.arange(t, device=idx.device)
        x = self.dropout(self.tok_emb(idx) + self.pos_emb(pos))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))

    def num_params(self, non_embedding: bool = False) -> int:
        """Parameter count (tied weights once); without position embeddings if non_embedding."""
        n = sum(p.numel() for p in self.parameters())
        return n - self.pos_emb.weight.numel() if non_embedding else n

    def flops_per_token(self, seq_len: int | None = None) -> float:
        """Training FLOPs per token (forward + backward), PaLM appendix B convention.

        6 * N (N = parameters without the position embedding, head included as it is tied)
        plus 12 * n_layer * d_model * T for attention scores and values, counting the full
        T x T matrix even though causal kernels skip about half of it.
        """
        t = seq_len or self.block_size
        return 6 * self.num_params(non_embedding=True) + 12 * self.cfg.n_layer * self.cfg.d_model * t


@register_model(
    "char-transformer",
    task="text",
    config=CharTransformerConfig,
    description="GPT-style character transformer (pre-LayerNorm, causal multi-head attention, tied embeddings)",
)
def build_char_transformer(cfg: CharTransformerConfig, *, vocab_size: int) -> CharTransformer:
    return CharTransformer(cfg, vocab_size)
