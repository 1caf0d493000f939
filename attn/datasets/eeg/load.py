"""``load_eeg_dataset``: the recipe's ``data`` section in, an :class:`EEGDataset` out (cached on disk);
``load_dataset_once`` keeps the last one in memory too."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict

import numpy as np

from attn.datasets.eeg.cache import load_or_build
from attn.datasets.eeg.config import EEGDataConfig
from attn.datasets.eeg.dataset import N_CHANNELS, N_TIMES, EEGDataset
from attn.datasets.eeg.splits import subject_fold_splits, subject_split
from attn.datasets.eeg.synthetic import GENERATOR_VERSION, preset_params, simulate
from attn.errors import DataError
from attn.process import check_memory
from attn.schema import section_to_dict

Progress = Callable[[str], None]

_loaded: tuple[str, EEGDataset] | None = None


def synthetic_cache_params(cfg: EEGDataConfig) -> dict:
    """Everything that decides the simulated data (the cache key)."""
    return {
        "source": "synthetic",
        "generator": GENERATOR_VERSION,
        "n_subjects": cfg.n_subjects,
        "trials_per_subject": cfg.trials_per_subject,
        "seed": cfg.seed,
        "preset": cfg.preset,
        "params": asdict(preset_params(cfg.preset)),
    }


def load_eeg_dataset(cfg: EEGDataConfig, progress: Progress | None = None) -> EEGDataset:
    """The windows described by ``cfg``: simulated (cached) or read from a local HBN copy."""
    if cfg.source == "hbn":
        from attn.datasets.eeg.hbn import load_hbn

        return load_hbn(cfg, progress=progress)
    check_simulation_fits(cfg)
    return load_or_build(
        "synthetic",
        synthetic_cache_params(cfg),
        lambda: simulate(cfg.n_subjects, cfg.trials_per_subject, cfg.seed, cfg.preset, progress=progress),
        enabled=cfg.cache,
        progress=progress,
        what="simulated EEG",
    )


def check_simulation_fits(cfg: EEGDataConfig) -> None:
    """Refuse simulated data that cannot fit in this machine's memory, before generating any of it."""
    check_memory(
        cfg.n_subjects * cfg.trials_per_subject * N_CHANNELS * N_TIMES * 4,  # float32 windows
        f"the simulated EEG ({cfg.n_subjects} subjects x {cfg.trials_per_subject} windows of {N_CHANNELS}x{N_TIMES})",
        "lower data.n_subjects or data.trials_per_subject",
    )


def load_dataset_once(cfg: EEGDataConfig, progress: Progress | None = None) -> EEGDataset:
    """The dataset of ``cfg``, kept in memory for the next call with the same config.

    Cross-validation folds, and a run followed by ``attn eval`` in one process, share it
    instead of reading ~250 MB again. Only the last dataset is kept.
    """
    global _loaded
    key = json.dumps(section_to_dict(cfg), sort_keys=True, default=str)
    if _loaded is None or _loaded[0] != key:
        _loaded = None  # let the previous one be freed before the new one is read
        _loaded = (key, load_eeg_dataset(cfg, progress=progress))
    return _loaded[1]


def check_eeg_data(cfg: EEGDataConfig, folds: int = 1) -> str:
    """Check what can be checked without reading any EEG: the recordings exist, the subjects allow the splits.

    Returns a one-line description of the subjects and splits; a problem is a :class:`DataError`.
    """
    if cfg.source == "hbn":
        from attn.datasets.eeg.hbn import events_path, selected_recordings, subject_of

        recordings, _ = selected_recordings(cfg)
        missing = [events_path(p) for p in recordings if not events_path(p).is_file()]
        if missing:
            raise DataError(f"recording has no events file: {missing[0]} is missing")
        subjects = np.array(sorted({subject_of(p) for p in recordings}))
        where = f"{len(recordings)} recordings of {len(subjects)} subjects under {cfg.root}"
    else:
        check_simulation_fits(cfg)
        subjects = np.arange(cfg.n_subjects)
        where = f"{cfg.n_subjects} simulated subjects"
    if folds > 1:
        splits = subject_fold_splits(subjects, folds, cfg.val_fraction, cfg.split_seed)
        sizes = [(len(s["train"]), len(s["val"]), len(s["test"])) for s in splits]
        return f"{where}; {folds} folds of {min(t for *_, t in sizes)}-{max(t for *_, t in sizes)} test subjects"
    split = subject_split(subjects, cfg.val_fraction, cfg.test_fraction, cfg.split_seed)
    return f"{where}; {len(split['train'])} train, {len(split['val'])} val, {len(split['test'])} test"
