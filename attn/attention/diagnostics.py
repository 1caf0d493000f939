"""Looking inside attention models: gradient norms, captured weights, head diversity, heat maps."""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import torch
from torch import nn

__all__ = ["GradientMonitor", "capture_attention", "head_diversity", "save_attention_heatmaps"]


class GradientMonitor:
    """Per-module gradient norms, one record per optimisation step.

    Call :meth:`record` after ``backward()`` (after ``GradScaler.unscale_`` when scaling, and
    before ``zero_grad``): for every tracked module it takes the L2 norm of the gradients of all
    the module's parameters together (recursively; parameters without a gradient are skipped,
    a module with none is left out of that step). The norms are computed on the device and
    fetched in one transfer. No hooks are installed, so the model's behaviour is untouched.

    ``modules``: names (as in ``model.named_modules()``) or module objects; by default every
    module that owns parameters directly (Linear, LayerNorm, Embedding, ...).
    """

    def __init__(
        self,
        model: nn.Module,
        modules: Iterable[str | nn.Module] | None = None,
        band: tuple[float, float] = (0.1, 10.0),
    ):
        low, high = band
        if not 0.0 <= low <= high:
            raise ValueError(f"band must be (low, high) with 0 <= low <= high, got {band}")
        self.band = (float(low), float(high))
        named = dict(model.named_modules())
        if modules is None:
            self.modules = {
                name: module for name, module in named.items() if any(True for _ in module.parameters(recurse=False))
            }
        else:
            by_id = {id(module): name for name, module in named.items()}
            self.modules = {}
            for item in modules:
                if isinstance(item, str):
                    if item not in named:
                        raise ValueError(f"model has no module named {item!r}")
                    self.modules[item] = named[item]
                elif id(item) in by_id:
                    self.modules[by_id[id(item)]] = item
                else:
                    raise ValueError(f"{type(item).__name__} object is not a submodule of the model")
        if not self.modules:
            raise ValueError("no modules with parameters to monitor")
        self.history: list[dict[str, float]] = []

    def record(self) -> dict[str, float]:
        """Append and return ``{module name: gradient norm}`` for the current gradients."""
        names, norms = [], []
        for name, module in self.modules.items():
            grads = [p.grad.detach() for p in module.parameters() if p.grad is not None]
            if grads:
                names.append(name)
                norms.append(
                    torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.float()) for g in grads]))
                )
        step = dict(zip(names, torch.stack(norms).cpu().tolist())) if norms else {}
        self.history.append(step)
        return step

    def fraction_in_band(self, per_module: bool = False) -> float | dict[str, float]:
        """Fraction of recorded norms with ``low <= norm <= high`` over all steps (and modules).

        ``per_module=True`` gives one fraction per module name instead.
        """
        low, high = self.band
        values: dict[str, list[float]] = {}
        for step in self.history:
            for name, norm in step.items():
                values.setdefault(name, []).append(norm)
        if not values:
            raise ValueError("no gradient norms recorded yet; call record() after backward()")

        def inside(norms: list[float]) -> float:
            return sum(low <= n <= high for n in norms) / len(norms)

        if per_module:
            return {name: inside(norms) for name, norms in values.items()}
        return inside([n for norms in values.values() for n in norms])

    def remove(self) -> None:
        """Stop monitoring: release the model's modules (the history is kept)."""
        self.modules = {}


@contextlib.contextmanager
def capture_attention(model: nn.Module) -> Iterator[dict[str, torch.Tensor]]:
    """Capture the attention weights of every module in ``model`` that has a ``weights_hook``.

    A module takes part by having a ``weights_hook`` attribute, ``None`` by default: while it is a
    callable, every forward computes the weights (by the manual path, as with ``need_weights=True``)
    and passes them, ``(B, H, Lq, Lk)``, to it. :class:`~attn.attention.MultiHeadAttention` and the
    char-transformer's ``CausalSelfAttention`` do.

    Yields a dict ``module name -> weights (B, H, Lq, Lk)`` (detached, on the CPU), filled as
    the model runs; a module called several times keeps its last call. The previous hooks are
    put back on exit.
    """
    captured: dict[str, torch.Tensor] = {}
    attentions = [(name, m) for name, m in model.named_modules() if hasattr(m, "weights_hook")]
    previous = [m.weights_hook for _, m in attentions]

    def hook_for(name: str):
        def store(weights: torch.Tensor) -> None:
            captured[name] = weights.detach().cpu()

        return store

    for name, module in attentions:
        module.weights_hook = hook_for(name)
    try:
        yield captured
    finally:
        for (_, module), hook in zip(attentions, previous):
            module.weights_hook = hook


def head_diversity(weights: torch.Tensor) -> torch.Tensor:
    """Mean pairwise Jensen-Shannon divergence (base 2) between heads, a 0-dim tensor in ``[0, 1]``.

    ``weights`` is ``(..., H, Lq, Lk)`` with ``H >= 2``. For every pair of heads and every
    query row, ``JS(p, q) = (KL(p || m) + KL(q || m)) / 2`` with ``m = (p + q) / 2``, in bits;
    then the mean over head pairs, queries and leading (batch) dims. It is 0 exactly when all
    heads give every query the same distribution, and 1 when they attend to disjoint keys.
    """
    if weights.dim() < 3:
        raise ValueError(f"weights must have shape (..., H, Lq, Lk), got {tuple(weights.shape)}")
    heads = weights.shape[-3]
    if heads < 2:
        raise ValueError(f"head_diversity needs at least 2 heads, got {heads}")
    w = weights.double()
    total = w.new_zeros(())
    for i in range(heads):
        for j in range(i + 1, heads):
            p, q = w[..., i, :, :], w[..., j, :, :]
            m = (p + q) / 2
            kl_p = (torch.special.xlogy(p, p) - torch.special.xlogy(p, m)).sum(-1)
            kl_q = (torch.special.xlogy(q, q) - torch.special.xlogy(q, m)).sum(-1)
            total = total + ((kl_p + kl_q) / 2).mean()
    pairs = heads * (heads - 1) // 2
    return (
        (total / pairs / math.log(2))
        .clamp(0.0, 1.0)
        .to(weights.dtype if weights.is_floating_point() else torch.float32)
    )


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower() or "attention"


def save_attention_heatmaps(
    weights: torch.Tensor,
    path: str | Path,
    tokens: Sequence[str] | None = None,
    title: str = "attention",
    *,
    query_tokens: Sequence[str] | None = None,
    grid: bool = False,
) -> list[Path]:
    """Write PNG heat maps of ``weights`` and return the paths written.

    ``weights``: ``(Lq, Lk)``, ``(H, Lq, Lk)`` or ``(B, H, Lq, Lk)`` (the first batch element
    is drawn). ``path``: an existing directory (files ``<title>_head<h>.png`` inside it) or a
    prefix (``<prefix>_head<h>.png``). ``tokens`` label the keys (and the queries too when
    ``query_tokens`` is not given and the map is square). ``grid=True`` writes one image with
    every head instead (``..._heads.png``).
    """
    from matplotlib.figure import Figure  # lazily: importing attn.attention stays light

    weights = weights.detach().float().cpu()
    if weights.dim() == 4:
        weights = weights[0]
    elif weights.dim() == 2:
        weights = weights.unsqueeze(0)
    if weights.dim() != 3:
        raise ValueError(f"weights must be (Lq, Lk), (H, Lq, Lk) or (B, H, Lq, Lk), got {tuple(weights.shape)}")
    heads, n_queries, n_keys = weights.shape
    if tokens is not None and len(tokens) != n_keys:
        raise ValueError(f"got {len(tokens)} tokens for {n_keys} keys")
    if query_tokens is None and tokens is not None and n_queries == n_keys:
        query_tokens = tokens
    if query_tokens is not None and len(query_tokens) != n_queries:
        raise ValueError(f"got {len(query_tokens)} query tokens for {n_queries} queries")

    path = Path(path)
    prefix = path / _slug(title) if path.is_dir() else path
    prefix.parent.mkdir(parents=True, exist_ok=True)

    def draw(ax, head: int) -> None:
        image = ax.imshow(weights[head].numpy(), cmap="viridis", vmin=0.0, aspect="auto", interpolation="nearest")
        ax.set_title(f"{title} head {head}" if heads > 1 else title, fontsize=9)
        ax.set_xlabel("key")
        ax.set_ylabel("query")
        if tokens is not None and n_keys <= 64:
            ax.set_xticks(range(n_keys), list(tokens), rotation=90, fontsize=6)
        if query_tokens is not None and n_queries <= 64:
            ax.set_yticks(range(n_queries), list(query_tokens), fontsize=6)
        ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)

    written = []
    if grid:
        cols = math.ceil(math.sqrt(heads))
        rows = math.ceil(heads / cols)
        fig = Figure(figsize=(4 * cols, 3.6 * rows), layout="constrained")
        for head, ax in enumerate(fig.subplots(rows, cols, squeeze=False).flat):
            if head < heads:
                draw(ax, head)
            else:
                ax.axis("off")
        target = Path(f"{prefix}_heads.png")
        fig.savefig(target, dpi=100)
        written.append(target)
    else:
        for head in range(heads):
            fig = Figure(figsize=(5, 4.2), layout="constrained")
            draw(fig.add_subplot(), head)
            target = Path(f"{prefix}_head{head}.png")
            fig.savefig(target, dpi=100)
            written.append(target)
    return written
