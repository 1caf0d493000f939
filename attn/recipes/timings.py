"""Measured wall times of the built-in recipes, kept beside them (`attn recipes list` shows them).

Every figure is a measurement quoted from BENCHMARKS.md, with the table it comes from; a recipe
or device without one has none (the list shows "-"). ``cpu`` is the 2-core development machine
(AMD EPYC, torch 2.13.0+cpu), ``gpu`` one NVIDIA H100 80GB. Times run from process start to
end, final evaluation included. ``what`` says when the figure is not of the recipe exactly as
shipped (a 5-fold cross-validation instead of its single split). Update this table together
with BENCHMARKS.md.

``CPU_RECIPES`` names, per task family, the built-in recipe sized for a CPU, which ``attn train``
suggests when a GPU-sized recipe starts on one.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    seconds: float
    source: str  # where in BENCHMARKS.md the figure is
    what: str = ""  # how the measured run differs from the recipe as shipped (empty: it does not)


CPU_RECIPES = {"text": "shakespeare_char_cpu", "eeg": "eeg_latency"}

DEVICES = ("cpu", "gpu")

EXPECTED_TIMES: dict[str, dict[str, Timing]] = {
    "shakespeare_char_cpu": {
        "cpu": Timing(112.7, "BENCHMARKS.md, Text on the CPU (2 cores): process wall time"),
    },
    "alice_char": {
        "cpu": Timing(1090.0, "BENCHMARKS.md, `alice_char` on the CPU (2026-12-05): process wall"),
    },
    "shakespeare_char": {
        "gpu": Timing(101.4, "BENCHMARKS.md, The reference run, end to end: whole 5000-step run, H100"),
    },
    "shakespeare_char_modern": {
        "gpu": Timing(
            45.9,
            "BENCHMARKS.md, Weight decay 0.3, and the bench over three seeds (H100, 2026-12-05, session 8): process wall",
            "evaluations every 7.5 s of training",
        ),
    },
    "shakespeare_char_fast": {
        "gpu": Timing(
            19.1, "BENCHMARKS.md, Time to quality: with torch's bytecode kept (H100, session 9), warm process wall"
        ),
    },
    "shakespeare_char_sprint": {
        "gpu": Timing(
            10.0,
            "BENCHMARKS.md, Time to quality: compiled, `shakespeare_char_sprint` (H100, session 10): process wall",
            "warm compile cache; cold 18 s",
        ),
    },
    "eeg_cnn": {
        "cpu": Timing(17.0, "BENCHMARKS.md, One subject split, CPU: process wall time"),
        "gpu": Timing(
            34.5, "BENCHMARKS.md, 5-fold cross-validation by subject, `default` preset: process wall, H100", "5-fold CV"
        ),
    },
    "eeg_latency": {
        "cpu": Timing(
            30.2, "BENCHMARKS.md, `eeg-latency`, a model that asks *when* (CPU, 2026-12-05): single split, process wall"
        ),
    },
    "eeg_sparse_lightweight": {
        "cpu": Timing(
            131.2, "BENCHMARKS.md, Longer training and a weight average (CPU, 2026-12-05): single split, process wall"
        ),
        "gpu": Timing(
            47.9,
            "BENCHMARKS.md, 5-fold cross-validation by subject, `default` preset: process wall, H100",
            "5-fold CV, 8 epochs",
        ),
    },
    "eeg_sparse_improved": {
        "cpu": Timing(
            1876.0,
            "BENCHMARKS.md, 5-fold cross-validation by subject, `default` preset: process wall, CPU",
            "5-fold CV",
        ),
        "gpu": Timing(
            48.9, "BENCHMARKS.md, 5-fold cross-validation by subject, `default` preset: process wall, H100", "5-fold CV"
        ),
    },
    "eeg_eegnex": {
        "gpu": Timing(
            58.6, "BENCHMARKS.md, 5-fold cross-validation by subject, `default` preset: process wall, H100", "5-fold CV"
        ),
    },
}


def expected_time(recipe: str, device: str) -> Timing | None:
    """The measured time of built-in ``recipe`` on ``device`` ("cpu" or "gpu"), if there is one."""
    return EXPECTED_TIMES.get(recipe, {}).get(device)
