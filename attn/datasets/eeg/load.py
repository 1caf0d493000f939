"""``load_eeg_dataset``: the recipe's ``data`` section in, an :class:`EEGDataset` out (cached on disk);
``load_dataset_once`` keeps the last one in memory too."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict

from attn.datasets.eeg.cache import load_or_build
from attn.datasets.eeg.config import EEGDataConfig
from attn.datasets.eeg.dataset import EEGDataset
from attn.datasets.eeg.synthetic import GENERATOR_VERSION, preset_params, simulate
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
    return load_or_build(
        "synthetic",
        synthetic_cache_params(cfg),
        lambda: simulate(cfg.n_subjects, cfg.trials_per_subject, cfg.seed, cfg.preset, progress=progress),
        enabled=cfg.cache,
        progress=progress,
        what="simulated EEG",
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
