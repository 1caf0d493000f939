"""Diagnostics: weight capture, head diversity, gradient monitor, heat maps."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from attn.attention import (
    GradientMonitor,
    MultiHeadAttention,
    capture_attention,
    head_diversity,
    save_attention_heatmaps,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class TwoLayers(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(4, 8)
        self.first = MultiHeadAttention(8, 2)
        self.second = MultiHeadAttention(8, 4, layer_norm="pre", residual=True)
        self.head = nn.Linear(8, 1)

    def forward(self, x):
        h = self.embed(x)
        h, _ = self.first(h, causal=True)
        h, _ = self.second(h)
        return self.head(h).squeeze(-1)


def test_capture_attention_equals_need_weights_and_restores_fast_path():
    torch.manual_seed(0)
    model = TwoLayers().eval()
    x = torch.randn(3, 5, 4)
    plain = model(x)
    with capture_attention(model) as captured:
        out = model(x)
    torch.testing.assert_close(out, plain)  # capturing does not change the result
    assert set(captured) == {"first", "second"}

    h = model.embed(x)
    h1, w1 = model.first(h, causal=True, need_weights=True)
    _, w2 = model.second(h1, need_weights=True)
    torch.testing.assert_close(captured["first"], w1)
    torch.testing.assert_close(captured["second"], w2)
    assert captured["first"].shape == (3, 2, 5, 5) and captured["second"].shape == (3, 4, 5, 5)
    assert captured["first"].device.type == "cpu" and not captured["first"].requires_grad
    assert model.first.weights_hook is None and model.second.weights_hook is None


class FixedWeights(nn.Module):
    """Not a MultiHeadAttention: it only follows the weights_hook convention."""

    def __init__(self):
        super().__init__()
        self.weights_hook = None

    def forward(self, x):
        weights = torch.softmax(x @ x.transpose(-2, -1), dim=-1)[:, None]  # (B, 1, L, L)
        if self.weights_hook is not None:
            self.weights_hook(weights)
        return (weights[:, 0] @ x).sum()


def test_capture_attention_takes_any_module_with_a_weights_hook():
    model = nn.Sequential(FixedWeights(), nn.Identity())

    def previous(weights):  # the hook in place before capturing
        raise AssertionError("replaced while capturing")

    model[0].weights_hook = previous
    x = torch.randn(2, 3, 4)
    with capture_attention(model) as captured:
        model(x)
    assert set(captured) == {"0"}
    torch.testing.assert_close(captured["0"], torch.softmax(x @ x.transpose(-2, -1), dim=-1)[:, None])
    assert model[0].weights_hook is previous


def test_head_diversity_zero_iff_identical_and_one_for_disjoint():
    torch.manual_seed(1)
    one_head = torch.softmax(torch.randn(2, 1, 4, 6), dim=-1)
    assert head_diversity(one_head.expand(2, 3, 4, 6)).item() == pytest.approx(0.0, abs=1e-7)
    different = torch.softmax(torch.randn(2, 3, 4, 6), dim=-1)
    assert 0.0 < head_diversity(different).item() < 1.0

    disjoint = torch.zeros(1, 2, 3, 4)
    disjoint[:, 0, :, :2] = 0.5
    disjoint[:, 1, :, 2:] = 0.5
    assert head_diversity(disjoint).item() == pytest.approx(1.0)

    # Hand value: two heads, one row each, p = (1, 0), q = (1/2, 1/2), mixture m = (3/4, 1/4).
    p, q = torch.tensor([1.0, 0.0]), torch.tensor([0.5, 0.5])
    js_bits = 0.5 * (1.0 * math.log(1.0 / 0.75)) + 0.5 * (0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25))
    js_bits /= math.log(2)
    assert head_diversity(torch.stack([p, q]).view(2, 1, 2)).item() == pytest.approx(js_bits, rel=1e-6)

    with pytest.raises(ValueError, match="at least 2 heads"):
        head_diversity(torch.ones(1, 1, 2, 2))


def test_gradient_monitor_norms_equal_manual_computation():
    torch.manual_seed(2)
    model = TwoLayers()
    monitor = GradientMonitor(model, band=(1e-3, 0.5))
    expected_names = {
        "embed",
        "head",
        "first.q_proj",
        "first.k_proj",
        "first.v_proj",
        "first.out_proj",
        "second.q_proj",
        "second.k_proj",
        "second.v_proj",
        "second.out_proj",
        "second.norm",
    }
    assert set(monitor.modules) == expected_names
    for _ in range(2):
        model.zero_grad()
        model(torch.randn(2, 5, 4)).pow(2).mean().backward()
        step = monitor.record()
        for name in expected_names:
            params = list(model.get_submodule(name).parameters())
            manual = math.sqrt(sum(p.grad.norm().item() ** 2 for p in params))
            assert step[name] == pytest.approx(manual, rel=1e-5)
    assert len(monitor.history) == 2

    low, high = monitor.band
    norms = [n for step in monitor.history for n in step.values()]
    assert monitor.fraction_in_band() == pytest.approx(sum(low <= n <= high for n in norms) / len(norms))
    per_module = monitor.fraction_in_band(per_module=True)
    assert set(per_module) == expected_names

    chosen = GradientMonitor(model, modules=["first", model.head])
    step = chosen.record()
    manual_first = math.sqrt(sum(p.grad.norm().item() ** 2 for p in model.first.parameters()))
    assert set(step) == {"first", "head"} and step["first"] == pytest.approx(manual_first, rel=1e-5)
    chosen.remove()
    assert chosen.record() == {}


def test_gradient_monitor_skips_modules_without_gradients_and_rejects_bad_arguments():
    model = TwoLayers()
    monitor = GradientMonitor(model)
    assert monitor.record() == {}
    with pytest.raises(ValueError, match="no gradient norms recorded"):
        monitor.fraction_in_band()
    with pytest.raises(ValueError, match="no module named 'nope'"):
        GradientMonitor(model, modules=["nope"])
    with pytest.raises(ValueError, match="not a submodule"):
        GradientMonitor(model, modules=[nn.Linear(2, 2)])
    with pytest.raises(ValueError, match="band"):
        GradientMonitor(model, band=(1.0, 0.1))


def test_heatmaps_write_pngs(tmp_path):
    weights = torch.softmax(torch.randn(2, 3, 4, 4), dim=-1)
    paths = save_attention_heatmaps(weights, tmp_path, tokens=list("abcd"), title="Layer 0")
    assert [p.name for p in paths] == [f"layer_0_head{h}.png" for h in range(3)]
    for path in paths:
        assert path.read_bytes()[:8] == PNG_SIGNATURE
    prefix_paths = save_attention_heatmaps(weights[0, 0], tmp_path / "sub" / "single")
    assert prefix_paths == [tmp_path / "sub" / "single_head0.png"]
    grid = save_attention_heatmaps(weights, tmp_path / "grid", grid=True)
    assert grid == [tmp_path / "grid_heads.png"] and grid[0].read_bytes()[:8] == PNG_SIGNATURE
    with pytest.raises(ValueError, match="3 tokens for 4 keys"):
        save_attention_heatmaps(weights, tmp_path, tokens=list("abc"))


def test_import_does_not_load_matplotlib():
    import subprocess
    import sys

    code = "import sys, attn.attention; assert 'matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
