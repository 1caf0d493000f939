"""EEG data for response-time regression (HBN contrast-change detection, Challenge 1).

Windows are 129 channels x 200 samples (+0.5..+2.5 s after the target stimulus at 100 Hz, in
microvolts, Cz reference flat); the target is the response time in seconds. Sources: a
documented simulator (``source: synthetic``, the default) and local HBN BIDS copies
(``source: hbn``, needs the ``attn[eeg]`` extra). Splits are always by subject.
"""

from __future__ import annotations

from attn.datasets.eeg.config import EEGDataConfig
from attn.datasets.eeg.dataset import N_CHANNELS, N_TIMES, SFREQ, EEGDataset
from attn.datasets.eeg.load import load_dataset_once, load_eeg_dataset
from attn.datasets.eeg.oracle import oracle_floor
from attn.datasets.eeg.splits import (
    fold_splits,
    split_from_subjects,
    subject_kfold,
    subject_split,
    subjects_by_split,
)

__all__ = [
    "EEGDataConfig",
    "EEGDataset",
    "N_CHANNELS",
    "N_TIMES",
    "SFREQ",
    "fold_splits",
    "load_dataset_once",
    "load_eeg_dataset",
    "oracle_floor",
    "subject_kfold",
    "split_from_subjects",
    "subject_split",
    "subjects_by_split",
]
