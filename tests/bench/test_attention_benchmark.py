"""The attention benchmark script runs end to end with tiny settings (fields only, no speeds)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "attention.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("attention_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tiny_cpu_run_writes_complete_report(bench, tmp_path, capsys):
    argv = [
        "--device",
        "cpu",
        "--lengths",
        "16,32",
        "--repeats",
        "2",
        "--warmup",
        "1",
        "--d-model",
        "16",
        "--batch",
        "1",
        "--heads",
        "2",
        "--out",
        str(tmp_path),
    ]
    report = bench.main(argv)
    assert "| N | manual | sdpa | sparse | torch_mha |" in capsys.readouterr().out

    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["settings"]["lengths"] == [16, 32] and saved["settings"]["methods"] == list(bench.METHODS)
    for key in ("torch", "device", "platform", "command", "date"):
        assert saved["environment"][key]
    for method in bench.METHODS:
        for n in ("16", "32"):
            cell = saved["results"][method][n]
            assert cell["status"] == "ok"
            assert len(cell["times_ms"]) == 2 and cell["time_ms"] > 0
            assert cell["saved_activations_mib"] > 0 and cell["peak_mib"] is None
        # fitted only when time grows from 16 to 32 (it need not at this size), with its range
        fitted = saved["time_exponent"][method] is not None
        assert saved["time_exponent_range"][method] == ([16, 32] if fitted else None)
    assert report["results"].keys() == saved["results"].keys()
    assert "## Time per forward+backward (ms): median (min-max)" in (tmp_path / "report.md").read_text()
    assert (tmp_path / "scaling.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_exponent_fit_and_saved_activation_counter(bench):
    import torch

    assert bench.fit_exponent([100, 200, 400], [1.0, 4.0, 16.0]) == pytest.approx(2.0)
    assert bench.fit_exponent([100, 200, 400], [3.0, None, 24.0]) == pytest.approx(1.5)
    assert bench.fit_exponent([100], [1.0]) is None

    weight = torch.randn(8, 8, requires_grad=True)
    x = torch.randn(4, 8, requires_grad=True)
    counter = bench.SavedActivations([weight])
    with torch.autograd.graph.saved_tensors_hooks(counter.pack, counter.unpack):
        y = torch.tanh(x @ weight)  # saves x (weight excluded) and tanh's output
    assert counter.bytes == 2 * 4 * 8 * 4
    y.sum().backward()


def test_rejects_bad_arguments(bench):
    with pytest.raises(SystemExit):
        bench.parse_args(["--device", "cpu", "--lengths", "a,b"])
    with pytest.raises(SystemExit):
        bench.parse_args(["--device", "cpu", "--methods", "manual,flash"])
