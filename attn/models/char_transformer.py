"""`char-transformer`: a GPT-style decoder over characters, laid out like nanoGPT's model.py.

Token embeddings (plus a learned position table, or rotary embeddings on queries and keys), a stack
of pre-norm blocks (causal self-attention, then an MLP, each on a residual branch), a final norm and
an output head. Recipe keys choose the variants (see :class:`CharTransformerConfig`); the defaults
are the original model (learned positions, LayerNorm, GELU MLP, head tied to the token embedding),
and its checkpoints load unchanged: the parameter names are the same as before these options.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from attn.attention import scaled_dot_product_attention
from attn.attention.positional import rotary
from attn.errors import RecipeError
from attn.models.registry import register_model
from attn.schema import option

NORM_EPS = 1e-5  # LayerNorm's default, used for every RMSNorm too (also under low-precision autocast)


def swiglu_hidden(d_model: int) -> int:
    """SwiGLU hidden width: ``8/3 * d_model`` rounded to the nearest multiple of 8 (at least 8).

    Its three ``d_model x hidden`` matrices then hold about the ``8 * d_model^2`` weights of the GELU
    MLP's two ``d_model x 4 d_model`` ones: exactly when ``d_model`` is a multiple of 3, otherwise
    within ``8 * d_model`` per block.
    """
    return 8 * max(1, round(d_model / 3))


@dataclass
class CharTransformerConfig:
    """The ``model`` section of a char-transformer recipe."""

    n_layer: int = option(6, help="transformer blocks", min=1, max=1000)
    n_head: int = option(6, help="attention heads per block (must divide d_model)", min=1)
    d_model: int = option(384, help="width of the residual stream", min=1)
    block_size: int = option(256, help="context length in characters", min=1)
    dropout: float = option(
        0.2, help="dropout on embeddings, attention weights and residual branches", min=0, max=1, max_exclusive=True
    )
    bias: bool = option(False, help="biases in linear layers and LayerNorms (RMSNorm has none)")
    attention: Literal["sdpa", "manual"] = option(
        "sdpa", help="sdpa: torch's fused kernels; manual: the from-scratch path"
    )
    position: Literal["learned", "rope"] = option(
        "learned",
        help="learned: a position embedding table added to the token embeddings; rope: rotary embeddings "
        "on queries and keys (Su et al. 2021), no table; rope needs an even head dim d_model/n_head",
    )
    norm: Literal["layernorm", "rmsnorm"] = option(
        "layernorm", help="the blocks' and the final norm: LayerNorm, or RMSNorm (Zhang & Sennrich 2019)"
    )
    mlp: Literal["gelu", "relu2", "swiglu"] = option(
        "gelu",
        help="gelu: d -> 4d, GELU, 4d -> d; relu2: the same with relu(x)^2 (So et al. 2021); swiglu: "
        "silu(gate(x)) * fc1(x) -> d (Shazeer 2020), hidden width 8/3*d_model rounded to a multiple of 8, "
        "about the GELU MLP's parameter count",
    )
    qk_norm: bool = option(
        False,
        help="RMSNorm over the head dim (learned gain) on queries and keys before their dot product "
        "(Henry et al. 2020; Dehghani et al. 2023)",
    )
    tie_embeddings: bool = option(
        True, help="the output head shares the token embedding's weights; false: a separate head weight"
    )
    zero_init_proj: bool = option(
        False, help="initialise the attention and MLP output projections to zero: every block starts as the identity"
    )

    def validate(self, section: str) -> None:
        if self.d_model % self.n_head:
            raise RecipeError(
                f"recipe key '{section}.d_model' ({self.d_model}) must be divisible by "
                f"'{section}.n_head' ({self.n_head})"
            )
        head_dim = self.d_model // self.n_head
        if self.position == "rope" and head_dim % 2:
            raise RecipeError(
                f"recipe key '{section}.position' is 'rope', which rotates pairs of features and needs an even "
                f"head dim, but '{section}.d_model' / '{section}.n_head' = {self.d_model} / {self.n_head} "
                f"= {head_dim}"
            )


def make_norm(cfg: CharTransformerConfig) -> nn.Module:
    """The configured norm over ``d_model``: LayerNorm (bias if ``cfg.bias``) or RMSNorm."""
    if cfg.norm == "rmsnorm":
        return nn.RMSNorm(cfg.d_model, eps=NORM_EPS)
    return nn.LayerNorm(cfg.d_model, eps=NORM_EPS, bias=cfg.bias)


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention over ``(B, T, d_model)``.

    q, k and v come from their own projections (named as in
    :class:`~attn.attention.MultiHeadAttention`: ``q_proj``, ``k_proj``, ``v_proj``, ``out_proj``),
    are split into heads, optionally RMS-normalised (``qk_norm``) and rotated (``rope``), and go to
    :func:`attn.attention.scaled_dot_product_attention` with ``causal=True``, dropout on the weights
    in training, and the configured backend. The heads are merged, projected and dropped out.

    ``weights_hook``: while a callable, every forward also computes the weights ``(B, H, T, T)``
    (manual path) and passes them to it (:func:`attn.attention.capture_attention` uses this).

    ``kv``: the layer's slice of a :class:`KVCache` for generation. The new tokens sit at positions
    ``start, start + 1, ...``: their keys and values (rotated by those absolute positions) are written
    into the cache, and their queries attend to every cached key before them.
    """

    def __init__(self, cfg: CharTransformerConfig):
        super().__init__()
        self.n_head = cfg.n_head
        self.head_dim = cfg.d_model // cfg.n_head
        self.rope = cfg.position == "rope"
        self.attn_dropout = cfg.dropout
        self.backend = cfg.attention
        self.q_proj = nn.Linear(cfg.d_model, cfg.d_model, bias=cfg.bias)
        self.k_proj = nn.Linear(cfg.d_model, cfg.d_model, bias=cfg.bias)
        self.v_proj = nn.Linear(cfg.d_model, cfg.d_model, bias=cfg.bias)
        self.out_proj = nn.Linear(cfg.d_model, cfg.d_model, bias=cfg.bias)
        self.q_norm = nn.RMSNorm(self.head_dim, eps=NORM_EPS) if cfg.qk_norm else None
        self.k_norm = nn.RMSNorm(self.head_dim, eps=NORM_EPS) if cfg.qk_norm else None
        self.resid_dropout = nn.Dropout(cfg.dropout)
        self.weights_hook: Callable[[torch.Tensor], None] | None = None

    def _heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """q, k and v of ``x`` ``(B, T, d_model)``, each ``(B, H, T, head_dim)``, normalised if ``qk_norm``."""
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.n_head, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.n_head, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.n_head, self.head_dim).transpose(1, 2)
        if self.q_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)
        return q, k, v

    def _merge(self, y: torch.Tensor) -> torch.Tensor:
        """The heads' outputs ``(B, H, T, head_dim)`` merged and projected to ``(B, T, d_model)``."""
        b, _, t, _ = y.shape
        y = y.transpose(1, 2).reshape(b, t, self.n_head * self.head_dim)
        return self.resid_dropout(self.out_proj(y))

    def forward(
        self, x: torch.Tensor, kv: tuple[torch.Tensor, torch.Tensor] | None = None, start: int = 0
    ) -> torch.Tensor:
        t = x.shape[1]
        q, k, v = self._heads(x)
        if self.rope:
            # position p turns feature pair i by p * 10000^(-2i/head_dim)
            positions = torch.arange(start, start + t, device=x.device) if start else None
            q, k = rotary(q, positions), rotary(k, positions)
        if kv is not None:
            keys, values = kv
            keys[:, :, start : start + t] = k
            values[:, :, start : start + t] = v
            k, v = keys[:, :, : start + t], values[:, :, : start + t]
        want_weights = self.weights_hook is not None
        y = scaled_dot_product_attention(
            q,
            k,
            v,
            # query t sees keys 0..t; one new token after a cache sees every cached key (a plain bool
            # without a cache, so torch.export can trace a symbolic length)
            causal=kv is None or t > 1,
            dropout_p=self.attn_dropout,
            training=self.training,
            return_weights=want_weights,
            backend=self.backend,
        )
        if want_weights:
            y, weights = y
            self.weights_hook(weights.detach())
        return self._merge(y)

    def decode(self, x: torch.Tensor, kv: tuple[torch.Tensor, torch.Tensor], position: torch.Tensor) -> torch.Tensor:
        """One new token ``x`` ``(B, 1, d_model)`` at ``position`` (a 0-dim tensor on the device), in evaluation.

        Its key and value are written into the cache's whole ``(B, H, capacity, head_dim)`` tensors ``kv``
        at that position, and its query attends to the cached keys up to it by a mask over the whole
        capacity: the same shapes and no host value at every step, so the step can be captured once as
        a CUDA graph and replayed (:class:`attn.inference.sample.CapturedStep`).
        """
        q, k, v = self._heads(x)
        if self.rope:
            q, k = rotary(q, position[None]), rotary(k, position[None])
        keys, values = kv
        keys.index_copy_(2, position[None], k)
        values.index_copy_(2, position[None], v)
        seen = (torch.arange(keys.size(2), device=x.device) <= position)[None]  # (1 query, capacity)
        return self._merge(scaled_dot_product_attention(q, keys, values, attn_mask=seen, backend=self.backend))


class MLP(nn.Module):
    """The feed-forward branch: ``gelu`` and ``relu2`` are ``fc2(act(fc1(x)))`` with a ``4 d_model``
    hidden layer (``relu2``: ``relu(h)^2``); ``swiglu`` is ``fc2(silu(gate(x)) * fc1(x))`` with
    :func:`swiglu_hidden` units. Dropout on the output."""

    def __init__(self, cfg: CharTransformerConfig):
        super().__init__()
        self.kind = cfg.mlp
        hidden = swiglu_hidden(cfg.d_model) if cfg.mlp == "swiglu" else 4 * cfg.d_model
        self.fc1 = nn.Linear(cfg.d_model, hidden, bias=cfg.bias)
        self.gate = nn.Linear(cfg.d_model, hidden, bias=cfg.bias) if cfg.mlp == "swiglu" else None
        self.fc2 = nn.Linear(hidden, cfg.d_model, bias=cfg.bias)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc1(x)
        if self.kind == "gelu":
            h = F.gelu(h)
        elif self.kind == "relu2":
            h = F.relu(h).square()
        else:
            h = F.silu(self.gate(x)) * h
        return self.dropout(self.fc2(h))


class Block(nn.Module):
    """Pre-norm transformer block: ``x + attn(ln1(x))``, then ``x + mlp(ln2(x))``."""

    def __init__(self, cfg: CharTransformerConfig):
        super().__init__()
        self.ln1 = make_norm(cfg)
        self.attn = CausalSelfAttention(cfg)
        self.ln2 = make_norm(cfg)
        self.mlp = MLP(cfg)

    def forward(
        self, x: torch.Tensor, kv: tuple[torch.Tensor, torch.Tensor] | None = None, start: int = 0
    ) -> torch.Tensor:
        x = x + self.attn(self.ln1(x), kv, start)
        return x + self.mlp(self.ln2(x))

    def decode(self, x: torch.Tensor, kv: tuple[torch.Tensor, torch.Tensor], position: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` of one token at a position held on the device (:meth:`CausalSelfAttention.decode`)."""
        x = x + self.attn.decode(self.ln1(x), kv, position)
        return x + self.mlp(self.ln2(x))


class KVCache:
    """The keys and values of the tokens a :class:`CharTransformer` has read, for generation.

    One preallocated ``(layers, batch, heads, capacity, head_dim)`` tensor each for keys and values;
    ``length`` tokens are filled. See :meth:`CharTransformer.forward_cached`.
    """

    def __init__(self, model: CharTransformer, batch: int, capacity: int):
        attn = model.blocks[0].attn
        weight = model.tok_emb.weight
        shape = (len(model.blocks), batch, attn.n_head, capacity, attn.head_dim)
        self.keys = torch.zeros(shape, device=weight.device, dtype=weight.dtype)
        self.values = torch.zeros_like(self.keys)
        self.capacity = capacity
        self.length = 0

    @property
    def full(self) -> bool:
        return self.length >= self.capacity

    def clear(self) -> None:
        """Forget every token, keeping the tensors (a captured decoding step keeps writing into them)."""
        self.length = 0


class CharTransformer(nn.Module):
    """Maps token ids (B, T) to next-character logits (B, T, vocab_size)."""

    def __init__(self, cfg: CharTransformerConfig, vocab_size: int):
        super().__init__()
        cfg.validate("model")
        self.cfg = cfg
        self.block_size = cfg.block_size
        self.tok_emb = nn.Embedding(vocab_size, cfg.d_model)
        self.pos_emb = nn.Embedding(cfg.block_size, cfg.d_model) if cfg.position == "learned" else None
        self.dropout = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = make_norm(cfg)
        self.head = nn.Linear(cfg.d_model, vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.head.weight = self.tok_emb.weight
        self.apply(self._init_weights)
        # Residual projections: GPT-2 scaling (shrink with depth), or zero so each block starts as the identity.
        for name, param in self.named_parameters():
            if name.endswith(("out_proj.weight", "fc2.weight")):
                if cfg.zero_init_proj:
                    nn.init.zeros_(param)
                else:
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
        x = self.tok_emb(idx)
        if self.pos_emb is not None:
            x = x + self.pos_emb(torch.arange(t, device=idx.device))
        x = self.dropout(x)
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))

    def new_cache(self, batch: int) -> KVCache:
        """An empty key/value cache for ``batch`` sequences of up to ``block_size`` tokens."""
        return KVCache(self, batch, self.block_size)

    def forward_cached(self, idx: torch.Tensor, cache: KVCache) -> torch.Tensor:
        """Logits ``(B, t, vocab)`` of ``idx`` ``(B, t)`` continuing the ``cache.length`` tokens already read.

        Equal to the last ``t`` positions of ``forward`` over all the tokens so far, while they fit in
        ``block_size``; the cache then holds the new tokens too. First the prompt in one call on an
        empty cache, then one token per call.
        """
        _, t = idx.shape
        start = cache.length
        if start + t > cache.capacity:
            raise ValueError(f"{start} cached + {t} new tokens exceed the cache's {cache.capacity}")
        if start and t > 1:
            raise ValueError("after the prompt, feed one token per call")
        x = self.tok_emb(idx)
        if self.pos_emb is not None:
            x = x + self.pos_emb(torch.arange(start, start + t, device=idx.device))
        x = self.dropout(x)
        for layer, block in enumerate(self.blocks):
            x = block(x, (cache.keys[layer], cache.values[layer]), start)
        cache.length = start + t
        return self.head(self.ln_f(x))

    def decode_step(self, idx: torch.Tensor, cache: KVCache, position: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, vocab)`` of one token per sequence, ``idx`` ``(B, 1)``, at ``position`` (a 0-dim tensor).

        :meth:`forward_cached` of one token at ``cache.length == position``, with the position on the device
        and fixed shapes, so that the whole step can be captured as a CUDA graph. It writes the token's keys
        and values into the cache but leaves ``cache.length`` to the caller.
        """
        x = self.tok_emb(idx)
        if self.pos_emb is not None:
            x = x + self.pos_emb(position[None])
        for layer, block in enumerate(self.blocks):
            x = block.decode(x, (cache.keys[layer], cache.values[layer]), position)
        return self.head(self.ln_f(x))[:, -1]

    def num_params(self, non_embedding: bool = False) -> int:
        """Parameter count (tied weights once).

        ``non_embedding`` leaves out the tables that are only looked up: the position table, and
        the token table when the head is untied (a tied one is the head's matrix, so it stays).
        """
        n = sum(p.numel() for p in self.parameters())
        if non_embedding:
            if self.pos_emb is not None:
                n -= self.pos_emb.weight.numel()
            if not self.cfg.tie_embeddings:
                n -= self.tok_emb.weight.numel()
        return n

    def flops_per_token(self, seq_len: int | None = None) -> float:
        """Training FLOPs per token (forward + backward), PaLM appendix B convention.

        6 * N (N = ``num_params(non_embedding=True)``: the head is included, lookups are not)
        plus 12 * n_layer * d_model * T for attention scores and values, counting the full
        T x T matrix even though causal kernels skip about half of it. Norms, the rotation and
        the MLP's elementwise products are left out (a few FLOPs per parameter-free element).
        """
        t = seq_len or self.block_size
        return 6 * self.num_params(non_embedding=True) + 12 * self.cfg.n_layer * self.cfg.d_model * t


@register_model(
    "char-transformer",
    task="text",
    config=CharTransformerConfig,
    description="GPT-style character transformer (pre-norm causal self-attention; learned or rotary positions, "
    "LayerNorm or RMSNorm, GELU, ReLU^2 or SwiGLU MLP, optional qk-norm, tied or untied head)",
)
def build_char_transformer(cfg: CharTransformerConfig, *, vocab_size: int) -> CharTransformer:
    return CharTransformer(cfg, vocab_size)
