"""eeg-latency: its softmax over time against a float64 numpy reference, its size counted by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from attn.datasets.eeg import dataset as eeg_dataset
from attn.errors import RecipeError
from attn.models.eeg_latency import EDGE_GAP_INIT_S, EEGLatency, TimeAttention
from attn.models.eeg_readouts import LATENCY_SCALE_INIT
from attn.models.registry import HasReadoutWeights
from tests.helpers import make_eeg_model as make


def np_softmax(scores: np.ndarray) -> np.ndarray:
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def np_softplus(x: np.ndarray) -> np.ndarray:
    return np.log1p(np.exp(x))


def randomise(module: torch.nn.Module, seed: int) -> None:
    """Every parameter drawn afresh, so no term of the reference hides behind a zero initialisation."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * 0.5)


@pytest.mark.parametrize(("heads", "edge_slots"), [(1, True), (1, False), (3, True), (3, False)])
def test_time_attention_matches_float64_numpy(heads: int, edge_slots: bool) -> None:
    n_times, hidden = 11, 4
    readout = TimeAttention(hidden, n_times, heads=heads, edge_slots=edge_slots).double()
    randomise(readout, 0)
    h = np.random.default_rng(1).normal(size=(2, hidden, n_times))
    out = readout(torch.from_numpy(h)).detach().numpy()

    p = {k: v.detach().numpy() for k, v in readout.named_parameters()}
    t = eeg_dataset.WINDOW_START_S + np.arange(n_times) / eeg_dataset.SFREQ
    t_mid = (t[0] + t[-1]) / 2
    if edge_slots:
        gaps = 1 / eeg_dataset.SFREQ + np_softplus(p["edge_gaps"])
        t = np.concatenate([[t[0] - gaps[0]], t, [t[-1] + gaps[1]]])
    expected = np.zeros(2)
    mean_weights, mean_times = np.zeros((2, len(t))), np.zeros(2)
    for b in range(2):
        out_b = p["out.bias"][0]
        for k in range(heads):
            scores = p["scorer.weight"][k, :, 0] @ h[b] + p["scorer.bias"][k] + p["prior"][k]
            if edge_slots:
                before, after = (
                    p["edges.weight"][2 * k : 2 * k + 2] @ h[b].mean(axis=1) + p["edges.bias"][2 * k : 2 * k + 2]
                )
                scores = np.concatenate([[before], scores, [after]])
            w = np_softmax(scores)
            mean = w @ t
            sd = math.sqrt(w @ t**2 - mean**2)
            out_b += p["out.weight"][0, k] * (mean - t_mid) + p["out.weight"][0, heads + k] * sd
            mean_weights[b] += w / heads
            mean_times[b] += mean / heads
        expected[b] = out_b

    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(readout.last_weights.numpy(), mean_weights, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(readout.last_expected_time.numpy(), mean_times, rtol=1e-10)
    np.testing.assert_allclose(readout.last_weights.numpy() @ t, mean_times, rtol=1e-10)
    np.testing.assert_allclose(readout.slot_times().detach().numpy(), t, rtol=1e-6)


def test_a_uniform_belief_predicts_the_training_mean_and_moving_it_moves_the_prediction() -> None:
    readout = TimeAttention(2, 200, heads=2, edge_slots=False).double()
    with torch.no_grad():
        readout.scorer.weight.zero_()
        readout.scorer.bias.zero_()
    h = torch.zeros(1, 2, 200, dtype=torch.float64)
    assert readout(h).item() == pytest.approx(0.0, abs=1e-12)  # E[t] = t_mid, weight of the spread 0
    assert float(readout.last_expected_time) == pytest.approx(1.495, abs=1e-9)  # (0.5 + 2.49) / 2
    with torch.no_grad():  # all belief on the last sample, 2.49 s
        readout.prior.copy_(torch.where(torch.arange(200) == 199, 100.0, 0.0).expand(2, 200))
    assert readout(h).item() == pytest.approx(LATENCY_SCALE_INIT * (2.49 - 1.495), rel=1e-9)


def test_edge_slots_start_outside_the_window_and_stay_there() -> None:
    readout = TimeAttention(2, 200, edge_slots=True)
    times = readout.slot_times().detach()
    assert times[0].item() == pytest.approx(0.5 - EDGE_GAP_INIT_S, abs=1e-6)
    assert times[-1].item() == pytest.approx(2.49 + EDGE_GAP_INIT_S, abs=1e-6)
    with torch.no_grad():
        readout.edge_gaps.fill_(-30.0)  # softplus keeps the gaps positive whatever training does
    times = readout.slot_times().detach()
    assert bool((times.diff() > 0).all())
    assert times[0].item() == pytest.approx(0.49, abs=1e-6) and times[-1].item() == pytest.approx(2.50, abs=1e-6)


@pytest.mark.parametrize(("heads", "count"), [(1, 17_144), (4, 18_047)])
def test_parameter_count_by_hand(heads: int, count: int) -> None:
    model = make("eeg-latency", heads=heads, spatial_filters=8)  # 32 hidden, kernel 25, edge slots
    spatial = 129 * 8  # bias-free; its BatchNorm has no affine parameters
    temporal = (8 * 32 * 25 + 32) + 2 * 32 + (32 * 32 * 9 + 32) + 2 * 32
    # scorer, prior, edge scorer, edge gaps (shared), output
    readout = (32 + 1) * heads + 200 * heads + (32 + 1) * 2 * heads + 2 + (2 * heads + 1)
    assert sum(p.numel() for p in model.parameters()) == spatial + temporal + readout == count


def test_the_model_keeps_its_belief_and_ignores_the_input_scale() -> None:
    model = make("eeg-latency", dropout=0.0).train()  # batch statistics: scale-free by construction
    assert isinstance(model, HasReadoutWeights) and model.readout_kind == "latency"
    x = torch.randn(5, 129, 200, generator=torch.Generator().manual_seed(0))
    out = model(x)
    weights, times = model.readout_weights()
    assert out.shape == (5,) and weights.shape == (5, 202) and times.shape == (202,)
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(5))
    torch.testing.assert_close(model.latency_expected_time(), weights @ times)
    torch.testing.assert_close(model(x * 1e3), out, rtol=1e-4, atol=1e-4)  # microvolts or volts alike


def test_bad_windows_and_kernels_are_named() -> None:
    model = make("eeg-latency")
    with pytest.raises(ValueError, match="129"):
        model(torch.zeros(2, 64, 200))
    with pytest.raises(ValueError, match="200 samples"):
        model(torch.zeros(2, 129, 150))
    with pytest.raises(RecipeError, match="model.kernel_size must be odd"):
        make("eeg-latency", kernel_size=24)
    fresh = EEGLatency.__new__(EEGLatency)  # no forward pass yet: a clear error, not None
    torch.nn.Module.__init__(fresh)
    fresh.readout = TimeAttention(2, 10, edge_slots=True)
    fresh.name = "eeg-latency"
    with pytest.raises(RuntimeError, match="before its first forward pass"):
        fresh.readout_weights()


def test_the_edge_gap_starts_at_its_initial_value_through_the_softplus() -> None:
    gap = TimeAttention(2, 10, edge_slots=True).edge_gaps.detach()
    assert (0.01 + F.softplus(gap)).tolist() == pytest.approx([EDGE_GAP_INIT_S] * 2, abs=1e-6)
    assert math.isclose(0.01 + math.log1p(math.exp(float(gap[0]))), EDGE_GAP_INIT_S, rel_tol=1e-6)


def _features(model: EEGLatency, x: torch.Tensor) -> torch.Tensor:
    """The features the scores read (after the context layers, if any), via the readout's input."""
    seen: list[torch.Tensor] = []
    handle = model.readout.register_forward_pre_hook(lambda _, args: seen.append(args[0]))
    model(x)
    handle.remove()
    return seen[0]


def test_context_layers_let_every_sample_see_the_whole_window() -> None:
    x = torch.randn(2, 129, 200, generator=torch.Generator().manual_seed(0))
    changed = x.clone()
    changed[..., :5] += 10.0  # the first 50 ms only
    for layers, reaches_the_end in ((0, False), (1, True)):
        model = make("eeg-latency", context_layers=layers).eval()
        diff = (_features(model, changed) - _features(model, x)).abs()
        assert bool((diff[..., :5] > 0).any())
        # the two convolutions see 25 + 9 - 1 = 33 samples: the last sample is out of their reach
        assert bool((diff[..., -1] > 1e-6).any()) == reaches_the_end


def test_a_context_layer_is_torchs_encoder_layer_and_counts_as_such() -> None:
    plain, context = make("eeg-latency"), make("eeg-latency", context_layers=1)
    layer = context.context[0]
    assert isinstance(layer, torch.nn.TransformerEncoderLayer) and layer.norm_first
    d, ffn = 32, 64  # attention: in (3 d x d + 3 d) and out (d x d + d); feed-forward; two LayerNorms
    extra = (3 * d * d + 3 * d) + (d * d + d) + (d * ffn + ffn) + (ffn * d + d) + 2 * 2 * d
    count = sum(p.numel() for p in context.parameters()) - sum(p.numel() for p in plain.parameters())
    assert count == extra == 8_544
