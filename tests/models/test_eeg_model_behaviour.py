"""Shapes, determinism, gradients, sparse permutations, recipe config and the eegnex wrapper."""

from __future__ import annotations

import importlib
import sys
import types

import pytest
import torch

from attn.attention.positional import sinusoidal_positions
from attn.attention.sparse import SparseTokenAttention
from attn.errors import RecipeError
from attn.models import eeg_cnn, eeg_sparse, eegnex  # noqa: F401  (registers the models)
from attn.models.registry import get_model_spec
from attn.schema import build_section
from tests.helpers import make_eeg_model as make

OWN_MODELS = ["eeg-cnn", "eeg-sparse-lightweight", "eeg-sparse-improved"]
SPARSE_MODELS = ["eeg-sparse-lightweight", "eeg-sparse-improved"]


def test_registered_as_eeg_models():
    for name in [*OWN_MODELS, "eeg-eegnex"]:
        spec = get_model_spec(name)
        assert spec.task == "eeg" and spec.description
        assert build_section(spec.config, {}, "model").dropout == (0.5 if name == "eeg-eegnex" else 0.4)


@pytest.mark.parametrize("name", OWN_MODELS)
@pytest.mark.parametrize("n_times", [200, 100, 256, 7])
def test_output_shape(name, n_times):
    model = make(name, n_channels=129, n_times=n_times)
    for mode in (model.train, model.eval):
        mode()
        out = model(torch.randn(2, 129, n_times))
        assert out.shape == (2,) and out.dtype == torch.float32
        assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", OWN_MODELS)
def test_other_channel_counts(name):
    model = make(name, n_channels=32, n_times=64).eval()
    assert model(torch.randn(3, 32, 64)).shape == (3,)
    with pytest.raises(ValueError, match="expects windows"):
        model(torch.randn(3, 31, 64))
    with pytest.raises(ValueError, match="expects windows"):
        model(torch.randn(32, 64))


@pytest.mark.parametrize("name", OWN_MODELS)
def test_eval_mode_is_deterministic_and_batch_independent(name):
    model = make(name).eval()
    x = torch.randn(3, 129, 200)
    with torch.no_grad():
        first, second = model(x), model(x)
        alone = model(x[1:2])
    assert torch.equal(first, second)
    torch.testing.assert_close(alone, first[1:2], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", OWN_MODELS)
def test_gradients_reach_every_parameter(name):
    model = make(name).train()
    loss = model(torch.randn(4, 129, 200)).square().mean()
    loss.backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, pname
        assert torch.isfinite(p.grad).all(), pname
        assert p.grad.abs().sum() > 0, pname


@pytest.mark.parametrize("name", SPARSE_MODELS)
def test_sparse_permutation_is_random_in_training_and_fixed_in_eval(name):
    model = make(name, n_times=200)
    x = torch.randn(2, 129, 200)
    with pytest.raises(RuntimeError):
        model.attention_maps()

    model.train()
    model(x)
    first = [perm.clone() for _, perm in model.attention_maps()]
    model(x)
    second = [perm.clone() for _, perm in model.attention_maps()]
    assert all(not torch.equal(a, b) for a, b in zip(first, second))  # 50 tokens: 1/50! to repeat

    model.eval()
    with torch.no_grad():
        model(x)
        maps_a = model.attention_maps()
        model(x)
        maps_b = model.attention_maps()
    n_tokens = 200 // 4
    n_heads = int(0.5 * n_tokens)
    for (w_a, p_a), (_w_b, p_b) in zip(maps_a, maps_b):
        assert torch.equal(p_a, p_b)
        # eval: token t sits in group t % n_heads (strided interleave), every token exactly once
        groups = p_a.view(n_heads, -1)
        for g in range(n_heads):
            assert all(int(t) % n_heads == g for t in groups[g])
        assert sorted(p_a.tolist()) == list(range(n_tokens))
        assert w_a.shape == (2, n_heads, 2, 2)
        torch.testing.assert_close(w_a.sum(-1), torch.ones(2, n_heads, 2))  # no padding, no dropout


def test_scale_factor_sets_the_number_of_heads():
    model = make("eeg-sparse-lightweight", scale_factor=0.1).eval()
    attention = model.blocks[0].attention
    assert isinstance(attention, SparseTokenAttention) and attention.scale_factor == 0.1
    with torch.no_grad():
        model(torch.randn(1, 129, 200))
    weights, _ = model.attention_maps()[0]
    assert weights.shape == (1, 5, 10, 10)  # 50 tokens, int(0.1 * 50) = 5 heads of 10


def test_dropout_and_scale_factor_reach_the_layers():
    model = make("eeg-sparse-improved", dropout=0.25, attention_dropout=0.0)
    rates = {m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)}
    assert rates == {0.25}
    assert all(b.attention.dropout == 0.0 for b in model.blocks)
    cnn_rates = {m.p for m in make("eeg-cnn", dropout=0.1).modules() if isinstance(m, torch.nn.Dropout)}
    assert cnn_rates == {0.1}


@pytest.mark.parametrize(
    "name, cfg",
    [
        ("eeg-cnn", {"dropout": 1.0}),
        ("eeg-sparse-lightweight", {"scale_factor": 0.0}),
        ("eeg-sparse-lightweight", {"scale_factor": 1.5}),
        ("eeg-sparse-improved", {"channel_reduction": 0}),
        ("eeg-sparse-improved", {"dropuot": 0.3}),
    ],
)
def test_bad_recipe_values_are_recipe_errors(name, cfg):
    with pytest.raises(RecipeError):
        build_section(get_model_spec(name).config, cfg, "model")


@pytest.mark.parametrize("name", SPARSE_MODELS)
def test_data_the_sparse_models_cannot_take(name):
    with pytest.raises(RecipeError, match="at least 4 samples"):
        make(name, n_times=3)
    with pytest.raises(RecipeError, match="channel_reduction"):
        make(name, n_channels=4, n_times=200)


# ----------------------------------------------------------------- eegnex


def test_eegnex_without_braindecode_is_a_recipe_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "braindecode", None)  # makes the import fail even if installed
    monkeypatch.setitem(sys.modules, "braindecode.models", None)  # ... and already imported
    with pytest.raises(RecipeError, match=r"model eeg-eegnex needs braindecode: pip install 'attn\[braindecode\]'"):
        make("eeg-eegnex")


def test_eegnex_with_a_broken_braindecode_install_is_a_recipe_error(monkeypatch):
    real_import = importlib.import_module

    def failing_import(name, *args, **kwargs):
        if name.startswith("braindecode"):
            raise OSError("Could not load this library: _torchaudio.abi3.so")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(importlib, "import_module", failing_import)
    with pytest.raises(RecipeError, match=r"installed but failed to import \(OSError: Could not load.*torchaudio"):
        make("eeg-eegnex")
    with pytest.raises(RecipeError, match=r"torchaudio, which must come from the same index and build as torch"):
        make("eeg-eegnex")
    assert eegnex.braindecode_problem().startswith("model eeg-eegnex needs braindecode")


def test_eegnex_is_built_lazily_and_flattened(monkeypatch):
    seen = {}

    class FakeEEGNeX(torch.nn.Module):
        def __init__(self, **kwargs):
            super().__init__()
            seen.update(kwargs)
            self.proj = torch.nn.Linear(kwargs["n_times"], kwargs["n_outputs"])

        def forward(self, x):
            return self.proj(x.mean(dim=1))  # (B, n_outputs)

    package = types.ModuleType("braindecode")
    models = types.ModuleType("braindecode.models")
    models.EEGNeX = FakeEEGNeX
    package.models = models
    monkeypatch.setitem(sys.modules, "braindecode", package)
    monkeypatch.setitem(sys.modules, "braindecode.models", models)

    model = make("eeg-eegnex", n_channels=12, n_times=50, dropout=0.3)
    assert seen == {"n_chans": 12, "n_outputs": 1, "n_times": 50, "drop_prob": 0.3}
    x = torch.randn(3, 12, 50)
    out = model(x)
    assert out.shape == (3,)
    torch.testing.assert_close(out, model.net(x)[:, 0])


# ----------------------------------------------------------------- position encodings


@pytest.mark.parametrize("name", ["eeg-sparse-lightweight", "eeg-sparse-improved"])
def test_positional_encoding_adds_no_parameters_and_is_added_before_the_blocks(name):
    plain = make(name, n_channels=16, n_times=40, channel_reduction=4)
    positional = make(name, n_channels=16, n_times=40, channel_reduction=4, positional_encoding="sinusoidal")
    assert positional.state_dict().keys() == plain.state_dict().keys()  # checkpoints are interchangeable
    positional.load_state_dict(plain.state_dict())
    plain.eval(), positional.eval()
    x = torch.randn(3, 16, 40)
    with torch.no_grad():
        tokens = plain.features(plain.gates(x)).transpose(1, 2)
        _, length, dim = tokens.shape
        tokens = tokens + sinusoidal_positions(length, dim)  # (10, C): 40 samples after two max-pools of 2
        for block in plain.blocks:
            tokens = block(tokens)
        expected = plain.head(plain.pool(tokens)).squeeze(-1)
        torch.testing.assert_close(positional(x), expected)
        assert not torch.allclose(plain(x), expected)
