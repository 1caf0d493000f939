"""Sampling text from a trained character model: temperature, top-k, top-p (nucleus) or greedy.

Several samples are drawn in one batch, each with its own random generator, so that sample ``i``
is the same text whether it is drawn alone or with others (the CLI seeds sample ``i`` with
``seed + i``). A transformer that keeps a key/value cache (:class:`attn.models.registry.CachesKeys`)
reads each new token once instead of its whole context, while the text fits in its context;
beyond that (``window="slide"``) every step reads the last ``block_size`` tokens again, exactly as
without the cache, or (``window="shift"``) the cache starts again from the last half of them and
each step reads one token: much faster on long texts, with between half and all of the context seen,
at no measurable cost in validation loss (BENCHMARKS.md), hence the default with the cache.
On a GPU one character's forward pass is hundreds of small kernels, so the steps of fixed shape (one
token with the cache, or the whole sliding window) are captured once as CUDA graphs and replayed
(:class:`CapturedStep`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator
from typing import Any, Literal

import torch
from torch import nn
from torch.nn import functional as F

from attn.errors import UserError
from attn.models.registry import CachesKeys, Recurrent


def check_sampling(temperature: float, top_k: int | None, top_p: float | None) -> None:
    """The sampling settings, or a :class:`UserError` naming the option that is out of range."""
    if not (math.isfinite(temperature) and temperature >= 0):  # NaN, inf and negatives are refused
        raise UserError(
            f"--temperature must be a finite number >= 0 (0: always the most likely character; got {temperature})"
        )
    if top_k is not None and top_k < 1:
        raise UserError(f"--top-k must be at least 1 (got {top_k})")
    if top_p is not None and not 0 < top_p <= 1:
        raise UserError(f"--top-p must be in (0, 1] (got {top_p})")


def nucleus_filter(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    """``logits`` with everything outside the nucleus set to ``-inf`` (Holtzman et al. 2020).

    The nucleus is the smallest set of the most likely tokens whose probabilities sum to at
    least ``top_p``: a token stays if the tokens more likely than it hold less than ``top_p``.
    """
    if top_p >= 1:
        return logits
    ordered, order = torch.sort(logits, dim=-1, descending=True)
    probs = F.softmax(ordered, dim=-1)
    before = probs.cumsum(dim=-1) - probs  # probability of the tokens ranked above each one
    ordered = ordered.masked_fill(before >= top_p, float("-inf"))
    return torch.full_like(logits, float("-inf")).scatter(-1, order, ordered)


def next_token_probs(
    logits: torch.Tensor, temperature: float, top_k: int | None = None, top_p: float | None = None
) -> torch.Tensor:
    """``(B, vocab)`` logits -> the probabilities to sample from (temperature, then top-k, then top-p).

    In float64, with the logits shifted so that their maximum is 0 before dividing: no temperature,
    however small, can overflow (the distribution tends to the most likely token instead).
    """
    logits = logits.detach().double()
    logits = (logits - logits.max(dim=-1, keepdim=True).values) / temperature
    if top_k is not None and top_k < logits.size(-1):
        kth = torch.topk(logits, top_k).values[:, -1, None]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None:
        logits = nucleus_filter(logits, top_p)
    return F.softmax(logits, dim=-1)


Window = Literal["slide", "shift"]
WINDOWS: tuple[Window, ...] = ("slide", "shift")


def resolve_window(window: str | None, kv_cache: bool) -> Window:
    """The window rule to sample with: ``window``, checked, or by default ``shift`` with the key/value cache (as good
    a loss at a fraction of the cost, BENCHMARKS.md) and ``slide`` without it."""
    check_window(window, kv_cache)
    if window is None:
        return "shift" if kv_cache else "slide"
    return window  # type: ignore[return-value]  # checked above


def check_window(window: str | None, kv_cache: bool) -> None:
    """The ``--window`` setting (None: the default), or a :class:`UserError` naming what is allowed."""
    if window is None:
        return
    if window not in WINDOWS:
        raise UserError(f"--window must be slide or shift (got {window!r})")
    if window == "shift" and not kv_cache:
        raise UserError("--window shift reads on with the key/value cache: drop --no-kv-cache")


class CapturedStep:
    """``fn(*inputs)`` captured once as a CUDA graph on fixed input tensors; a call copies its arguments into
    those tensors and replays the graph: one launch in place of the hundreds of small kernels of a character's
    forward pass. The output tensor is the same at every call (read it before the next one).

    ``fn`` runs twice for real first (on a side stream, as torch's CUDA-graph notes ask), so its side effects
    (a decoding step's writes into the cache) happen then too.
    """

    def __init__(self, fn: Callable[..., torch.Tensor], *examples: torch.Tensor):
        self.inputs = [example.clone() for example in examples]
        side = torch.cuda.Stream(device=self.inputs[0].device)
        side.wait_stream(torch.cuda.current_stream(side.device))
        with torch.cuda.stream(side):
            for _ in range(2):
                fn(*self.inputs)
        torch.cuda.current_stream(side.device).wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.output = fn(*self.inputs)

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:
        for static, new in zip(self.inputs, inputs):
            static.copy_(new)
        self.graph.replay()
        return self.output


def capture_or_none(fn: Callable[..., torch.Tensor], *examples: torch.Tensor) -> CapturedStep | None:
    """A :class:`CapturedStep`, or None (with a warning) where the step cannot be captured: eager steps then
    give the same text, only slower."""
    try:
        return CapturedStep(fn, *examples)
    except RuntimeError as err:
        warnings.warn(f"generating without CUDA graphs: capturing a step failed ({err})", RuntimeWarning, stacklevel=2)
        return None


def uses_cuda_graphs(model: nn.Module, device: torch.device, asked: bool | None) -> bool:
    """Whether sampling from ``model`` replays CUDA graphs: a transformer's steps, on a CUDA device unless
    ``asked`` says otherwise (the LSTM carries its state and is never captured)."""
    return (device.type == "cuda" if asked is None else asked) and not isinstance(model, Recurrent)


def _stepper(
    model: nn.Module, idx: torch.Tensor, kv_cache: bool, window: Window, graphs: bool | None = None
) -> Callable[[torch.Tensor], torch.Tensor]:
    """A function from the tokens so far ``(B, T)`` to the next-token logits ``(B, vocab)``.

    It is called with one more token each time; what it reads of them depends on the model and,
    once a transformer's context is full, on ``window`` (see the module docstring). ``graphs``: replay
    CUDA graphs of the fixed-shape steps (None: on a CUDA device).
    """
    if isinstance(model, Recurrent):
        state: list[Any] = [None]

        def recurrent(tokens: torch.Tensor) -> torch.Tensor:
            feed = tokens if state[0] is None else tokens[:, -1:]
            logits, state[0] = model.forward_with_state(feed, state[0])
            return logits[:, -1]

        return recurrent
    block = model.block_size
    batch = idx.size(0)
    cache = model.new_cache(batch) if kv_cache and isinstance(model, CachesKeys) else None
    graphs = uses_cuda_graphs(model, idx.device, graphs)
    one_token: list[CapturedStep | None] = []  # captured at the first one-token step
    whole_window: list[CapturedStep | None] = []  # captured when the window first slides

    def transformer(tokens: torch.Tensor) -> torch.Tensor:
        nonlocal cache
        if cache is not None and cache.length == 0:
            return model.forward_cached(tokens[:, -block:], cache)[:, -1]
        if cache is not None and not cache.full:
            token = tokens[:, -1:]
            if not graphs:
                return model.forward_cached(token, cache)[:, -1]
            position = tokens.new_tensor(cache.length)
            if not one_token:  # its warm-up writes this token's keys and values where this step does
                one_token.append(capture_or_none(lambda t, p: model.decode_step(t, cache, p), token, position))
            if one_token[0] is None:
                return model.forward_cached(token, cache)[:, -1]
            logits = one_token[0](token, position)
            cache.length += 1
            return logits
        if cache is not None and window == "shift":  # the context is full: start again from its last half
            cache.clear()
            return model.forward_cached(tokens[:, -max(block // 2, 1) :], cache)[:, -1]
        cache = None  # the context is full: from now on the window slides, and each step reads all of it
        if not graphs or tokens.size(1) < block:  # without the cache the window grows before it slides
            return model(tokens[:, -block:])[:, -1]
        if not whole_window:
            whole_window.append(capture_or_none(lambda t: model(t)[:, -1], tokens[:, -block:]))
        replay = whole_window[0]
        return replay(tokens[:, -block:]) if replay is not None else model(tokens[:, -block:])[:, -1]

    return transformer


@torch.no_grad()
def sample_batch(
    model: nn.Module,
    prompt: torch.Tensor,
    length: int,
    *,
    generators: list[torch.Generator] | None = None,
    num_samples: int | None = None,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    kv_cache: bool = True,
    window: Window | None = None,
    cuda_graphs: bool | None = None,
) -> Iterator[torch.Tensor]:
    """Yield ``length`` steps of ``(num_samples,)`` token ids (on the CPU), all continuing ``prompt``.

    ``prompt`` is 1-D on the model's device. Sample ``i`` draws from ``generators[i]`` (CPU
    generators; one per sample), so it does not depend on the other samples. ``temperature`` 0
    takes the most likely token at every step (no generators needed; give ``num_samples``).
    Transformers see at most their last ``block_size`` tokens (longer prompts are cropped); ``window``
    says how that context moves on (module docstring; None: shift with the cache, slide without).
    ``cuda_graphs``: replay CUDA graphs of the fixed-shape steps (None: when ``prompt`` is on a CUDA device).
    """
    check_sampling(temperature, top_k, top_p)
    rule = resolve_window(window, kv_cache)
    batch = len(generators) if generators is not None else (num_samples or 1)
    if generators is None and temperature > 0:
        raise ValueError("sampling at a temperature above 0 needs one generator per sample")
    idx = prompt[None, :].expand(batch, -1)
    step = _stepper(model, idx, kv_cache, rule, cuda_graphs)
    for _ in range(length):
        logits = step(idx)
        if temperature == 0:
            next_ids = logits.argmax(dim=-1).cpu()
        else:
            probs = next_token_probs(logits, temperature, top_k, top_p).cpu()
            next_ids = torch.cat(
                [torch.multinomial(probs[i : i + 1], 1, generator=g)[0] for i, g in enumerate(generators)]
            )
        idx = torch.cat([idx, next_ids.to(idx.device)[:, None]], dim=1)
        yield next_ids


def sample_tokens(
    model: nn.Module,
    prompt: torch.Tensor,
    length: int,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
    kv_cache: bool = True,
    window: Window | None = None,
    cuda_graphs: bool | None = None,
) -> Iterator[int]:
    """Yield ``length`` sampled token ids continuing ``prompt`` (one sample; see :func:`sample_batch`)."""
    generators = None if temperature == 0 else [generator or torch.default_generator]
    for ids in sample_batch(
        model,
        prompt,
        length,
        generators=generators,
        num_samples=1,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        kv_cache=kv_cache,
        window=window,
        cuda_graphs=cuda_graphs,
    ):
        yield int(ids[0])
