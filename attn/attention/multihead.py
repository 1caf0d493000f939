"""Multi-head attention with separate Q, K, V projections, optional norm, residual and activation."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from attn.attention.functional import BACKENDS, scaled_dot_product_attention

__all__ = ["MultiHeadAttention"]

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": F.relu,
    "gelu": F.gelu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "silu": F.silu,
    "elu": F.elu,
    "leaky_relu": F.leaky_relu,
    "softplus": F.softplus,
}
LAYER_NORM_PLACES = (None, "pre", "post")


class MultiHeadAttention(nn.Module):
    """Multi-head attention over batch-first inputs ``(B, L, E)``.

    Projections: ``q_proj: embed_dim -> H * key_dim``, ``k_proj: kdim -> H * key_dim``,
    ``v_proj: vdim -> H * value_dim``, ``out_proj: H * value_dim -> embed_dim``. ``key_dim``
    (per head) defaults to ``embed_dim // num_heads`` and ``value_dim`` to ``key_dim``;
    ``kdim``/``vdim`` (memory widths) default to ``embed_dim``.

    Output: ``norm_post(residual + act(out_proj(attention)))`` where the activation, the
    residual (adds the query input) and the norms are optional. ``layer_norm="pre"`` normalises
    the query before the projections (in self-attention the keys and values are that normalised
    query too; given memory is used as it is); ``"post"`` normalises the final sum.

    ``dropout`` applies to the attention weights after the softmax, in training mode only.

    Masks follow :mod:`attn.attention.functional`: bool ``attn_mask`` ``True`` = may attend (the
    opposite of ``torch.nn.MultiheadAttention``'s bool masks), float masks are added;
    ``attn_mask`` is ``(Lq, Lk)``, ``(B, Lq, Lk)`` or ``(B, H, Lq, Lk)``; ``key_padding_mask``
    is bool ``(B, Lk)`` with ``True`` = padding.

    ``validate_inputs`` (default on) rejects NaN/Inf inputs with a ValueError; the check costs a
    host sync per call, so hot training loops turn it off. Shapes are always checked (no sync).

    Weight capture: set ``weights_hook`` to a callable and every forward computes the weights
    ``(B, H, Lq, Lk)`` (manual path) and passes them to it, even with ``need_weights=False``
    (see :func:`attn.attention.diagnostics.capture_attention`).
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        *,
        key_dim: int | None = None,
        value_dim: int | None = None,
        kdim: int | None = None,
        vdim: int | None = None,
        dropout: float = 0.0,
        bias: bool = True,
        layer_norm: str | None = None,
        residual: bool = False,
        activation: str | None = None,
        backend: str = "sdpa",
        validate_inputs: bool = True,
    ):
        super().__init__()
        if embed_dim < 1 or num_heads < 1:
            raise ValueError(f"embed_dim and num_heads must be positive, got {embed_dim} and {num_heads}")
        if key_dim is None:
            if embed_dim % num_heads:
                raise ValueError(f"num_heads ({num_heads}) must divide embed_dim ({embed_dim}) unless key_dim is given")
            key_dim = embed_dim // num_heads
        value_dim = key_dim if value_dim is None else value_dim
        if key_dim < 1 or value_dim < 1:
            raise ValueError(f"key_dim and value_dim must be positive, got {key_dim} and {value_dim}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if layer_norm not in LAYER_NORM_PLACES:
            raise ValueError(f"layer_norm must be one of {LAYER_NORM_PLACES}, got {layer_norm!r}")
        if activation is not None and activation not in ACTIVATIONS:
            raise ValueError(f"activation must be None or one of {sorted(ACTIVATIONS)}, got {activation!r}")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")

        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.value_dim = value_dim
        self.kdim = embed_dim if kdim is None else kdim
        self.vdim = embed_dim if vdim is None else vdim
        self.dropout = dropout
        self.layer_norm = layer_norm
        self.residual = residual
        self.activation = activation
        self.backend = backend
        self.validate_inputs = validate_inputs
        self.weights_hook: Callable[[torch.Tensor], None] | None = None

        self.q_proj = nn.Linear(embed_dim, num_heads * key_dim, bias=bias)
        self.k_proj = nn.Linear(self.kdim, num_heads * key_dim, bias=bias)
        self.v_proj = nn.Linear(self.vdim, num_heads * value_dim, bias=bias)
        self.out_proj = nn.Linear(num_heads * value_dim, embed_dim, bias=bias)
        self.norm = nn.LayerNorm(embed_dim, bias=bias) if layer_norm else None

    def _check(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> None:
        for name, tensor, width in (
            ("query", query, self.embed_dim),
            ("key", key, self.kdim),
            ("value", value, self.vdim),
        ):
            if tensor.dim() != 3 or tensor.shape[-1] != width:
                raise ValueError(f"{name} must have shape (batch, length, {width}), got {tuple(tensor.shape)}")
        if not query.shape[0] == key.shape[0] == value.shape[0]:
            raise ValueError(
                f"query, key and value must have the same batch size, got query {tuple(query.shape)}, "
                f"key {tuple(key.shape)}, value {tuple(value.shape)}"
            )
        if key.shape[1] != value.shape[1]:
            raise ValueError(
                f"key and value must have the same length, got key {tuple(key.shape)}, value {tuple(value.shape)}"
            )
        if self.validate_inputs:
            distinct: dict[int, tuple[str, torch.Tensor]] = {}
            for name, tensor in (("query", query), ("key", key), ("value", value)):
                distinct.setdefault(id(tensor), (name, tensor))  # self-attention: one check, named query
            names, tensors = zip(*distinct.values())
            finite = torch.stack([torch.isfinite(t).all() for t in tensors]).tolist()  # one host sync
            for name, ok in zip(names, finite):
                if not ok:
                    raise ValueError(f"{name} contains NaN or Inf values")

    def _heads(self, x: torch.Tensor, head_dim: int) -> torch.Tensor:
        """``(B, L, H * d)`` -> ``(B, H, L, d)`` (a view)."""
        batch, length, _ = x.shape
        return x.view(batch, length, self.num_heads, head_dim).transpose(1, 2)

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor | None = None,
        value: torch.Tensor | None = None,
        *,
        attn_mask: torch.Tensor | None = None,
        key_padding_mask: torch.Tensor | None = None,
        causal: bool = False,
        need_weights: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Returns ``(output (B, Lq, embed_dim), weights (B, H, Lq, Lk) or None)``; self-attention when key is None."""
        if key is None and value is not None:
            raise ValueError("value given without key; pass both, or neither for self-attention")
        self_attention = key is None
        key = query if key is None else key
        value = key if value is None else value
        self._check(query, key, value)

        attended = self.norm(query) if self.layer_norm == "pre" else query
        memory_k = attended if self_attention else key
        memory_v = attended if self_attention else value
        q = self._heads(self.q_proj(attended), self.key_dim)
        k = self._heads(self.k_proj(memory_k), self.key_dim)
        v = self._heads(self.v_proj(memory_v), self.value_dim)
        if attn_mask is not None and attn_mask.dim() == 3:
            attn_mask = attn_mask.unsqueeze(1)  # (B, Lq, Lk) -> (B, 1, Lq, Lk)

        want_weights = need_weights or self.weights_hook is not None
        result = scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=attn_mask,
            key_padding_mask=key_padding_mask,
            causal=causal,
            dropout_p=self.dropout,
            training=self.training,
            return_weights=want_weights,
            backend=self.backend,
        )
        heads_out, weights = result if want_weights else (result, None)
        if weights is not None and self.weights_hook is not None:
            self.weights_hook(weights.detach())

        batch, q_len = query.shape[:2]
        out = self.out_proj(heads_out.transpose(1, 2).reshape(batch, q_len, self.num_heads * self.value_dim))
        if self.activation is not None:
            out = ACTIVATIONS[self.activation](out)
        if self.residual:
            out = query + out
        if self.layer_norm == "post":
            out = self.norm(out)
        return out, (weights if need_weights else None)

    def process_sequence(
        self,
        query_vector: torch.Tensor,
        keys: Sequence[torch.Tensor] | torch.Tensor,
        values: Sequence[torch.Tensor] | torch.Tensor,
        need_weights: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """One query vector ``(embed_dim,)`` against ``n`` key ``(kdim,)`` and value ``(vdim,)`` vectors.

        Returns the output ``(embed_dim,)``, or ``(output, weights (H, n))`` when ``need_weights``.
        """
        if len(keys) == 0 or len(keys) != len(values):
            raise ValueError(
                f"need as many keys as values and at least one, got {len(keys)} keys and {len(values)} values"
            )
        if query_vector.dim() != 1:
            raise ValueError(f"query_vector must have shape ({self.embed_dim},), got {tuple(query_vector.shape)}")
        try:
            key = (keys if isinstance(keys, torch.Tensor) else torch.stack(list(keys))).unsqueeze(0)
            value = (values if isinstance(values, torch.Tensor) else torch.stack(list(values))).unsqueeze(0)
        except RuntimeError as error:  # vectors of different sizes
            raise ValueError(f"keys and values must each be vectors of one size: {error}") from None
        out, weights = self(query_vector.view(1, 1, -1), key, value, need_weights=need_weights)
        if need_weights:
            return out[0, 0], weights[0, :, 0]
        return out[0, 0]
