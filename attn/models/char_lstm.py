"""`char-lstm`: the baseline the transformer has to beat.

Embedding, a multi-layer ``nn.LSTM`` (cuDNN on GPU), dropout and a linear head; trained by the
same trainer on the same batches as the transformer.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from attn.models.registry import register_model
from attn.schema import option


@dataclass
class CharLSTMConfig:
    """The ``model`` section of a char-lstm recipe."""

    n_layer: int = option(2, help="stacked LSTM layers", min=1, max=1000)
    d_embed: int = option(384, help="width of the character embedding", min=1)
    hidden_size: int = option(896, help="LSTM hidden units per layer", min=1)
    block_size: int = option(256, help="characters per training window (the LSTM itself has no context limit)", min=1)
    dropout: float = option(
        0.2, help="dropout after the embedding, between layers and before the head", min=0, max=1, max_exclusive=True
    )


class CharLSTM(nn.Module):
    """Maps token ids (B, T) to next-character logits (B, T, vocab_size)."""

    def __init__(self, cfg: CharLSTMConfig, vocab_size: int):
        super().__init__()
        self.cfg = cfg
        self.block_size = cfg.block_size
        self.embed = nn.Embedding(vocab_size, cfg.d_embed)
        self.dropout = nn.Dropout(cfg.dropout)
        self.lstm = nn.LSTM(
            cfg.d_embed,
            cfg.hidden_size,
            num_layers=cfg.n_layer,
            batch_first=True,
            dropout=cfg.dropout if cfg.n_layer > 1 else 0.0,
        )
        self.head = nn.Linear(cfg.hidden_size, vocab_size)

    def forward(self, idx: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        logits, _ = self.forward_with_state(idx, state)
        return logits

    def forward_with_state(
        self, idx: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Logits and the final (h, c) state, for generation one character at a time."""
        out, state = self.lstm(self.dropout(self.embed(idx)), state)
        return self.head(self.dropout(out)), state

    def num_params(self, non_embedding: bool = False) -> int:
        n = sum(p.numel() for p in self.parameters())
        return n - self.embed.weight.numel() if non_embedding else n

    def flops_per_token(self, seq_len: int | None = None) -> float:
        """Training FLOPs per token (forward + backward): 6 per weight of the LSTM and head."""
        return 6 * self.num_params(non_embedding=True)


@register_model(
    "char-lstm",
    task="text",
    config=CharLSTMConfig,
    description="character LSTM baseline (embedding, stacked nn.LSTM, linear head)",
)
def build_char_lstm(cfg: CharLSTMConfig, *, vocab_size: int) -> CharLSTM:
    return CharLSTM(cfg, vocab_size)
