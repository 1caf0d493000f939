"""`attn bench vs lstm` end to end on a tiny recipe (report files and fields; no speed is asserted)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from typer.testing import CliRunner

from attn.cli import app
from attn.models.char_lstm import CharLSTM, CharLSTMConfig

pytestmark = pytest.mark.slow  # two training processes each
runner = CliRunner()
STEPS = 16  # with eval_interval: null (like shakespeare_char_fast) the bench evaluates every 16 // 8 steps


def cli(*args: object):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.bench.conftest import tiny_bench_recipe, write_corpus  # module-scoped: build the recipe here

    root = tmp_path_factory.mktemp("vs_lstm")
    recipe = tiny_bench_recipe(write_corpus(root / "corpus.txt"), eval_interval=None)
    (root / "tiny.yaml").write_text(yaml.safe_dump(recipe))
    result = cli(
        "bench",
        "vs",
        "lstm",
        "--recipe",
        root / "tiny.yaml",
        "--steps",
        STEPS,
        "--device",
        "cpu",
        "--runs-dir",
        root / "runs",
        "--set",
        "train.warmup_steps=3",
        "--lstm-lr",
        "0.004",
        "--gen-chars",
        5,
        "--repeats",
        1,
        "-q",
    )
    assert result.exit_code == 0, result.output
    assert "transformer vs LSTM" in result.output
    assert "transformer: 16 of 16 optimizer steps (100%), 8 evaluations" in result.output
    assert "LSTM: 16 of 16 optimizer steps (100%), 8 evaluations" in result.output
    (bench_dir,) = (root / "runs" / "bench-lstm").iterdir()
    return bench_dir


def test_report_files_and_run_directories(bench: Path) -> None:
    assert (bench / "val_loss_vs_time.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = json.loads((bench / "report.json").read_text())
    assert report["bench"] == "vs-lstm" and list(report["models"]) == ["transformer", "lstm"]
    for model in report["models"].values():
        run = bench / model["run_dir"]
        for name in ("metrics.jsonl", "summary.json", "recipe.yaml", "checkpoints/best.pt", "bench_side.json"):
            assert (run / name).is_file(), name
        summary = json.loads((run / "summary.json").read_text())
        assert model["parameters"] == summary["parameters"] and model["status"] == "completed"
        assert model["steps"] == STEPS and model["tok_per_s"] > 0 and model["generation_chars_per_s"] > 0
        assert model["generation"]["cuda_graphs"] is False  # a CPU run replays no CUDA graphs
        assert model["memory_kind"] in ("peak_rss_from_model_build", "process_peak_rss") and model["peak_memory_mb"] > 0
        if model["memory_kind"] == "peak_rss_from_model_build":
            assert model["training_rss_increase_mb"] == pytest.approx(
                model["peak_memory_mb"] - model["rss_before_model_mb"]
            )
            assert model["peak_memory_mb"] <= model["process_peak_rss_mb"] + 1
        assert model["best_val_loss"] == summary["best"]["val_loss"]
        evaluated = [r["step"] for r in jsonl(run / "metrics.jsonl") if r["kind"] == "eval"]
        assert evaluated == [2, 4, 6, 8, 10, 12, 14, 16] and model["evaluations"] == 8
        assert (
            model["final_val_loss"] == [r for r in jsonl(run / "metrics.jsonl") if r["kind"] == "eval"][-1]["val_loss"]
        )
    env = report["environment"]
    assert env["command"].startswith("attn bench vs lstm") and "--steps 16" in env["command"]
    for key in ("torch", "python", "platform", "device", "date"):
        assert env[key]
    text = (bench / "report.md").read_text()
    assert "| parameters |" in text and "budget: 16 optimizer steps" in text
    assert "best val loss" in text and "first reached between evaluations at (s)" in text
    assert "| budget used | 16 of 16 optimizer steps (100%) | 16 of 16 optimizer steps (100%) |" in text
    assert "| evaluations during training | 8 | 8 |" in text


def test_both_sides_share_data_batches_and_budget(bench: Path) -> None:
    report = json.loads((bench / "report.json").read_text())
    recipes = {
        k: yaml.safe_load((bench / m["run_dir"] / "recipe.yaml").read_text()) for k, m in report["models"].items()
    }
    t, lstm = recipes["transformer"], recipes["lstm"]
    assert t["data"] == lstm["data"] and t["model"]["block_size"] == lstm["model"]["block_size"] == 8
    for key in ("batch_size", "max_steps", "max_time_s", "seed", "eval_interval", "eval_batches", "warmup_steps"):
        assert t["train"][key] == lstm["train"][key], key
    assert t["train"]["max_steps"] == STEPS and t["train"]["warmup_steps"] == 3 and t["train"]["eval_interval"] == 2
    assert lstm["train"]["lr"] == 0.004 and lstm["train"]["min_lr"] == pytest.approx(3e-4 * 0.004 / 3e-3)
    assert report["tuning"]["lstm"]["lr_source"] == "--lstm-lr"


def test_lstm_is_sized_to_the_transformer(bench: Path) -> None:
    report = json.loads((bench / "report.json").read_text())
    lstm_cfg = yaml.safe_load((bench / report["models"]["lstm"]["run_dir"] / "recipe.yaml").read_text())["model"]
    vocab = report["settings"]["vocab_size"]
    built = CharLSTM(CharLSTMConfig(**{k: v for k, v in lstm_cfg.items() if k != "name"}), vocab)
    n_lstm = sum(p.numel() for p in built.parameters())
    n_transformer = report["models"]["transformer"]["parameters"]
    assert report["models"]["lstm"]["parameters"] == report["sizing"]["lstm_parameters"] == n_lstm
    assert abs(n_lstm - n_transformer) / n_transformer < 0.10
    assert lstm_cfg["d_embed"] == 16 and lstm_cfg["n_layer"] == 2


def test_time_to_target_is_the_first_evaluation_at_or_below_the_lstm_best(bench: Path) -> None:
    report = json.loads((bench / "report.json").read_text())
    runs = {k: jsonl(bench / m["run_dir"] / "metrics.jsonl") for k, m in report["models"].items()}
    target = min(r["val_loss"] for r in runs["lstm"] if r["kind"] == "eval")
    assert report["target_val_loss"] == target
    for key, records in runs.items():
        hits = [r for r in records if r["kind"] == "eval" and r["val_loss"] <= target]
        model = report["models"][key]
        if hits:
            assert model["step_to_target"] == hits[0]["step"]
            assert model["time_to_target_s"] == hits[0]["elapsed_s"]  # the trainer's clock at that evaluation
            before = [r for r in records if r["kind"] == "eval" and r["step"] < hits[0]["step"]]
            assert model["time_to_target_after_s"] == (before[-1]["elapsed_s"] if before else None)
        else:
            assert model["time_to_target_s"] is None and model["step_to_target"] is None
    assert report["models"]["lstm"]["step_to_target"] is not None  # the LSTM reaches its own best


def test_layer_comparison_fields(bench: Path) -> None:
    layers = json.loads((bench / "report.json").read_text())["layers"]
    assert layers["settings"] | {"repeats": 1} == {
        "length": 128,
        "d_model": 256,
        "heads": 8,
        "batch": 4,
        "dtype": "float32",
        "device": "cpu",
        "repeats": 1,
        "warmup": 2,
    }
    assert list(layers["results"]) == ["attention_sdpa", "attention_manual", "lstm"]
    for row in layers["results"].values():
        assert row["saved_activations_mib"] > 0 and row["time_ms"] > 0 and row["peak_mib"] is None
    # One LSTM(256, 256) layer: 4 gates x 256 x (256 + 256) weights + 2 x 4 x 256 biases.
    assert layers["results"]["lstm"]["parameters"] == 4 * 256 * 512 + 8 * 256
    # Attention: q, k, v, out projections of 256 x 256 with biases.
    assert layers["results"]["attention_sdpa"]["parameters"] == 4 * (256 * 256 + 256)


def test_user_errors_exit_2(tiny_text_recipe: Path, tmp_path: Path) -> None:
    base = ["bench", "vs", "lstm", "--device", "cpu", "--runs-dir", tmp_path / "runs", "--recipe"]
    assert cli(*base, tiny_text_recipe, "--steps", 5, "--budget-s", 3).exit_code == 2
    assert cli(*base, tmp_path / "missing.yaml", "--steps", 5).exit_code == 2
    lstm_recipe = yaml.safe_load(tiny_text_recipe.read_text())
    lstm_recipe["model"] = {"name": "char-lstm", "block_size": 8}
    (tmp_path / "lstm.yaml").write_text(yaml.safe_dump(lstm_recipe))
    result = cli(*base, tmp_path / "lstm.yaml", "--steps", 5)
    assert result.exit_code == 2 and "char-transformer" in result.output
    assert not (tmp_path / "runs").exists()  # nothing is written before the inputs are checked


def test_a_recipe_without_an_evaluation_interval_works_under_a_time_budget(
    tiny_text_recipe: Path, tmp_path: Path
) -> None:
    """Like shakespeare_char_fast (eval_interval: null) under --budget-s: evaluations at every budget / 8 seconds.

    (Under --steps the module's bench above runs such a recipe: 8 evaluations, every 16 // 8 steps.)
    """
    recipe = yaml.safe_load(tiny_text_recipe.read_text())
    recipe["train"]["eval_interval"] = None
    (tmp_path / "no_interval.yaml").write_text(yaml.safe_dump(recipe))
    args = ["--recipe", tmp_path / "no_interval.yaml", "--budget-s", 2, "--gen-chars", 5, "--repeats", 1, "-q"]
    result = cli("bench", "vs", "lstm", "--device", "cpu", "--runs-dir", tmp_path / "runs", *args)
    assert result.exit_code == 0, result.output
    (bench,) = (tmp_path / "runs" / "bench-lstm").iterdir()
    report = json.loads((bench / "report.json").read_text())
    for model in report["models"].values():
        train = yaml.safe_load((bench / model["run_dir"] / "recipe.yaml").read_text())["train"]
        evals = [r for r in jsonl(bench / model["run_dir"] / "metrics.jsonl") if r["kind"] == "eval"]
        assert train["eval_interval"] is None and train["eval_interval_s"] == 0.25 and evals
        assert model["evaluations"] == len(evals) >= 8  # the training clock stops while a side evaluates
        assert f"{model['label']}: {model['budget_used_text']}, {len(evals)} evaluations" in result.output
        assert model["budget_used_text"].endswith(
            f"of 2 s of training (evaluations excluded) ({100 * model['budget_fraction']:.0f}%)"
        )


def test_time_to_the_common_quality_is_each_sides_first_evaluation_at_the_worse_best(bench: Path) -> None:
    report = json.loads((bench / "report.json").read_text())
    runs = {k: jsonl(bench / m["run_dir"] / "metrics.jsonl") for k, m in report["models"].items()}
    evals = {k: [r for r in records if r["kind"] == "eval"] for k, records in runs.items()}
    common = max(min(r["val_loss"] for r in records) for records in evals.values())
    assert report["common_val_loss"] == common
    for key, records in evals.items():
        first = next(r for r in records if r["val_loss"] <= common)  # every side reached the worse best
        reached = report["models"][key]["time_to_common"]
        assert reached["step_to_target"] == first["step"] and reached["time_to_target_s"] == first["elapsed_s"]
    table = (bench / "report.md").read_text()
    assert f"common quality {common:.4f} (the worse best) first reached at (s)" in table


def test_the_generation_record_says_whether_cuda_graphs_were_replayed() -> None:
    from attn.inference.sample import uses_cuda_graphs
    from attn.models.char_lstm import CharLSTM, CharLSTMConfig
    from attn.models.char_transformer import CharTransformer, CharTransformerConfig

    net = CharTransformer(CharTransformerConfig(n_layer=1, n_head=1, d_model=8, block_size=4), vocab_size=5)
    lstm = CharLSTM(CharLSTMConfig(n_layer=1, d_embed=4, hidden_size=8), vocab_size=5)
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert uses_cuda_graphs(net, cuda, None) and not uses_cuda_graphs(net, cuda, False)
    assert not uses_cuda_graphs(net, cpu, None) and not uses_cuda_graphs(lstm, cuda, None)
