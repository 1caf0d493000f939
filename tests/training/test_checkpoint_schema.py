"""Checkpoints that load but are wrong: each is refused with one line before anything uses it."""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import pytest
import torch

from attn.errors import CheckpointError
from attn.training.checkpoint import FORMAT, check_checkpoint, load_checkpoint, save_checkpoint
from tests.helpers import only_run_dir, run_cli


class Evil:
    """A pickle that runs a shell command when loaded without weights_only."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


def test_a_malicious_pickle_is_never_executed_and_torchs_advice_is_not_shown(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    torch.save({"format": FORMAT, "model": Evil(marker)}, tmp_path / "evil.pt")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(CheckpointError) as err:
            load_checkpoint(tmp_path / "evil.pt")
    message = str(err.value)
    assert not marker.exists()
    assert "never runs code from a file" in message and "posix.system" in message
    assert "weights_only" not in message and "\n" not in message  # not torch's "set weights_only=False" advice
    assert not caught, [str(w.message) for w in caught]


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        ({"format": FORMAT}, r"is incomplete: it lacks 'model'"),
        ({"format": FORMAT, "model": [torch.zeros(2)]}, r"its 'model' is a list, not a dict"),
        ({"format": FORMAT, "model": {"w": [1.0, 2.0]}}, r"weights must map names to tensors \(found 'w': list\)"),
        ({"format": FORMAT, "model": {}, "recipe": ["name", "x"]}, r"its 'recipe' is a list, not a dict"),
        ({"format": FORMAT, "model": {}, "rank_states": {"a": 1}}, r"its 'rank_states' is a dict, not a list or null"),
        ({"format": FORMAT, "model": {"w": torch.tensor([1.0, float("nan")])}}, r"has NaN or Inf weights \(in 'w'\)"),
        ({"format": FORMAT, "model": {"w": torch.tensor([float("inf")])}}, r"has NaN or Inf weights"),
        ({"model": {}}, r"is not an attn checkpoint"),
        ([1, 2, 3], r"is not an attn checkpoint"),
    ],
)
def test_a_checkpoint_with_the_wrong_structure_is_named(tmp_path: Path, content: object, pattern: str) -> None:
    torch.save(content, tmp_path / "c.pt")
    with pytest.raises(CheckpointError, match=pattern):
        load_checkpoint(tmp_path / "c.pt")


def test_a_checkpoint_for_inference_is_not_necessarily_resumable(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "c.pt", model={"w": torch.zeros(2)}, recipe={}, model_info={})
    content = load_checkpoint(tmp_path / "c.pt")
    with pytest.raises(CheckpointError, match=r"lacks 'optimizer', 'trainer', 'rng'"):
        check_checkpoint(content, tmp_path / "c.pt", resumable=True)


def test_a_folder_instead_of_a_checkpoint_is_named(tmp_path: Path) -> None:
    (tmp_path / "best.pt").mkdir()
    with pytest.raises(CheckpointError, match="checkpoint '.*best.pt' is a folder, not a file"):
        load_checkpoint(tmp_path / "best.pt")


@pytest.mark.parametrize(
    ("change", "pattern"),
    [
        (lambda c: c["trainer"].update(momentum_of_the_moon=1), "trainer-state fields this attn does not know"),
        (lambda c: c["trainer"].update(step="twelve"), "trainer state 'step' is 'twelve'"),
        (lambda c: c["trainer"].update(best_metrics=[1.0]), "trainer state 'best_metrics' is"),
        (lambda c: c.update(trainer=[0, 1]), "its 'trainer' is a list, not a dict"),
        (lambda c: c["optimizer"].update(param_groups=[]), "cannot be resumed|does not fit this model"),
        (lambda c: c["rng"].update(torch="not a state"), "cannot be resumed|does not fit this model"),
        (lambda c: c["trainer"].update(step=-5), "damaged: trainer state step -5"),
        (lambda c: c["trainer"].update(step=10**30), "damaged: trainer state step 1000000000000000000000000000000"),
        (lambda c: c["trainer"].update(elapsed_s=float("nan")), "damaged: trainer state elapsed_s nan"),
        (
            lambda c: next(iter(c["optimizer"]["adamw"]["state"].values())).update(exp_avg=torch.zeros(1)),
            r"the adamw state does not fit this model \('exp_avg' shape \(1,\)",
        ),
    ],
)
def test_a_damaged_checkpoint_does_not_resume_and_leaves_the_run_as_it_was(
    tmp_path: Path, recipe_file: Path, change: object, pattern: str
) -> None:
    assert run_cli("train", recipe_file, "--runs-dir", tmp_path / "runs", "-q").exit_code == 0
    run = only_run_dir(tmp_path / "runs")
    last = run / "checkpoints" / "last.pt"
    content = torch.load(last, weights_only=True)
    change(content)
    torch.save(content, last)
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    result = run_cli("train", "--resume", run, "train.max_steps=30", "-q")
    assert result.exit_code == 2, result.output
    assert re.search(pattern, " ".join(result.output.split())) and "Traceback" not in result.output
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before


@pytest.mark.parametrize(
    ("change", "pattern"),
    [
        (lambda c: c["extras"].update(vocab=["ab", *c["extras"]["vocab"][1:]]), "list of single characters"),
        (lambda c: c["extras"].update(vocab=c["extras"]["vocab"][:-1]), "vocabulary has .* characters for a model of"),
        (lambda c: c["model_info"].update(vocab_size=-1), "model facts must be positive sizes"),
        (lambda c: c["trainer"].update(step="five"), "step is 'five'|trainer state 'step'"),
        (lambda c: c["model"].update({k: v.to_sparse() for k, v in list(c["model"].items())[:1]}), "not a dense real"),
    ],
    ids=["two-char-entry", "short-vocab", "negative-size", "step-text", "sparse-weight"],
)
def test_generate_refuses_a_checkpoint_whose_rebuild_facts_are_damaged(
    tmp_path: Path, recipe_file: Path, change: object, pattern: str
) -> None:
    assert run_cli("train", recipe_file, "--runs-dir", tmp_path / "runs", "-q").exit_code == 0
    run = only_run_dir(tmp_path / "runs")
    for name in ("best.pt", "last.pt"):
        path = run / "checkpoints" / name
        content = torch.load(path, weights_only=True)
        change(content)
        torch.save(content, path)
    for command in (["generate", run, "--length", "3"], ["train", "--resume", run, "train.max_steps=30"]):
        result = run_cli(*command)
        assert result.exit_code == 2, (command, result.output)
        assert re.search(pattern, " ".join(result.output.split())) and "Traceback" not in result.output
