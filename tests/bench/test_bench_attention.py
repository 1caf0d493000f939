"""`attn bench attention` on tiny sizes: report files, fields and the fitted exponents (no speed is asserted)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from attn.cli import app

runner = CliRunner()
METHODS = ["manual", "sdpa", "sparse", "torch_mha", "lstm"]


def cli(*args: object):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_tiny_attention_bench_writes_a_complete_report(tmp_path: Path) -> None:
    result = cli(
        "bench",
        "attention",
        "--device",
        "cpu",
        "--lengths",
        "8,16,32",
        "--methods",
        ",".join(METHODS),
        "--d-model",
        16,
        "--heads",
        2,
        "--batch",
        1,
        "--repeats",
        3,
        "--warmup",
        1,
        "--causal",
        "--runs-dir",
        tmp_path,
    )
    assert result.exit_code == 0, result.output
    (out,) = (tmp_path / "bench-attention").iterdir()
    report = json.loads((out / "report.json").read_text())
    assert report["settings"]["lengths"] == [8, 16, 32] and report["settings"]["methods"] == METHODS
    assert report["settings"]["causal"] is True
    for key in ("torch", "python", "platform", "command", "date", "device"):
        assert report["environment"][key]
    log_n = np.log([8, 16, 32])
    for method in METHODS:
        cells = [report["results"][method][n] for n in ("8", "16", "32")]
        assert all(c["status"] == "ok" and len(c["times_ms"]) == 3 and c["peak_mib"] is None for c in cells)
        medians = [c["time_ms"] for c in cells]
        assert medians == [float(np.median(c["times_ms"])) for c in cells]
        assert report["time_exponent"][method] == pytest.approx(np.polyfit(log_n, np.log(medians), 1)[0])
        saved = [c["saved_activations_mib"] for c in cells]
        assert saved[0] < saved[1] < saved[2]
        assert report["saved_activations_exponent"][method] == pytest.approx(np.polyfit(log_n, np.log(saved), 1)[0])
    assert (out / "scaling.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = (out / "report.md").read_text()
    assert "| N | manual | sdpa | sparse | torch_mha | lstm |" in text and "k (fit)" in text


@pytest.mark.parametrize(
    "args", [["--lengths", "a,b"], ["--methods", "manual,flash"], ["--heads", "3"], ["--device", "mps"]]
)
def test_bad_options_exit_2(tmp_path: Path, args: list[str]) -> None:
    result = cli("bench", "attention", "--runs-dir", tmp_path, "--lengths", "8", *args)
    assert result.exit_code == 2
    assert not (tmp_path / "bench-attention").exists()
