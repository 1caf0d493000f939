"""eeg-braindecode: any braindecode model as a peer. Fake braindecode modules test the wrapper
everywhere; the tests at the end use the real braindecode and skip (with the reason) where it
does not import."""

from __future__ import annotations

import importlib
import sys
import types

import pytest
import torch

from attn.errors import RecipeError
from attn.models import eeg_braindecode, eegnex  # noqa: F401  (registers the models)
from attn.models.eeg_braindecode import BraindecodeRegressor, braindecode_archs, braindecode_problem
from attn.models.registry import build_model, get_model_spec
from attn.schema import build_section


def make(name: str = "eeg-braindecode", n_channels: int = 129, n_times: int = 200, **cfg):
    spec = get_model_spec(name)
    return build_model(name, build_section(spec.config, cfg, "model"), n_channels=n_channels, n_times=n_times)


# ----------------------------------------------------------------- a fake braindecode


class EEGModuleMixin:
    """Stands in for braindecode.models.base.EEGModuleMixin."""


class FakeNet(EEGModuleMixin, torch.nn.Module):
    seen: dict = {}

    def __init__(self, n_chans, n_outputs, n_times, sfreq=None, width=3):
        super().__init__()
        FakeNet.seen = {"n_chans": n_chans, "n_outputs": n_outputs, "n_times": n_times, "sfreq": sfreq, "width": width}
        self.proj = torch.nn.Linear(n_times, n_outputs)

    def forward(self, x):
        return self.proj(x.mean(dim=1))  # (B, n_outputs)


class EEGNet(FakeNet):
    pass


class TooManyOutputs(FakeNet):
    def forward(self, x):
        return torch.zeros(x.shape[0], 3, device=x.device)


class NoMetaKernel(FakeNet):
    def forward(self, x):
        if x.device.type == "meta":
            raise NotImplementedError("no meta kernel for this op")
        return super().forward(x)


class NeedsMoreSamples(FakeNet):
    def __init__(self, n_chans, n_outputs, n_times, sfreq=None):
        if n_times < 250:
            raise ValueError(f"Time dimension ({n_times}) is shorter than win_len (250)\nsecond line")
        super().__init__(n_chans, n_outputs, n_times, sfreq)


class Interpolated(FakeNet):
    _TARGET_CHS_INFO = ["Cz"]


@pytest.fixture
def fake_braindecode(monkeypatch):
    package = types.ModuleType("braindecode")
    models = types.ModuleType("braindecode.models")
    base = types.ModuleType("braindecode.models.base")
    base.EEGModuleMixin = EEGModuleMixin
    models.base = base
    for cls in (EEGModuleMixin, FakeNet, EEGNet, TooManyOutputs, NoMetaKernel, NeedsMoreSamples, Interpolated):
        setattr(models, cls.__name__, cls)
    models.Linear = torch.nn.Linear  # a class that is not a braindecode model
    models.EEGNeX = FakeNet
    package.models = models
    monkeypatch.setitem(sys.modules, "braindecode", package)
    monkeypatch.setitem(sys.modules, "braindecode.models", models)
    return models


def test_builds_the_named_class_with_the_data_facts_and_its_kwargs(fake_braindecode):
    model = make(arch="FakeNet", n_channels=12, n_times=50, kwargs={"width": 7})
    assert FakeNet.seen == {"n_chans": 12, "n_outputs": 1, "n_times": 50, "sfreq": 100.0, "width": 7}
    assert isinstance(model, BraindecodeRegressor) and model.arch == "FakeNet"
    assert list(model.state_dict()) == ["net.proj.weight", "net.proj.bias"]
    x = torch.randn(3, 12, 50)
    out = model(x)
    assert out.shape == (3,)
    torch.testing.assert_close(out, model.net(x)[:, 0])


def test_renamed_classes_resolve_to_their_twin(fake_braindecode):
    assert isinstance(make(arch="EEGNetv4", n_channels=4, n_times=20).net, EEGNet)


def test_an_unknown_arch_lists_the_models(fake_braindecode):
    with pytest.raises(
        RecipeError, match=r"no model 'FakeNett'; did you mean 'FakeNet'\? \(available: EEGNeX, EEGNet, FakeNet,"
    ):
        make(arch="FakeNett")
    with pytest.raises(RecipeError) as err:
        make(arch="Linear")
    assert "Linear" not in str(err.value).split("available:")[1]  # not a braindecode model
    assert "Interpolated" not in str(err.value).split("available:")[1] and "EEGModuleMixin" not in str(err.value)


def test_a_failing_constructor_is_a_recipe_error_naming_the_call(fake_braindecode):
    with pytest.raises(RecipeError, match=r"braindecode FakeNet\(.*width=1, depth=2\) failed: TypeError"):
        make(arch="FakeNet", kwargs={"width": 1, "depth": 2})
    with pytest.raises(RecipeError, match=r"NeedsMoreSamples\(.*\) failed: ValueError: Time dimension \(200\).*250\)$"):
        make(arch="NeedsMoreSamples")


def test_a_model_with_several_outputs_is_refused_at_forward(fake_braindecode):
    model = make(arch="TooManyOutputs", n_channels=4, n_times=20)
    with pytest.raises(ValueError, match=r"TooManyOutputs returned shape \(2, 3\) for 2 windows"):
        model(torch.randn(2, 4, 20))


@pytest.mark.parametrize(
    "cfg, message",
    [
        ({"kwargs": {"n_times": 100}}, r"must not set n_times: the data decide"),
        ({"kwargs": {"sfreq": 250, "drop_prob": 0.1}}, r"must not set sfreq"),
        ({"kwargs": [1, 2]}, r"'model.kwargs' must be mapping of str"),
        ({"arch": "EEG Net"}, r"'model.arch' must be a braindecode class name"),
        ({"archh": "EEGNet"}, r"did you mean 'arch'"),
    ],
)
def test_bad_sections_are_recipe_errors(cfg, message):
    with pytest.raises(RecipeError, match=message):
        build_section(eeg_braindecode.EEGBraindecodeConfig, cfg, "model")


def test_config_defaults_and_kwargs_keep_yaml_values():
    cfg = build_section(eeg_braindecode.EEGBraindecodeConfig, {}, "model")
    assert cfg.arch == "EEGNeX" and cfg.kwargs == {}
    cfg = build_section(
        eeg_braindecode.EEGBraindecodeConfig,
        {"arch": "ATCNet", "kwargs": {"lr_like": "3e-4", "sizes": [4, 8]}},
        "model",
    )
    assert cfg.kwargs == {"lr_like": 3e-4, "sizes": [4, 8]}


def test_archs_listing_says_what_builds_and_why_not(fake_braindecode):
    listing = braindecode_archs(n_chans=4, n_times=20)
    assert list(listing) == sorted(listing)
    assert set(listing) == {"EEGNet", "EEGNeX", "FakeNet", "NeedsMoreSamples", "NoMetaKernel", "TooManyOutputs"}
    assert listing["FakeNet"] == "ok" and listing["EEGNet"] == "ok"
    assert listing["NoMetaKernel"] == "ok"  # the meta device cannot run it, the CPU can
    assert listing["NeedsMoreSamples"] == "ValueError: Time dimension (20) is shorter than win_len (250)"
    assert listing["TooManyOutputs"] == "output shape (2, 3) for 2 windows, not 1 value(s) per window"
    assert braindecode_archs(n_chans=4, n_times=300)["NeedsMoreSamples"] == "ok"


# ----------------------------------------------------------------- when braindecode does not import


def test_missing_braindecode_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "braindecode", None)  # the import fails even where braindecode is installed
    monkeypatch.setitem(sys.modules, "braindecode.models", None)  # ... and already imported
    with pytest.raises(
        RecipeError, match=r"model eeg-braindecode needs braindecode: pip install 'attn\[braindecode\]'"
    ):
        make(arch="EEGNeX")
    with pytest.raises(RecipeError, match=r"needs braindecode"):
        braindecode_archs()
    assert braindecode_problem().startswith("model eeg-braindecode needs braindecode")


def test_on_python_3_10_the_reason_is_the_python_version(monkeypatch):
    monkeypatch.setitem(sys.modules, "braindecode", None)  # the import fails even where braindecode is installed
    monkeypatch.setitem(sys.modules, "braindecode.models", None)  # ... and already imported
    monkeypatch.setattr(eeg_braindecode, "_python", lambda: (3, 10))
    with pytest.raises(RecipeError, match=r"braindecode >= 1.8, which needs Python >= 3.11 \(this is Python 3.10"):
        make(arch="EEGNeX")


def test_a_broken_install_states_the_torchaudio_rule(monkeypatch):
    real_import = importlib.import_module

    def failing_import(name, *args, **kwargs):
        if name.startswith("braindecode"):  # what torchaudio 2.11.1 from PyPI raises beside a CPU-only torch
            try:
                raise OSError("libc10_cuda.so: cannot open shared object file: No such file or directory")
            except OSError as e:
                raise OSError("Could not load this library: /venv/torchaudio/lib/_torchaudio.so") from e
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(importlib, "import_module", failing_import)
    with pytest.raises(RecipeError) as err:
        make(arch="EEGNeX")
    text = str(err.value)
    assert (
        "installed but failed to import (OSError: Could not load this library: /venv/torchaudio/lib/_torchaudio.so, "
        "from OSError: libc10_cuda.so: cannot open shared object file" in text
    )
    assert "must come from the same index and build as torch" in text and torch.__version__ in text
    assert "\n" not in text


# ----------------------------------------------------------------- the real braindecode

PROBLEM = braindecode_problem()
real = pytest.mark.skipif(PROBLEM is not None, reason=f"braindecode does not import here: {PROBLEM}")
PEERS = ["EEGNeX", "EEGNet", "ShallowFBCSPNet", "Deep4Net", "EEGConformer", "ATCNet", "CTNet"]


@real
@pytest.mark.parametrize("arch", PEERS)
def test_the_benchmark_peers_build_and_return_one_value_per_window(arch):
    torch.manual_seed(0)
    model = make(arch=arch)
    x = torch.randn(2, 129, 200)
    for mode in (model.train, model.eval):
        mode()
        out = model(x)
        assert out.shape == (2,) and torch.isfinite(out).all()
    out.sum().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


@real
def test_eegnex_through_eeg_braindecode_is_the_eeg_eegnex_network():
    torch.manual_seed(0)
    old = make("eeg-eegnex", dropout=0.4).eval()
    new = make(arch="EEGNeX", kwargs={"drop_prob": 0.4}).eval()
    assert {k: v.shape for k, v in old.state_dict().items()} == {k: v.shape for k, v in new.state_dict().items()}
    new.load_state_dict(old.state_dict())  # an eeg-eegnex checkpoint loads into eeg-braindecode
    x = torch.randn(3, 129, 200)
    with torch.no_grad():
        torch.testing.assert_close(new(x), old(x))


@real
def test_the_listing_on_real_classes(monkeypatch):
    models = importlib.import_module("braindecode.models")
    classes = eeg_braindecode.model_classes(models)
    assert set(PEERS) <= set(classes)
    subset = {name: classes[name] for name in ("EEGNeX", "ShallowFBCSPNet", "FBLightConvNet") if name in classes}
    monkeypatch.setattr(eeg_braindecode, "model_classes", lambda _models: subset)
    listing = braindecode_archs()
    assert listing["EEGNeX"] == "ok" and listing["ShallowFBCSPNet"] == "ok"
    if "FBLightConvNet" in listing:  # braindecode 1.8.1: its 250-sample window does not fit in 200
        assert listing["FBLightConvNet"] != "ok"


@real
@pytest.mark.parametrize("name", ["eeg-eegnex", "eeg-braindecode"])
def test_the_exported_state_dict_loads_into_braindecodes_own_eegnex(name):
    from attn.inference.export import bare_state_dict

    models = importlib.import_module("braindecode.models")
    torch.manual_seed(0)
    ours = make(name) if name == "eeg-eegnex" else make(arch="EEGNeX")
    theirs = models.EEGNeX(n_chans=129, n_outputs=1, n_times=200, sfreq=100)
    theirs.load_state_dict(bare_state_dict(ours), strict=True)
    x = torch.randn(3, 129, 200)
    with torch.no_grad():
        torch.testing.assert_close(theirs.eval()(x).reshape(3), ours.eval()(x))
