"""Experiment trackers: what each real library reads back is exactly what metrics.jsonl has.

CSV and TensorBoard are in the test extra and always run; W&B (offline) and MLflow (local file
store) run when installed (``pip install 'attn[wandb,mlflow]'``) and are skipped otherwise.
"""

from __future__ import annotations

import importlib.util
import json
import math
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from attn.loggers import TRACKERS, Trackers, open_trackers
from attn.loggers.base import TrackedRun, Tracker, flatten
from attn.training.config import TrainConfig
from tests.helpers import only_run_dir, read_csv, read_records, run_cli, text_recipe, write_recipe


def train(tmp_path: Path, corpus: Path, loggers: list[str], **train_keys: Any) -> Path:
    recipe = write_recipe(tmp_path, text_recipe(corpus, loggers=loggers, **train_keys), "tracked.yaml")
    result = run_cli("train", recipe, "--runs-dir", tmp_path / "runs", "--quiet")
    assert result.exit_code == 0, result.output
    return only_run_dir(tmp_path / "runs")


def jsonl_scalars(run_dir: Path) -> dict[str, dict[int, float]]:
    """``{"train/train_loss": {step: value}}`` from metrics.jsonl: what every tracker must show."""
    found: dict[str, dict[int, float]] = {}
    for kind in ("train", "eval"):
        for record in read_records(run_dir, kind):
            for key, value in record.items():
                if key not in ("kind", "step") and isinstance(value, (int, float)) and math.isfinite(value):
                    found.setdefault(f"{kind}/{key}", {})[record["step"]] = float(value)
    return found


def assert_same_series(got: dict[str, dict[int, float]], expected: dict[str, dict[int, float]]) -> None:
    assert set(got) >= set(expected), sorted(set(expected) - set(got))
    for key, series in expected.items():
        assert set(got[key]) == set(series), key
        for step, value in series.items():
            assert got[key][step] == pytest.approx(value, rel=1e-6, abs=1e-9), (key, step)


def interrupted_run(
    tmp_path: Path, corpus: Path, tracker: str, interrupt_after: Any, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, dict[str, Any]]:
    """A run with ``tracker`` stopped by Ctrl-C after step 12, and what its trackers.json keeps for it."""
    recipe = write_recipe(tmp_path, text_recipe(corpus, loggers=[tracker]), "r.yaml")
    with monkeypatch.context() as patch:
        interrupt_after(12, patch)
        result = run_cli("train", recipe, "--runs-dir", tmp_path / "runs", "--quiet")
    assert result.exit_code == 130, result.output
    run_dir = only_run_dir(tmp_path / "runs")
    return run_dir, json.loads((run_dir / "trackers.json").read_text(encoding="utf-8"))[tracker]


def resume(run_dir: Path) -> None:
    result = run_cli("train", "--resume", run_dir, "--quiet")
    assert result.exit_code == 0, result.output


# ---- TensorBoard: read back with tensorboard's own event reader --------------------------------


def tensorboard_events(run_dir: Path) -> Any:
    from tensorboard.backend.event_processing import event_accumulator as ea

    accumulator = ea.EventAccumulator(
        str(run_dir / "tensorboard"), size_guidance={ea.SCALARS: 0, ea.IMAGES: 0, ea.TENSORS: 0}
    )
    accumulator.Reload()
    return accumulator


def tensorboard_scalars(accumulator: Any) -> dict[str, dict[int, float]]:
    series: dict[str, dict[int, float]] = {}
    for tag in accumulator.Tags()["scalars"]:
        events = accumulator.Scalars(tag)
        steps = [e.step for e in events]
        assert len(steps) == len(set(steps)), f"{tag} has a step twice: {steps}"
        series[tag] = {e.step: e.value for e in events}
    return series


def tensorboard_hparams(accumulator: Any) -> dict[str, Any]:
    from tensorboard.plugins.hparams import plugin_data_pb2

    content = accumulator.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    info = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    return {k: v.string_value or v.number_value or v.bool_value for k, v in info.hparams.items()}


def test_csv_and_tensorboard_get_every_metric_the_recipe_and_the_plots(tmp_path: Path, corpus: Path) -> None:
    run_dir = train(tmp_path, corpus, ["csv", "tensorboard"])
    expected = jsonl_scalars(run_dir)
    assert "train/train_loss" in expected and "eval/val_loss" in expected
    events = tensorboard_events(run_dir)
    scalars = tensorboard_scalars(events)
    assert_same_series({k: v for k, v in scalars.items() if not k.startswith("summary/")}, expected)
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert scalars["summary/best/val_loss"][20] == pytest.approx(summary["best"]["val_loss"], rel=1e-6)
    recipe = yaml.safe_load((run_dir / "recipe.yaml").read_text(encoding="utf-8"))
    hparams = tensorboard_hparams(events)
    assert hparams["train.lr"] == pytest.approx(recipe["train"]["lr"]) and hparams["model.n_layer"] == 2
    assert hparams["train.loggers"] == json.dumps(["csv", "tensorboard"])
    image = events.Images("plots/loss_curve")[-1]
    assert (image.step, image.width) == (20, 770)  # the 7-inch, 110-dpi loss curve of attn/training/plots.py
    rows = read_csv(run_dir / "metrics.csv")
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == len(lines)
    for row, record in zip(rows, lines):
        assert {k: v for k, v in row.items() if v != ""} == {k: str(v) for k, v in record.items()}


def test_a_resumed_run_continues_its_tensorboard_and_csv_without_repeating_steps(
    tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed at step 16 with last.pt at step 10: the resumed run replaces steps 11-16 everywhere."""
    import attn.training.trainer as trainer_module

    original = trainer_module.Trainer._train_step

    def crash_at_16(self: Any, at: int, progress: float) -> Any:
        if at == 15:
            raise RuntimeError("killed")
        return original(self, at, progress)

    recipe = write_recipe(tmp_path, text_recipe(corpus, loggers=["tensorboard", "csv"], log_interval=3), "r.yaml")
    with monkeypatch.context() as patch:
        patch.setattr(trainer_module.Trainer, "_train_step", crash_at_16)
        with pytest.raises(RuntimeError, match="killed"):
            run_cli("train", recipe, "--runs-dir", tmp_path / "runs", "--quiet")
    run_dir = only_run_dir(tmp_path / "runs")
    assert max(r["step"] for r in read_records(run_dir, "train")) == 15  # logged past last.pt (step 10)
    resume(run_dir)
    expected = jsonl_scalars(run_dir)
    assert {12, 15, 20} <= set(expected["train/train_loss"])  # logged before the crash and again after it
    scalars = tensorboard_scalars(tensorboard_events(run_dir))
    assert_same_series({k: v for k, v in scalars.items() if not k.startswith("summary/")}, expected)
    assert [int(r["step"]) for r in read_csv(run_dir / "metrics.csv") if r["kind"] == "train"] == sorted(
        expected["train/train_loss"]
    )


# ---- W&B in offline mode: its transaction log read back with its own protobuf records -----------


def wandb_records(path: Path) -> list[Any]:
    """The records of a ``run-<id>.wandb`` file (W&B's LevelDB-style log: 7-byte header, 32 KiB blocks)."""
    from wandb.proto import wandb_internal_pb2

    data, block, header = path.read_bytes(), 32768, 7
    assert data[:4] == b":W&B"
    records, pos, pending = [], header, b""
    while pos + header <= len(data):
        if block - pos % block < header:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        _checksum, length, kind = struct.unpack("<IHB", data[pos : pos + header])
        if kind == 0 and length == 0:
            break
        pending += data[pos + header : pos + header + length]
        pos += header + length
        if kind in (1, 4):  # FULL or LAST
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
            pending = b""
    return records


def wandb_offline_run(run_dir: Path, run_id: str) -> dict[str, Any]:
    """History, config and summary of every offline W&B run with ``run_id`` under ``run_dir``, in order."""
    history: dict[str, dict[int, float]] = {}
    config: dict[str, Any] = {}
    summary: dict[str, Any] = {}
    files = sorted((run_dir / "wandb").glob(f"offline-run-*-{run_id}/run-{run_id}.wandb"))
    for file in files:
        for record in wandb_records(file):
            kind = record.WhichOneof("record_type")
            if kind == "history":
                row = {i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in record.history.item}
                for key, value in row.items():
                    if not key.startswith("_") and isinstance(value, (int, float)):
                        history.setdefault(key, {})[row["_step"]] = value
                    elif isinstance(value, str) and key.endswith("/_type"):
                        history.setdefault(key, {})[row["_step"]] = value
            elif kind == "run":
                config.update({u.key: json.loads(u.value_json) for u in record.run.config.update})
            elif kind == "summary":
                summary.update(
                    {u.key or "/".join(u.nested_key): json.loads(u.value_json) for u in record.summary.update}
                )
    return {"files": files, "history": history, "config": config, "summary": summary}


@pytest.mark.skipif(
    importlib.util.find_spec("wandb") is None, reason="wandb is not installed (pip install 'attn[wandb]')"
)
def test_wandb_offline_gets_every_metric_the_recipe_the_plots_and_resumes_the_same_run(
    tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch, interrupt_after: Any
) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_PROJECT", "attn-test")
    run_dir, state = interrupted_run(tmp_path, corpus, "wandb", interrupt_after, monkeypatch)
    assert state["project"] == "attn-test"
    resume(run_dir)
    import wandb

    wandb.teardown()  # W&B writes its files from a service process: wait for it, as a CLI process does at exit
    run = wandb_offline_run(run_dir, state["id"])
    assert len(run["files"]) == 2  # the first session and the resumed one, one W&B run id
    history = {k: v for k, v in run["history"].items() if not k.startswith("plots/")}
    assert_same_series(history, jsonl_scalars(run_dir))
    assert "image-file" in run["history"]["plots/loss_curve/_type"].values()
    recipe_dict = yaml.safe_load((run_dir / "recipe.yaml").read_text(encoding="utf-8"))
    assert {k: run["config"][k] for k in recipe_dict} == recipe_dict
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert run["summary"]["summary/best/val_loss"] == pytest.approx(summary["best"]["val_loss"])
    assert run["summary"]["status"] == "completed"


# ---- MLflow with a local file store, read back with MlflowClient -------------------------------


@pytest.mark.skipif(
    importlib.util.find_spec("mlflow") is None, reason="mlflow is not installed (pip install 'attn[mlflow]')"
)
def test_mlflow_gets_every_metric_the_recipe_the_plots_and_resumes_the_same_run(
    tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch, interrupt_after: Any
) -> None:
    from mlflow.tracking import MlflowClient

    uri = (tmp_path / "mlruns").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3.x keeps the file store behind this switch
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "attn-test")
    run_dir, state = interrupted_run(tmp_path, corpus, "mlflow", interrupt_after, monkeypatch)
    client = MlflowClient(tracking_uri=uri)
    assert client.get_run(state["run_id"]).info.status == "KILLED"
    resume(run_dir)
    run = client.get_run(state["run_id"])
    assert run.info.status == "FINISHED" and state["tracking_uri"] == uri
    assert client.get_experiment(run.info.experiment_id).name == "attn-test"
    expected = jsonl_scalars(run_dir)
    got = {key: {m.step: m.value for m in client.get_metric_history(run.info.run_id, key)} for key in expected}
    assert_same_series(got, expected)
    recipe_dict = yaml.safe_load((run_dir / "recipe.yaml").read_text(encoding="utf-8"))
    assert run.data.params == {k: "null" if v is None else str(v) for k, v in flatten(recipe_dict).items()}
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"plots", "summary.json", "recipe.yaml"} <= artifacts
    assert [a.path for a in client.list_artifacts(run.info.run_id, "plots")] == ["plots/loss_curve.png"]


# ---- rules every tracker follows -----------------------------------------------------------------


def test_the_recipe_key_lists_exactly_the_registered_trackers() -> None:
    import typing

    (item,) = typing.get_args(typing.get_type_hints(TrainConfig)["loggers"])
    assert set(typing.get_args(item)) == set(TRACKERS)


def test_a_missing_tracker_package_is_one_line_naming_the_extra_and_leaves_no_run(
    tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a))
    recipe = write_recipe(tmp_path, text_recipe(corpus, loggers=["csv", "wandb"]), "r.yaml")
    result = run_cli("train", recipe, "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert errors == ["error: train.loggers names 'wandb', whose package is not installed: pip install 'attn[wandb]'"]
    assert not (tmp_path / "runs").exists()


def test_naming_no_tracker_imports_none_of_their_packages(tmp_path: Path) -> None:
    code = (
        "import sys; from attn.loggers import open_trackers; "
        f"t = open_trackers(['csv'], {str(tmp_path)!r}, name='r', hyperparameters={{}}, metric='val_loss'); "
        "t.log({'kind': 'train', 'step': 1, 'train_loss': 1.0}); "
        "print(sorted(m for m in ('tensorboard', 'wandb', 'mlflow', 'torch.utils.tensorboard') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_only_rank_0_tracks(tmp_path: Path) -> None:
    from rich.console import Console

    from attn.recipe import parse_recipe
    from attn.runs.tracking import start_trackers
    from attn.training.distributed import World

    recipe = parse_recipe(text_recipe("alice", loggers=["csv"]), "r")
    trackers = start_trackers(recipe, "val_loss", tmp_path, World(rank=1, size=2), None, Console())
    trackers.log({"kind": "train", "step": 1, "train_loss": 1.0})
    trackers.finish(tmp_path, {"status": "completed"})
    assert not trackers.trackers and not list(tmp_path.iterdir())


class Failing(Tracker):
    name = "failing"

    def log(self, record: dict[str, Any]) -> None:
        raise ConnectionError("server went away\nmore detail")

    def finish(self, plots: list[Path], summary: dict[str, Any], status: str) -> None:
        raise AssertionError("a dropped tracker is not finished")


def test_a_failing_tracker_is_reported_once_and_dropped_while_the_others_go_on(tmp_path: Path) -> None:
    warnings: list[str] = []
    csv_tracker = open_trackers(["csv"], tmp_path, name="r", hyperparameters={}, metric="val_loss").trackers[0]
    trackers = Trackers([Failing(TrackedRun(tmp_path, "r", {}, "val_loss")), csv_tracker], warnings.append)
    for step in (1, 2):
        trackers.log({"kind": "train", "step": step, "train_loss": 1.0 / step})
    trackers.finish(tmp_path, {"status": "completed"})
    assert warnings == ["failing tracker failed and is switched off (ConnectionError: server went away)"]
    assert [r["step"] for r in read_csv(tmp_path / "metrics.csv")] == ["1", "2"]


def test_tracker_runs_are_named_by_recipe_and_time_and_folds_grouped_by_their_cross_validation(tmp_path: Path) -> None:
    from rich.console import Console

    from attn.recipe import parse_recipe
    from attn.runs.tracking import start_trackers, tracker_run_name
    from attn.training.distributed import World

    assert tracker_run_name(tmp_path / "runs" / "tiny" / "20261202-101500") == "tiny/20261202-101500"
    fold = tmp_path / "runs" / "tiny" / "20261202-101500" / "fold-1"
    assert tracker_run_name(fold) == "tiny/20261202-101500/fold-1"
    fold.mkdir(parents=True)
    recipe = parse_recipe(text_recipe("alice", loggers=["csv"]), "r")
    (tracker,) = start_trackers(recipe, "val_loss", fold, World(), None, Console()).trackers
    assert (tracker.run.name, tracker.run.group) == ("tiny/20261202-101500/fold-1", "tiny/20261202-101500")
