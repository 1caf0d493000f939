"""The readouts of the sparse EEG models (model.readout) against float64 numpy references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from attn.datasets.eeg import dataset as eeg_dataset
from attn.errors import RecipeError
from attn.models import eeg_readouts, eeg_sparse  # noqa: F401  (registers the models)
from attn.models.eeg_readouts import AttentionPooling, LatencyReadout, plot_readout_weights, token_times
from attn.models.registry import HasReadoutWeights, get_model_spec
from attn.schema import build_section
from tests.helpers import make_eeg_model as make

SPARSE_MODELS = ["eeg-sparse-lightweight", "eeg-sparse-improved"]
READOUTS = ["mean", "attention", "latency"]


def np_softmax(scores: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, written out (float64)."""
    shifted = scores - scores.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)


# ----------------------------------------------------------------- token times


def test_token_times_are_the_centres_of_four_sample_bins_after_the_window_start():
    assert eeg_readouts.SFREQ == eeg_dataset.SFREQ and eeg_readouts.WINDOW_START_S == eeg_dataset.WINDOW_START_S
    times = token_times(200)
    expected = np.array([0.5 + (4 * j + 1.5) / 100 for j in range(50)])  # 0.515, 0.555, ..., 2.475
    assert times.shape == (50,) and times.dtype == torch.float32
    np.testing.assert_allclose(times.numpy(), expected, atol=1e-6)
    assert math.isclose(float(times[0]), 0.515, abs_tol=1e-6) and math.isclose(float(times[-1]), 2.475, abs_tol=1e-6)
    assert token_times(7).shape == (1,) and token_times(103).shape == (25,)  # floor, as MaxPool1d


# ----------------------------------------------------------------- the readout modules alone


def test_attention_pooling_matches_float64_numpy():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 7, 5))
    q = rng.normal(size=5)
    pool = AttentionPooling(5).double()
    with torch.no_grad():
        pool.query.copy_(torch.from_numpy(q))
    out = pool(torch.from_numpy(x))

    scores = np.einsum("btc,c->bt", x, q) / np.sqrt(5.0)
    w = np_softmax(scores)
    expected = np.einsum("bt,btc->bc", w, x)
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(pool.last_weights.numpy(), w, rtol=1e-12, atol=1e-12)
    assert not pool.last_weights.requires_grad


def test_untrained_attention_pooling_is_mean_pooling():
    x = torch.randn(2, 9, 4, dtype=torch.float64)
    pool = AttentionPooling(4).double()
    torch.testing.assert_close(pool(x), x.mean(dim=1))
    torch.testing.assert_close(pool.last_weights, torch.full((2, 9), 1 / 9, dtype=torch.float64))


def test_latency_readout_matches_float64_numpy():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(4, 6, 3))
    u = rng.normal(size=3)
    times = np.array([0.5 + (4 * j + 1.5) / 100 for j in range(6)])
    readout = LatencyReadout(3, torch.from_numpy(times)).double()
    with torch.no_grad():
        readout.scorer.weight.copy_(torch.from_numpy(u)[None])
        readout.offset.fill_(0.3)
        readout.scale.fill_(-1.7)
    out = readout(torch.from_numpy(x))

    w = np_softmax(x @ u)
    expected_time = (w * times).sum(axis=1)
    expected = 0.3 + -1.7 * (expected_time - times.mean())
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-6, atol=1e-6)  # times are kept as float32
    np.testing.assert_allclose(readout.last_weights.numpy(), w, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(readout.last_expected_time.numpy(), expected_time, rtol=1e-6)


def test_latency_readout_initialisation():
    readout = LatencyReadout(8, token_times(200))
    assert {n for n, _ in readout.named_parameters()} == {"scorer.weight", "offset", "scale"}  # no bias
    assert readout.scale.item() == pytest.approx(2.5) and readout.offset.item() == 0.0
    assert readout.scorer.weight.abs().sum() > 0  # not zero: the tokens would get no gradient at the first step
    assert "times" not in readout.state_dict()  # follows from the window length: not saved
    with torch.no_grad():
        readout.scorer.weight.zero_()  # a uniform belief: E[t] is the middle token time, the prediction the mean
    out = readout(torch.randn(3, 50, 8))
    torch.testing.assert_close(out, torch.zeros(3), atol=1e-6, rtol=0)
    torch.testing.assert_close(readout.last_weights, torch.full((3, 50), 1 / 50))
    torch.testing.assert_close(readout.last_expected_time, torch.full((3,), 1.495))
    with pytest.raises(ValueError, match="built for 50 tokens"):
        readout(torch.randn(3, 49, 8))


@pytest.mark.parametrize("name", SPARSE_MODELS)
def test_untrained_latency_models_start_near_the_training_mean(name):
    model = make(name, readout="latency").eval()
    with torch.no_grad():
        out = model(20 * torch.randn(16, 129, 200))  # microvolt-sized input
    assert out.abs().max() < 0.5  # standardised units: close to the mean predictor (loss about 1)
    weights, _ = model.readout_weights()
    assert weights.max() < 0.2  # a broad belief, not a spike, before training


# ----------------------------------------------------------------- in the models


def last_tokens(model, x):
    """The tokens after the last sparse block (B, T', C), captured with a forward hook."""
    seen = {}
    handle = model.blocks[-1].register_forward_hook(lambda _m, _i, out: seen.__setitem__("tokens", out))
    out = model(x)
    handle.remove()
    return out, seen["tokens"].detach().numpy()


@pytest.mark.parametrize("name", SPARSE_MODELS)
@pytest.mark.parametrize("readout", READOUTS)
def test_model_readout_matches_float64_numpy(name, readout):
    model = make(name, n_channels=16, n_times=40, channel_reduction=4, readout=readout).double().eval()
    rng = np.random.default_rng(3)
    with torch.no_grad():  # away from the zero initialisation, so the weights are not uniform
        if readout == "attention":
            model.readout.query.copy_(torch.from_numpy(rng.normal(size=model.readout.dim)) * 3)
        if readout == "latency":
            model.readout.scorer.weight.copy_(torch.from_numpy(rng.normal(size=(1, model.readout.scorer.in_features))))
            model.readout.offset.fill_(-0.2)
            model.readout.scale.fill_(3.0)
        x = torch.from_numpy(rng.normal(size=(3, 16, 40)))
        out, tokens = last_tokens(model, x)
    times = np.array([0.5 + (4 * j + 1.5) / 100 for j in range(10)])  # 40 samples -> 10 tokens
    b, t, c = tokens.shape
    assert (b, t) == (3, 10)

    if readout == "mean":
        pooled = tokens.mean(axis=1)
        if name == "eeg-sparse-improved":
            pooled = np.concatenate([pooled, tokens.max(axis=1)], axis=1)
        assert model.readout_weights() is None
    elif readout == "attention":
        q = model.readout.query.detach().numpy()
        w = np_softmax(np.einsum("btc,c->bt", tokens, q) / np.sqrt(c))
        pooled = np.einsum("bt,btc->bc", w, tokens)
    else:
        u = model.readout.scorer.weight.detach().numpy()[0]
        w = np_softmax(np.einsum("btc,c->bt", tokens, u))
        expected = -0.2 + 3.0 * ((w * times).sum(axis=1) - times.mean())
        np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(model.latency_expected_time().numpy(), (w * times).sum(axis=1), rtol=1e-6)
    if readout != "latency":
        with torch.no_grad():
            expected = model.head(torch.from_numpy(pooled)).squeeze(-1).numpy()
        np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10, atol=1e-10)
    if readout != "mean":
        weights, token_t = model.readout_weights()
        np.testing.assert_allclose(weights.numpy(), w, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(token_t.numpy(), times, atol=1e-6)
        assert not np.allclose(w, 1 / t)  # a real test of the weighting, not of uniform weights


@pytest.mark.parametrize("name", SPARSE_MODELS)
@pytest.mark.parametrize("readout", ["attention", "latency"])
@pytest.mark.parametrize("n_times", [200, 103, 7])
def test_shapes_in_train_and_eval(name, readout, n_times):
    model = make(name, n_times=n_times, readout=readout)
    assert isinstance(model, HasReadoutWeights)
    with pytest.raises(RuntimeError, match="before its first forward pass"):
        model.readout_weights()
    for mode in (model.train, model.eval):
        mode()
        out = model(torch.randn(2, 129, n_times))
        assert out.shape == (2,) and out.dtype == torch.float32 and torch.isfinite(out).all()
        weights, times = model.readout_weights()
        assert weights.shape == (2, n_times // 4) and times.shape == (n_times // 4,)
        torch.testing.assert_close(weights.sum(dim=1), torch.ones(2))
        assert not weights.requires_grad


@pytest.mark.parametrize("name", SPARSE_MODELS)
@pytest.mark.parametrize("readout", ["attention", "latency"])
def test_gradients_reach_every_parameter(name, readout):
    model = make(name, readout=readout).train()
    model(torch.randn(4, 129, 200)).square().mean().backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, pname
        assert torch.isfinite(p.grad).all(), pname
        assert p.grad.abs().sum() > 0, pname
    assert model.readout is not None and all(p.grad is not None for p in model.readout.parameters())


@pytest.mark.parametrize("name", SPARSE_MODELS)
@pytest.mark.parametrize("readout", ["attention", "latency"])
def test_eval_is_deterministic_and_batch_independent(name, readout):
    model = make(name, readout=readout).eval()
    x = torch.randn(3, 129, 200)
    with torch.no_grad():
        first = model(x)
        w_first = model.readout_weights()[0].clone()
        second = model(x)
        w_second = model.readout_weights()[0].clone()
        alone = model(x[1:2])
        w_alone = model.readout_weights()[0]
    assert torch.equal(first, second) and torch.equal(w_first, w_second)
    torch.testing.assert_close(alone, first[1:2], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(w_alone, w_first[1:2], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name", SPARSE_MODELS)
def test_mean_readout_keeps_the_seed_state_dict_and_other_readouts_add_theirs(name):
    mean = make(name, n_channels=16, n_times=40, channel_reduction=4)
    assert mean.readout is None and not any(k.startswith("readout.") for k in mean.state_dict())
    attention = make(name, n_channels=16, n_times=40, channel_reduction=4, readout="attention")
    assert {k for k in attention.state_dict() if k.startswith("readout.")} == {"readout.query"}
    latency = make(name, n_channels=16, n_times=40, channel_reduction=4, readout="latency")
    keys = set(latency.state_dict())
    assert {k for k in keys if k.startswith("readout.")} == {"readout.scorer.weight", "readout.offset", "readout.scale"}
    assert latency.head is None and not any(k.startswith("head.") for k in keys)


def test_an_unknown_readout_is_a_recipe_error():
    with pytest.raises(RecipeError, match="model.readout.*'mean', 'attention', 'latency'.*did you mean 'latency'"):
        build_section(get_model_spec("eeg-sparse-lightweight").config, {"readout": "latenc"}, "model")


# ----------------------------------------------------------------- the plot


def test_plot_readout_weights_writes_one_png(tmp_path):
    model = make("eeg-sparse-lightweight", readout="latency").eval()
    with torch.no_grad():
        model(torch.randn(5, 129, 200))
    weights, times = model.readout_weights()
    path = plot_readout_weights(
        weights,
        times,
        tmp_path / "maps" / "readout.png",
        response_times=[0.3, 1.2, 1.6, 2.0, 2.6],  # before and after the window too
        expected_times=model.latency_expected_time(),
        n_windows=4,
    )
    assert path == tmp_path / "maps" / "readout.png" and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    plot_readout_weights(weights.numpy(), times.numpy(), tmp_path / "one.png", n_windows=1)
    assert (tmp_path / "one.png").stat().st_size > 0
    with pytest.raises(ValueError, match="weights must be"):
        plot_readout_weights(weights[:, :10], times, tmp_path / "bad.png")
    with pytest.raises(ValueError, match="response_times has 2 entries for 5 windows"):
        plot_readout_weights(weights, times, tmp_path / "bad.png", response_times=[1.0, 2.0])


def test_attention_readout_times_follow_the_input_length():
    model = make("eeg-sparse-lightweight", n_times=200, readout="attention").eval()
    with torch.no_grad():
        model(torch.randn(2, 129, 120))  # attention pooling takes any length
    weights, times = model.readout_weights()
    assert weights.shape == (2, 30)
    torch.testing.assert_close(times, token_times(120))


def test_latency_expectation_stays_float32_under_bf16_autocast():
    readout = LatencyReadout(4, token_times(200))
    tokens = torch.randn(3, 50, 4)
    reference = readout(tokens)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = readout(tokens)
    assert out.dtype == torch.float32
    torch.testing.assert_close(readout.last_expected_time, (readout.last_weights * token_times(200)).sum(1))
    torch.testing.assert_close(out, reference, atol=0.05, rtol=0)  # only the scorer runs in bf16
