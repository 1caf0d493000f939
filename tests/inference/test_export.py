"""`attn export`: safetensors, ONNX and plain state dicts, each read back by the library that reads that format.

The export extra (safetensors, onnxscript, onnx, onnxruntime) is in the test extra; without it
these tests are skipped. braindecode does not import beside this machine's CPU-only torch, so the
braindecode wrapper's prefix stripping is tested with the wrapper class around a stand-in network.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from torch import nn

pytest.importorskip("safetensors", reason="the export extra is not installed (pip install 'attn[export]')")
onnxruntime = pytest.importorskip("onnxruntime", reason="the export extra is not installed")

from attn.inference import load_trained  # noqa: E402
from attn.inference.export import bare_state_dict, export_run  # noqa: E402
from attn.models.eegnex import EEGNeXRegressor  # noqa: E402
from attn.training.checkpoint import load_checkpoint  # noqa: E402
from tests.helpers import eeg_recipe, make_corpus, only_run_dir, run_cli, text_recipe, write_recipe  # noqa: E402


def train_once(tmp_path_factory: pytest.TempPathFactory, recipe: dict[str, Any]) -> Path:
    folder = tmp_path_factory.mktemp(recipe["name"])
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ATTN_CACHE", str(folder / "cache"))
        result = run_cli("train", write_recipe(folder, recipe), "--runs-dir", folder / "runs", "--quiet")
    assert result.exit_code == 0, result.output
    return only_run_dir(folder / "runs")


@pytest.fixture(scope="module")
def text_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    corpus = make_corpus(tmp_path_factory.mktemp("corpus") / "corpus.txt")
    return train_once(tmp_path_factory, text_recipe(corpus))


@pytest.fixture(scope="module")
def eeg_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_once(tmp_path_factory, eeg_recipe())


def export(run_dir: Path, fmt: str, *more: Any) -> Path:
    result = run_cli("export", run_dir, "--format", fmt, *more)
    assert result.exit_code == 0, result.output
    return Path(result.stdout.strip().splitlines()[-1])


# ---- safetensors -----------------------------------------------------------------------------


def test_safetensors_holds_the_weights_once_and_what_rebuilds_the_model(text_run: Path) -> None:
    from safetensors import safe_open

    path = export(text_run, "safetensors")
    assert path == text_run / "export" / "best.safetensors"
    checkpoint = load_checkpoint(text_run / "checkpoints" / "best.pt")
    with safe_open(str(path), "pt") as handle:
        meta = handle.metadata()
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}
    assert json.loads(meta["attn.recipe"]) == yaml.safe_load((text_run / "recipe.yaml").read_text(encoding="utf-8"))
    assert json.loads(meta["attn.extras"])["vocab"] == checkpoint["extras"]["vocab"]
    assert json.loads(meta["attn.model_info"]) == checkpoint["model_info"]
    assert int(meta["attn.step"]) == checkpoint["trainer"]["step"]
    state = checkpoint["model"]
    assert len(tensors) == len(state) - 1  # the head is tied to the token embedding: stored once
    for key, value in tensors.items():
        assert torch.equal(value, state[key]), key


def test_a_safetensors_file_rebuilds_the_same_model(text_run: Path) -> None:
    path = export(text_run, "safetensors")
    from_run, from_file = load_trained(text_run), load_trained(path)
    assert from_file.model.head.weight is from_file.model.tok_emb.weight  # the tie is restored
    tokens = torch.randint(0, from_run.model_info["vocab_size"], (3, 16), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(from_file.model(tokens), from_run.model(tokens))
    assert from_file.vocab.chars == from_run.vocab.chars and from_file.step == from_run.step


def test_generate_and_eval_take_an_exported_file(text_run: Path) -> None:
    path = export(text_run, "safetensors")
    args = ("--seed", "to be", "--length", "30", "--random-seed", "5")
    from_run, from_file = run_cli("generate", text_run, *args), run_cli("generate", path, *args)
    assert from_file.exit_code == 0, from_file.output
    assert from_file.stdout == from_run.stdout and from_file.stdout.startswith("to be")
    assert run_cli("eval", text_run).exit_code == 0
    result = run_cli("eval", path)
    assert result.exit_code == 0, result.output
    written = json.loads((path.parent / "best.safetensors.eval-val.json").read_text(encoding="utf-8"))
    expected = json.loads((text_run / "eval-val.json").read_text(encoding="utf-8"))
    assert written["metrics"] == expected["metrics"] and written["step"] == expected["step"]


def test_eval_of_an_exported_eeg_model_scores_the_runs_own_test_subjects(eeg_run: Path) -> None:
    path = export(eeg_run, "safetensors")
    for source in (eeg_run, path):
        assert run_cli("eval", source, "--split", "test").exit_code == 0
    from_file = json.loads((path.parent / "best.safetensors.eval-test.json").read_text(encoding="utf-8"))
    from_run = json.loads((eeg_run / "eval-test.json").read_text(encoding="utf-8"))
    assert from_file["metrics"] == from_run["metrics"] and "test_nrmse" in from_file["metrics"]


def test_a_safetensors_file_without_attn_metadata_is_a_named_error(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    path = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    result = run_cli("generate", path)
    assert result.exit_code == 2 and "other.safetensors' is a safetensors file without attn's metadata" in result.output


# ---- ONNX, run by onnxruntime -------------------------------------------------------------------


def run_onnx(path: Path, inputs: dict[str, Any]) -> Any:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session, session.run(None, inputs)[0]


@pytest.mark.parametrize(
    ("damage", "pattern"),
    [("nan", "has NaN or Inf weights"), ("step", "damaged: its step is 1.5")],
)
def test_a_damaged_exported_file_is_refused_by_generate_and_eval(
    text_run: Path, tmp_path: Path, damage: str, pattern: str
) -> None:
    from safetensors import safe_open
    from safetensors.torch import save_file

    source = export(text_run, "safetensors", "--out", tmp_path / "ok.safetensors")
    with safe_open(str(source), "pt") as handle:
        meta, tensors = handle.metadata(), {k: handle.get_tensor(k) for k in handle.keys()}
    if damage == "nan":
        first = next(iter(tensors))
        tensors[first] = torch.full_like(tensors[first], float("nan"))
    else:
        meta["attn.step"] = "1.5"
    save_file(tensors, str(tmp_path / "bad.safetensors"), metadata=meta)
    for command in (
        ["generate", tmp_path / "bad.safetensors", "--length", "3"],
        ["eval", tmp_path / "bad.safetensors"],
    ):
        result = run_cli(*command)
        assert result.exit_code == 2 and re.search(pattern, result.output) and "Traceback" not in result.output


def test_onnx_of_a_text_model_matches_pytorch_for_other_batch_and_sequence_lengths(
    text_run: Path, tmp_path: Path
) -> None:
    path = export(text_run, "onnx", "--out", tmp_path / "model.onnx")
    assert path == tmp_path / "model.onnx" and sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]
    model = load_trained(text_run).model
    for shape in [(3, 5), (1, 16)]:
        tokens = torch.randint(0, model.head.out_features, shape, generator=torch.Generator().manual_seed(2))
        session, logits = run_onnx(path, {"tokens": tokens.numpy()})
        with torch.no_grad():
            expected = model(tokens).numpy()
        assert logits.shape == expected.shape
        assert abs(logits - expected).max() < 1e-4
    assert session.get_outputs()[0].shape[:2] == ["batch", "seq"]  # symbolic axes, as the input's


def test_onnx_of_an_eeg_model_predicts_seconds(eeg_run: Path) -> None:
    path = export(eeg_run, "onnx")
    trained = load_trained(eeg_run)
    mean, std = trained.extras["target_mean"], trained.extras["target_std"]
    eeg = torch.randn(5, trained.model_info["n_channels"], trained.model_info["n_times"])
    _, seconds = run_onnx(path, {"eeg": eeg.numpy()})
    with torch.no_grad():
        expected = (trained.model(eeg).double() * std + mean).numpy()
    assert seconds.shape == (5,) and abs(seconds - expected).max() < 1e-4


@pytest.mark.slow
def test_onnx_of_the_attention_eeg_model_matches_pytorch(tmp_path: Path) -> None:
    """eeg-sparse-lightweight (attention, position encodings) exports too; char-lstm and eeg-sparse-improved
    were checked by hand the same way (each export takes seconds on the CPU, so CI tries this one)."""
    import attn.models.catalog  # noqa: F401
    from attn.inference.export import export_onnx
    from attn.inference.load import TrainedModel
    from attn.models import build_model
    from attn.recipe import parse_recipe

    raw = eeg_recipe()
    raw["model"] = {"name": "eeg-sparse-lightweight", "positional_encoding": "sinusoidal"}
    recipe, info = parse_recipe(raw, "r"), {"n_channels": 129, "n_times": 200}
    torch.manual_seed(0)
    model = build_model(recipe.model_name, recipe.model, **info).eval()
    trained = TrainedModel(recipe, model, {"target_mean": 0.5, "target_std": 0.2}, tmp_path / "x.pt", 0, info)
    result = export_onnx(trained, tmp_path / "m.onnx")
    assert result.checked["max_abs_diff"] < 1e-4
    eeg = torch.randn(3, 129, 200)
    _, got = run_onnx(result.path, {"eeg": eeg.numpy()})
    with torch.no_grad():
        expected = model(eeg) * 0.2 + 0.5
    assert abs(got - expected.numpy()).max() < 1e-4


# ---- plain state dict -------------------------------------------------------------------------


def test_state_dict_is_the_bare_models_and_loads_into_a_fresh_one(eeg_run: Path) -> None:
    import attn.models.catalog  # noqa: F401
    from attn.models import build_model

    path = export(eeg_run, "state-dict", "--checkpoint", "last")
    assert path == eeg_run / "export" / "last.state_dict.pt"
    state = torch.load(path, weights_only=True)
    trained = load_trained(eeg_run, "last")
    fresh = build_model(trained.recipe.model_name, trained.recipe.model, **trained.model_info)
    fresh.load_state_dict(state, strict=True)
    for key, value in trained.model.state_dict().items():
        assert torch.equal(state[key], value), key
    about = json.loads((eeg_run / "export" / "last.state_dict.json").read_text(encoding="utf-8"))
    assert (about["target_mean"], about["target_std"]) == (trained.extras["target_mean"], trained.extras["target_std"])
    assert about["class"] == type(trained.model).__name__ and about["model_info"] == trained.model_info


class StandInNet(nn.Module):
    """Stands in for braindecode's EEGNeX (which cannot import here): a class whose own keys are unprefixed."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(4, 3, 5)
        self.norm = nn.BatchNorm1d(3)
        self.head = nn.Linear(3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm(self.conv(x)).mean(-1))


def test_the_braindecode_wrappers_state_dict_is_its_networks_own() -> None:
    wrapper = EEGNeXRegressor(StandInNet())
    assert all(k.startswith("net.") for k in wrapper.state_dict())
    bare = bare_state_dict(wrapper)
    assert set(bare) == set(StandInNet().state_dict())  # conv.weight, norm.running_mean, ... without net.
    other = StandInNet()
    other.load_state_dict(bare, strict=True)
    x = torch.randn(2, 4, 20)
    assert torch.equal(other.eval()(x).reshape(2), wrapper.eval()(x))


# ---- mistakes ---------------------------------------------------------------------------------------


def test_exporting_onto_a_folder_names_that_folder(text_run: Path, tmp_path: Path) -> None:
    (tmp_path / "taken.safetensors").mkdir()
    result = run_cli("export", text_run, "--format", "safetensors", "--out", tmp_path / "taken.safetensors")
    assert result.exit_code == 2
    assert (
        result.output.strip() == f"error: cannot write '{tmp_path / 'taken.safetensors'}': it is a folder, not a file"
    )
    assert [p.name for p in tmp_path.iterdir()] == ["taken.safetensors"]  # no temporary left behind


def test_an_unknown_format_is_one_line(text_run: Path) -> None:
    result = run_cli("export", text_run, "--format", "pickle")
    assert result.exit_code == 2
    assert result.output.strip() == "error: --format must be one of safetensors, onnx, state-dict (got 'pickle')"


def test_a_missing_export_package_names_the_extra(text_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "safetensors.torch", None)  # import safetensors.torch now raises ImportError
    with pytest.raises(Exception, match=r"needs the safetensors package: pip install 'attn\[export\]'"):
        export_run(text_run, "safetensors")
