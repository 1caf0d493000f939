"""The in-memory EEG dataset shared by both sources: windows, targets, subject ids, facts."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np

N_CHANNELS = 129
"""GSN HydroCel 129: E1..E128 and Cz (the recording reference, flat)."""
SFREQ = 100.0
"""Sampling rate of every window, Hz."""
WINDOW_START_S = 0.5
"""Window start after the target stimulus, seconds."""
WINDOW_END_S = 2.5
"""Window end after the target stimulus, seconds (exclusive)."""
N_TIMES = int(round((WINDOW_END_S - WINDOW_START_S) * SFREQ))
"""Samples per window (200)."""


@dataclass
class EEGDataset:
    """Windows ``X`` (N, 129, 200) float32 in microvolts, targets ``y`` (N,) float32 seconds.

    ``subjects`` holds one subject id (str) per window; ``info`` holds JSON-friendly facts about
    the whole dataset (source, sizes, oracle floor, dropped trials, ...); ``meta`` holds per-window
    side arrays of length N (for the simulator: ``latent`` event times and responding ``hand``;
    for HBN: ``stimulus_onset`` and ``run``) which :meth:`subset` slices along with ``X``.
    """

    X: np.ndarray
    y: np.ndarray
    subjects: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.y)
        if self.X.ndim != 3 or self.X.shape[0] != n or self.subjects.shape != (n,):
            raise ValueError(
                f"EEGDataset needs X (N, channels, samples), y (N,) and subjects (N,); got "
                f"X {self.X.shape}, y {self.y.shape}, subjects {self.subjects.shape}"
            )
        for name, values in self.meta.items():
            if len(values) != n:
                raise ValueError(f"meta[{name!r}] has {len(values)} entries for {n} windows")

    def __len__(self) -> int:
        return len(self.y)

    @property
    def n_subjects(self) -> int:
        return int(len(np.unique(self.subjects)))

    def subset(self, indices: np.ndarray) -> EEGDataset:
        """The windows at ``indices`` (a copy), with sizes and the oracle floor recomputed."""
        idx = np.asarray(indices)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        if idx.ndim != 1 or (idx.size and not np.issubdtype(idx.dtype, np.integer)):
            raise ValueError(f"subset needs a 1-D array of window indices (got {idx.dtype} {idx.shape})")
        sub = EEGDataset(
            X=self.X[idx],
            y=self.y[idx],
            subjects=self.subjects[idx],
            info=copy.deepcopy(self.info),
            meta={k: v[idx] for k, v in self.meta.items()},
        )
        sub.info["n_windows"] = int(len(idx))
        sub.info["n_subjects"] = sub.n_subjects
        if "oracle_floor" in sub.info:
            from attn.datasets.eeg.oracle import oracle_floor

            sub.info["oracle_floor"] = oracle_floor(sub) if len(idx) else float("nan")
        return sub
