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
    lengths = [8, 16, 32]
    for method in METHODS:
        cells = [report["results"][method][n] for n in ("8", "16", "32")]
        assert all(c["status"] == "ok" and len(c["times_ms"]) == 3 and c["peak_mib"] is None for c in cells)
        medians = [c["time_ms"] for c in cells]
        assert medians == [float(np.median(c["times_ms"])) for c in cells]
        for c in cells:  # the spread of every timing travels with it
            assert (c["min_ms"], c["max_ms"]) == (min(c["times_ms"]), max(c["times_ms"]))
            assert c["spread"] == pytest.approx((c["max_ms"] - c["min_ms"]) / c["time_ms"])
        saved = [c["saved_activations_mib"] for c in cells]
        assert saved[0] < saved[1] < saved[2]
        for values, key in ((medians, "time_exponent"), (saved, "saved_activations_exponent")):
            expect_exponent_over_growing_lengths(report, key, method, lengths, values)
    assert (out / "scaling.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = (out / "report.md").read_text()
    assert "| N | manual | sdpa | sparse | torch_mha | lstm |" in text and "k (fit)" in text


def expect_exponent_over_growing_lengths(
    report: dict, key: str, method: str, lengths: list[int], values: list[float]
) -> None:
    """The fit covers the longest run of lengths, up to the largest, where each value is >= 1.1x the previous."""
    first = len(values) - 1
    while first > 0 and values[first] >= 1.1 * values[first - 1]:
        first -= 1
    if first == len(values) - 1:
        assert report[key][method] is None and report[f"{key}_range"][method] is None
        return
    assert report[f"{key}_range"][method] == [lengths[first], lengths[-1]]
    fitted = np.polyfit(np.log(lengths[first:]), np.log(values[first:]), 1)[0]
    assert report[key][method] == pytest.approx(fitted)


@pytest.mark.parametrize(
    "args", [["--lengths", "a,b"], ["--methods", "manual,flash"], ["--heads", "3"], ["--device", "mps"]]
)
def test_bad_options_exit_2(tmp_path: Path, args: list[str]) -> None:
    result = cli("bench", "attention", "--runs-dir", tmp_path, "--lengths", "8", *args)
    assert result.exit_code == 2
    assert not (tmp_path / "bench-attention").exists()


def bench_with_times(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lengths: str, times: list[list[float]], load: float
):
    """`attn bench attention` on sdpa alone, with the timed passes and the load average given."""
    import attn.bench.attention as bench

    passes = iter(times)
    monkeypatch.setattr(bench, "time_ms", lambda *args, **kwargs: next(passes))
    monkeypatch.setattr(bench.os, "getloadavg", lambda: (load, load, load))
    result = cli(
        "bench", "attention", "--device", "cpu", "--lengths", lengths, "--methods", "sdpa",
        "--d-model", 16, "--heads", 2, "--batch", 1, "--repeats", 3, "--warmup", 0, "--runs-dir", tmp_path,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (out,) = (tmp_path / "bench-attention").iterdir()
    assert result.stdout == f"{out}\n"  # the tables and warnings went to stderr
    return result, json.loads((out / "report.json").read_text()), (out / "report.md").read_text()


def test_exponent_is_fitted_where_time_grows_and_noise_and_load_are_warned_about(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    times = [[5.0, 5.0, 5.0], [4.0, 4.0, 4.0], [8.0, 8.0, 8.0], [10.0, 16.0, 30.0]]
    result, report, text = bench_with_times(tmp_path, monkeypatch, "8,16,32,64", times, load=9.0)
    assert report["time_exponent_range"]["sdpa"] == [16, 64]  # 5 -> 4 does not grow
    assert report["time_exponent"]["sdpa"] == pytest.approx(1.0)  # 4, 8, 16 over 16, 32, 64
    assert "16.0 (10.0-30.0)!" in result.stderr and "16.0 (10.0-30.0)!" in text
    assert "5.00 (5.00-5.00) " in result.stderr
    noisy, busy = report["warnings"]
    assert "1 timing(s) vary by more than 25%" in noisy and "sdpa N=64" in noisy
    assert "load average 9.00 on" in busy
    for warning in report["warnings"]:
        assert f"warning: {warning}" in " ".join(result.stderr.split())
        assert f"**Warning:** {warning}" in text


def test_no_exponent_when_time_does_not_grow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    times = [[5.0, 5.1, 5.2], [4.0, 4.1, 4.2]]  # launch-bound: longer is not slower
    result, report, _ = bench_with_times(tmp_path, monkeypatch, "128,256", times, load=0.0)
    assert report["time_exponent"]["sdpa"] is None and report["time_exponent_range"]["sdpa"] is None
    assert "none (does not grow)" in result.stderr and report["warnings"] == []


def test_lengths_that_fit_nowhere_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    args = ["bench", "attention", "--device", "cpu", "--lengths", "100000000", "--methods", "sdpa"]
    result = CliRunner().invoke(app, [*args, "--runs-dir", str(tmp_path)])
    assert result.exit_code == 2 and "no method fits in this device's memory" in result.output
    assert not any(tmp_path.iterdir())
