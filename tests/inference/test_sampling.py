"""Sampling: greedy is the argmax, top-p keeps the hand-computed nucleus, batches equal one-by-one samples,
and the key/value cache changes nothing but speed."""

from __future__ import annotations

import math

import pytest
import torch

from attn.errors import UserError
from attn.inference import sample_batch, sample_tokens
from attn.inference.sample import next_token_probs, nucleus_filter
from attn.models.char_lstm import CharLSTM, CharLSTMConfig
from attn.models.char_transformer import CharTransformer, CharTransformerConfig

VOCAB = 9


def transformer(**kw: object) -> CharTransformer:
    cfg = CharTransformerConfig(**{"n_layer": 2, "n_head": 2, "d_model": 16, "block_size": 8, "dropout": 0.0, **kw})
    torch.manual_seed(0)
    net = CharTransformer(cfg, vocab_size=VOCAB).eval()
    with torch.no_grad():  # larger weights than the initialisation: logits far apart, samples that differ
        for p in net.parameters():
            p.mul_(20 if p.dim() > 1 else 1)
    return net


def lstm() -> CharLSTM:
    torch.manual_seed(0)
    return CharLSTM(CharLSTMConfig(n_layer=1, d_embed=8, hidden_size=16, dropout=0.0), vocab_size=VOCAB).eval()


PROMPT = torch.tensor([1, 4, 2])


def generators(seed: int, n: int) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(seed + i) for i in range(n)]


def test_greedy_takes_the_argmax_of_the_full_forward_at_every_step() -> None:
    net = transformer()
    tokens = PROMPT[None]
    expected = []
    with torch.no_grad():
        for _ in range(12):  # past block_size 8: the window slides
            nxt = net(tokens[:, -8:])[0, -1].argmax()
            expected.append(int(nxt))
            tokens = torch.cat([tokens, nxt.view(1, 1)], dim=1)
    assert list(sample_tokens(net, PROMPT, 12, temperature=0)) == expected
    assert list(sample_tokens(net, PROMPT, 12, temperature=0, kv_cache=False)) == expected


def test_greedy_is_the_limit_of_low_temperatures() -> None:
    net = transformer()
    greedy = list(sample_tokens(net, PROMPT, 10, temperature=0))
    tokens = torch.cat([PROMPT, torch.tensor(greedy)])[None]
    with torch.no_grad():  # the smallest gap between the best and second-best logit along the greedy path
        logits = torch.cat([net(tokens[:, max(0, t - 8) : t])[:, -1] for t in range(3, 13)])
    top2 = logits.topk(2).values
    gap = float((top2[:, 0] - top2[:, 1]).min())
    cold = gap / 100  # every other character then has probability below exp(-100)
    for seed in range(3):
        generator = torch.Generator().manual_seed(seed)
        assert list(sample_tokens(net, PROMPT, 10, temperature=cold, generator=generator)) == greedy


@pytest.mark.parametrize(
    ("top_p", "kept"),
    [(0.4, {0.5}), (0.6, {0.5, 0.3}), (0.85, {0.5, 0.3, 0.15}), (1.0, {0.5, 0.3, 0.15, 0.05})],
)
def test_top_p_keeps_the_smallest_set_holding_p(top_p: float, kept: set[float]) -> None:
    probs = [0.15, 0.5, 0.05, 0.3]  # not in order of probability
    logits = torch.tensor([probs]).log()
    expected = torch.tensor([[p / sum(kept) if p in kept else 0.0 for p in probs]])
    torch.testing.assert_close(next_token_probs(logits, 1.0, top_p=top_p), expected.double())
    assert torch.isinf(nucleus_filter(logits, top_p)).sum() == len(probs) - len(kept)


def test_top_p_applies_after_the_temperature_and_top_k() -> None:
    logits = torch.tensor([[2.0, 1.0, 0.5, -1.0]])
    tempered = torch.softmax(logits / 0.5, dim=-1)[0]  # 0.84, 0.11, 0.04, 0.002
    assert tempered[0] < 0.9 < tempered[0] + tempered[1]
    probs = next_token_probs(logits, 0.5, top_k=3, top_p=0.9)
    expected = torch.zeros(1, 4)
    expected[0, :2] = tempered[:2] / tempered[:2].sum()
    torch.testing.assert_close(probs, expected.double())


@pytest.mark.parametrize("make", [transformer, lstm], ids=["transformer", "lstm"])
def test_a_batch_of_samples_equals_each_sample_drawn_alone(make: object) -> None:
    net = make()
    batch = torch.stack(list(sample_batch(net, PROMPT, 14, generators=generators(5, 3), top_p=0.95)), dim=1)
    alone = [list(sample_tokens(net, PROMPT, 14, top_p=0.95, generator=g)) for g in generators(5, 3)]
    assert batch.tolist() == alone
    assert len({tuple(s) for s in alone}) == 3, "different seeds should give different samples"


def test_the_key_value_cache_gives_the_same_samples_beyond_the_context() -> None:
    net = transformer(position="rope")
    cached = list(sample_batch(net, PROMPT, 20, generators=generators(3, 2), window="slide"))
    uncached = list(sample_batch(net, PROMPT, 20, generators=generators(3, 2), kv_cache=False))
    assert torch.equal(torch.stack(cached), torch.stack(uncached))


def reference_sample(net: CharTransformer, prompt: torch.Tensor, length: int, window: str, seed: int) -> list[int]:
    """Samples drawn from the plain forward pass over the context each window rule names, step by step."""
    block, keep = net.block_size, net.block_size // 2
    generator = torch.Generator().manual_seed(seed)
    tokens = prompt.tolist()
    start = max(len(tokens) - block, 0)
    with torch.no_grad():
        for _ in range(length):
            if window == "slide":
                start = max(len(tokens) - block, 0)
            elif len(tokens) - start > block:  # shift: the context overflowed, keep its last half
                start = len(tokens) - keep
            logits = net(torch.tensor([tokens[start:]]))[:, -1]
            tokens.append(int(torch.multinomial(next_token_probs(logits, 1.0), 1, generator=generator)))
    return tokens[len(prompt) :]


@pytest.mark.parametrize("position", ["learned", "rope"])
@pytest.mark.parametrize("window", ["slide", "shift"])
def test_each_window_rule_reads_the_context_it_names(position: str, window: str) -> None:
    net = transformer(position=position)  # block_size 8: 30 tokens overflow it several times
    long_prompt = torch.tensor([1, 4, 2, 7, 3, 3, 5, 0, 6, 2])  # longer than the context too
    for prompt in (PROMPT, long_prompt):
        sampled = [int(t) for t in sample_batch(net, prompt, 30, generators=generators(11, 1), window=window)]
        assert sampled == reference_sample(net, prompt, 30, window, seed=11)
    assert reference_sample(net, PROMPT, 30, "slide", 11) != reference_sample(net, PROMPT, 30, "shift", 11), (
        "the two rules must read different contexts here, or this test could not tell them apart"
    )


def test_by_default_the_window_shifts_with_the_cache_and_slides_without_it() -> None:
    net = transformer(position="rope")
    cached = [int(t) for t in sample_batch(net, PROMPT, 30, generators=generators(11, 1))]
    uncached = [int(t) for t in sample_batch(net, PROMPT, 30, generators=generators(11, 1), kv_cache=False)]
    assert cached == reference_sample(net, PROMPT, 30, "shift", seed=11)
    assert uncached == reference_sample(net, PROMPT, 30, "slide", seed=11)
    assert cached != uncached


def test_a_window_rule_that_needs_the_cache_or_does_not_exist_is_a_user_error() -> None:
    with pytest.raises(UserError, match="--window shift reads on with the key/value cache"):
        list(sample_tokens(transformer(), PROMPT, 2, window="shift", kv_cache=False))
    with pytest.raises(UserError, match="--window must be slide or shift"):
        list(sample_tokens(transformer(), PROMPT, 2, window="wrap"))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"temperature": -0.1}, "--temperature must be a finite number >= 0"),
        ({"temperature": math.nan}, "--temperature must be a finite number >= 0"),
        ({"top_p": 0.0}, "--top-p must be in (0, 1]"),
        ({"top_p": 1.5}, "--top-p must be in (0, 1]"),
        ({"top_k": 0}, "--top-k must be at least 1"),
    ],
)
def test_settings_out_of_range_are_user_errors(settings: dict, message: str) -> None:
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace("]", r"\]")):
        list(sample_tokens(transformer(), PROMPT, 2, **settings))


class EagerReplay:
    """Stands in for CapturedStep on the CPU with its semantics: ``fn`` runs twice at construction (the warm-up,
    with its side effects), and each call copies its arguments into the same input tensors and runs ``fn``."""

    built = 0

    def __init__(self, fn, *examples: torch.Tensor) -> None:
        EagerReplay.built += 1
        self.fn, self.inputs = fn, [example.clone() for example in examples]
        for _ in range(2):
            fn(*self.inputs)

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:
        for static, new in zip(self.inputs, inputs):
            static.copy_(new)
        return self.fn(*self.inputs)


@pytest.mark.parametrize("position", ["learned", "rope"])
@pytest.mark.parametrize(("window", "kv_cache"), [("slide", True), ("shift", True), ("slide", False)])
def test_the_captured_steps_read_the_context_each_window_rule_names(
    position: str, window: str, kv_cache: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the fixed-shape steps a CUDA graph replays (the one-token step captured at its first use, its warm-up
    writing where that step writes; the whole window once it slides), the samples are the plain forward pass's."""
    import attn.inference.sample as sample

    monkeypatch.setattr(sample, "CapturedStep", EagerReplay)
    EagerReplay.built = 0
    net = transformer(position=position)
    for prompt in (PROMPT, torch.tensor([1, 4, 2, 7, 3, 3, 5, 0, 6, 2])):
        steps = sample_batch(
            net, prompt, 30, generators=generators(11, 1), window=window, kv_cache=kv_cache, cuda_graphs=True
        )
        assert [int(t) for t in steps] == reference_sample(net, prompt, 30, window, seed=11)
    # the short prompt: the one-token step (with the cache) and the sliding window; the one that fills the context of 8
    # needs no one-token step unless the window shifts (it then reads on one token at a time), and the same window
    built = {("slide", True): 1 + 1 + 0 + 1, ("shift", True): 1 + 0 + 1 + 0, ("slide", False): 0 + 1 + 0 + 1}
    assert EagerReplay.built == built[window, kv_cache]


def test_a_step_that_cannot_be_captured_is_run_eagerly_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    import attn.inference.sample as sample

    def refuse(*args: object) -> None:
        raise RuntimeError("operation not permitted when stream is capturing")

    monkeypatch.setattr(sample, "CapturedStep", refuse)
    net = transformer(position="rope")
    with pytest.warns(RuntimeWarning, match="generating without CUDA graphs: .*operation not permitted"):
        steps = sample_batch(net, PROMPT, 30, generators=generators(11, 1), window="slide", cuda_graphs=True)
        sampled = [int(t) for t in steps]
    assert sampled == reference_sample(net, PROMPT, 30, "slide", seed=11)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA device")
@pytest.mark.parametrize(("window", "kv_cache"), [("slide", True), ("shift", True), ("slide", False)])
def test_cuda_graphs_give_the_same_text_as_eager_steps_on_a_gpu(window: str, kv_cache: bool) -> None:
    net = transformer(position="rope").cuda()

    def draw(graphs: bool) -> torch.Tensor:
        steps = sample_batch(
            net, PROMPT.cuda(), 30, generators=generators(2, 3), window=window, kv_cache=kv_cache, cuda_graphs=graphs
        )
        return torch.stack(list(steps))

    assert torch.equal(draw(True), draw(False))
