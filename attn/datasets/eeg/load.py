"""``load_eeg_dataset``: the recipe's ``data`` section in, an :class:`EEGDataset` out (cached)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict

from attn.datasets.eeg.cache import load_or_build
from attn.datasets.eeg.config import EEGDataConfig
from attn.datasets.eeg.dataset import EEGDataset
from attn.datasets.eeg.synthetic import GENERATOR_VERSION, preset_params, simulate

Progress = Callable[[str], None]


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
