"""Read CCD windows from a local BIDS copy of the HBN EEG releases (needs mne: ``attn[eeg]``).

Recordings are ``sub-*/eeg/sub-*_task-contrastChangeDetection[_run-*]_eeg.{set,bdf}`` with their
``_events.tsv``. The trial rules (docs/eeg-data.md) are those of Challenge 1: a trial runs from a
``contrastTrial_start`` to the next one; its stimulus is the first ``left_target``/``right_target``
in it and its response the first ``left_buttonPress``/``right_buttonPress`` at or after the
stimulus and still in it; the target is response minus stimulus onset. ``data.trial_rules``
decides the last trial of a recording and the subjects: ``challenge`` (the default) follows the
EEG 2025 start kit, whose trial table (eegdash's ``build_trial_table``) drops the last trial (it
has no next start) and whose split leaves out 9 subjects (:data:`CHALLENGE_EXCLUDED_SUBJECTS`);
``all`` ends the last trial at ``end_experiment`` or the end of the recording and keeps every
subject. ``data.exclude_subjects`` leaves out more. Recordings not at 100 Hz are band-passed
0.5-50 Hz and resampled to 100 Hz; recordings at 100 Hz are taken as already preprocessed (the
challenge's L100 releases). Each window is +0.5..+2.5 s after the stimulus, in microvolts.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from attn.datasets.eeg.cache import load_or_build
from attn.datasets.eeg.config import EEGDataConfig
from attn.datasets.eeg.dataset import N_CHANNELS, N_TIMES, SFREQ, WINDOW_START_S, EEGDataset
from attn.datasets.eeg.montage import CHANNEL_NAMES
from attn.errors import DataError
from attn.fileio import check_folder, read_text_file

TASK = "contrastChangeDetection"
TRIAL_START = "contrastTrial_start"
END = "end_experiment"
STIMULI = frozenset({"left_target", "right_target"})
RESPONSES = frozenset({"left_buttonPress", "right_buttonPress"})
L_FREQ, H_FREQ = 0.5, 50.0
READER_VERSION = 2  # part of the cache key: bump when the trial or window rules change
# Left out of the Challenge 1 (and 2) start kit's subject split: github.com/eeg2025/startkit,
# challenge_1.py, `sub_rm`, added in commit 4e37d59 "removing the bad subjects" (2025-09-10).
CHALLENGE_EXCLUDED_SUBJECTS = (
    "NDARWV769JM7",
    "NDARME789TD2",
    "NDARUA442ZVF",
    "NDARJP304NK1",
    "NDARTY128YLU",
    "NDARDW550GU6",
    "NDARLD243KRE",
    "NDARUJ292JXV",
    "NDARBA381JGH",
)
DROP_REASONS = ("no_stimulus", "no_response", "off_recording", "last_trial")


@dataclass
class TrialTable:
    """The usable trials of one recording and the counts of those dropped, by reason."""

    stimulus: list[float] = field(default_factory=list)
    rt: list[float] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DROP_REASONS, 0))

    @property
    def n_trials(self) -> int:
        """Every trial start seen (usable or dropped before the windows are cut)."""
        return len(self.stimulus) + sum(self.dropped[k] for k in ("no_stimulus", "no_response", "last_trial"))


def find_recordings(root: Path, releases: list[str]) -> list[Path]:
    """The CCD recordings under ``root`` (or its ``releases`` subfolders), sorted by path."""
    check_folder(root, "HBN root folder (data.root)", DataError)
    folders = [root / r for r in releases] if releases else [root]
    for folder in folders:
        check_folder(folder, f"HBN release folder (data.releases: {releases})", DataError)
    found: dict[Path, Path] = {}
    for folder in folders:
        for path in sorted(folder.rglob(f"sub-*_task-{TASK}*_eeg.*")):
            if path.suffix.lower() in (".set", ".bdf") and path.parent.name == "eeg":
                stem = path.with_suffix("")
                if stem not in found or path.suffix.lower() == ".bdf":  # one file per recording
                    found[stem] = path
    if not found:
        where = ", ".join(str(f) for f in folders)
        raise DataError(
            f"no contrast-change-detection recordings (sub-*/eeg/sub-*_task-{TASK}_*_eeg.set or .bdf) under {where}"
        )
    return sorted(found.values())


def subject_of(path: Path) -> str:
    """``sub-<label>`` from a BIDS file name."""
    return path.name.split("_", 1)[0]


def events_path(recording: Path) -> Path:
    return recording.with_name(recording.name.rsplit("_eeg.", 1)[0] + "_events.tsv")


def read_events(path: Path) -> list[tuple[float, str]]:
    """(onset seconds, event name) rows of a BIDS events.tsv, sorted by onset.

    The name comes from ``value`` (HBN) or ``trial_type``, whichever holds the CCD event names.
    """
    if not path.is_file():
        raise DataError(f"recording has no events file: {path} is missing")
    text = read_text_file(path, "events file (BIDS requires UTF-8)", DataError)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter="\t")
    rows = list(reader)
    columns = set(reader.fieldnames or ())
    names = [c for c in ("value", "trial_type") if c in columns]
    if "onset" not in columns or not names:
        raise DataError(f"{path} needs the columns onset and value (or trial_type)")
    known = {TRIAL_START, END} | STIMULI | RESPONSES
    column = next((c for c in names if any(r[c] in known for r in rows)), names[0])
    events = []
    for row in rows:
        try:
            onset = float(row["onset"])
        except (TypeError, ValueError):
            continue  # "n/a"
        events.append((onset, str(row[column]).strip()))
    events.sort(key=lambda e: e[0])
    return events


def build_trials(
    events: list[tuple[float, str]], duration: float = float("inf"), rules: str = "challenge"
) -> TrialTable:
    """Trials (stimulus onset, response time) from sorted events, by the Challenge 1 rules.

    ``rules="challenge"``: the last trial start has no next one and is dropped (counted as
    ``last_trial``), as in the start kit; ``"all"``: it ends at the first ``end_experiment``
    after it, or at ``duration``.
    """
    if rules not in ("challenge", "all"):
        raise ValueError(f"trial rules must be 'challenge' or 'all', got {rules!r}")
    table = TrialTable()
    starts = [t for t, name in events if name == TRIAL_START]
    for i, start in enumerate(starts):
        if i + 1 < len(starts):
            end = starts[i + 1]
        elif rules == "challenge":
            table.dropped["last_trial"] += 1
            continue
        else:
            end = next((t for t, name in events if name == END and t >= start), duration)
        inside = [(t, name) for t, name in events if start <= t < end]
        stimulus = next((t for t, name in inside if name in STIMULI), None)
        if stimulus is None:
            table.dropped["no_stimulus"] += 1
            continue
        response = next((t for t, name in inside if name in RESPONSES and t >= stimulus), None)
        if response is None:
            table.dropped["no_response"] += 1
            continue
        table.stimulus.append(stimulus)
        table.rt.append(response - stimulus)
    return table


def _require_mne():
    try:
        import mne
    except ImportError as err:
        raise DataError("reading HBN EEG needs mne: install the EEG extra (pip install 'attn[eeg]')") from err
    return mne


def read_recording(path: Path) -> tuple[np.ndarray, float]:
    """(data (129, T) float64 in µV at 100 Hz, original sampling rate) of one recording."""
    mne = _require_mne()
    reader = mne.io.read_raw_bdf if path.suffix.lower() == ".bdf" else mne.io.read_raw_eeglab
    try:
        raw = reader(str(path), preload=True, verbose="error")
    except Exception as err:  # mne raises many kinds for unreadable files
        raise DataError(f"cannot read EEG recording {path}: {err}") from err
    picks = mne.pick_types(raw.info, eeg=True, exclude=[])
    if len(picks) != N_CHANNELS:
        raise DataError(
            f"{path} has {len(picks)} EEG channels; CCD windows need the {N_CHANNELS} channels of "
            f"the GSN HydroCel 129 net (E1..E128 and Cz)"
        )
    raw.pick(picks)
    if set(raw.ch_names) == set(CHANNEL_NAMES):
        raw.reorder_channels(list(CHANNEL_NAMES))
    sfreq = float(raw.info["sfreq"])
    if sfreq < SFREQ:
        raise DataError(f"{path} is sampled at {sfreq:g} Hz; CCD windows need at least {SFREQ:g} Hz")
    if sfreq != SFREQ:
        raw.filter(L_FREQ, H_FREQ, verbose="error")
        raw.resample(SFREQ, method="polyphase", verbose="error")  # no phase shift (the FFT default has one)
    return raw.get_data() * 1e6, sfreq


def cut_windows(data: np.ndarray, table: TrialTable) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(windows (n, 129, 200) float32, targets (n,), stimulus onsets (n,)); drops and counts
    trials whose window runs off the recording."""
    keep, starts = [], []
    for k, onset in enumerate(table.stimulus):
        first = int(round((onset + WINDOW_START_S) * SFREQ))
        if first < 0 or first + N_TIMES > data.shape[1]:
            table.dropped["off_recording"] += 1
            continue
        keep.append(k)
        starts.append(first)
    X = (
        np.stack([data[:, s : s + N_TIMES] for s in starts]).astype(np.float32)
        if starts
        else (np.empty((0, data.shape[0], N_TIMES), dtype=np.float32))
    )
    return X, np.asarray(table.rt, dtype=np.float64)[keep], np.asarray(table.stimulus)[keep]


def excluded_subjects(cfg: EEGDataConfig) -> set[str]:
    """``sub-<label>`` ids that ``cfg`` leaves out: the trial rules' list and ``exclude_subjects``."""
    labels = list(CHALLENGE_EXCLUDED_SUBJECTS) if cfg.trial_rules == "challenge" else []
    labels += [s.removeprefix("sub-") for s in cfg.exclude_subjects]
    return {f"sub-{label}" for label in labels}


def selected_recordings(cfg: EEGDataConfig) -> tuple[list[Path], list[str]]:
    """The recordings to read and the excluded subjects that were found (sorted)."""
    found = find_recordings(Path(cfg.root).expanduser(), list(cfg.releases))
    excluded = excluded_subjects(cfg)
    recordings = [p for p in found if subject_of(p) not in excluded]
    if not recordings:
        raise DataError(
            f"every contrast-change-detection recording under {cfg.root} belongs to an excluded subject "
            f"({', '.join(sorted({subject_of(p) for p in found}))}; data.trial_rules: {cfg.trial_rules}, "
            f"data.exclude_subjects: {list(cfg.exclude_subjects)})"
        )
    if cfg.subjects is not None:
        chosen = set(sorted({subject_of(p) for p in recordings})[: cfg.subjects])
        recordings = [p for p in recordings if subject_of(p) in chosen]
    return recordings, sorted({subject_of(p) for p in found} & excluded)


def _cache_params(cfg: EEGDataConfig, recordings: list[Path]) -> dict:
    files = []
    for path in recordings:
        for part in (path, path.with_suffix(".fdt"), events_path(path)):
            if part.is_file():
                stat = part.stat()
                files.append([str(part.resolve()), stat.st_size, stat.st_mtime_ns])
    return {
        "source": "hbn",
        "reader": READER_VERSION,
        "trial_rules": cfg.trial_rules,
        "excluded": sorted(excluded_subjects(cfg)),
        "files": files,
        "window": [WINDOW_START_S, N_TIMES, SFREQ],
        "filter": [L_FREQ, H_FREQ],
    }


def load_hbn(cfg: EEGDataConfig, progress: Callable[[str], None] | None = None) -> EEGDataset:
    """All usable CCD windows of the recordings that ``cfg`` selects (cached when ``cfg.cache``)."""
    if not cfg.root:
        raise DataError("data.root must name the HBN BIDS folder when data.source is 'hbn'")
    recordings, left_out = selected_recordings(cfg)
    for path in recordings:  # fail before the slow part if an events file is missing
        if not events_path(path).is_file():
            raise DataError(f"recording has no events file: {events_path(path)} is missing")
    return load_or_build(
        "hbn",
        _cache_params(cfg, recordings),
        lambda: _read_windows(cfg, recordings, left_out, progress),
        enabled=cfg.cache,
        progress=progress,
        what="HBN windows",
    )


def _read_windows(
    cfg: EEGDataConfig, recordings: list[Path], left_out: list[str], progress: Callable[[str], None] | None
) -> EEGDataset:
    """Read every recording, build its trials and cut the windows (the slow part, cached by the caller)."""
    _require_mne()
    parts, dropped, n_trials, resampled = [], dict.fromkeys(DROP_REASONS, 0), 0, 0
    for i, path in enumerate(recordings):
        if progress is not None:
            progress(f"reading HBN recording {i + 1}/{len(recordings)}: {path.name}")
        events = read_events(events_path(path))
        data, sfreq = read_recording(path)
        resampled += sfreq != SFREQ
        table = build_trials(events, duration=data.shape[1] / SFREQ, rules=cfg.trial_rules)
        n_trials += table.n_trials
        X, y, onsets = cut_windows(data, table)
        for key, count in table.dropped.items():
            dropped[key] += count
        parts.append((X, y, onsets, np.full(len(y), i, dtype=np.int32), subject_of(path)))
    n_windows = sum(len(p[1]) for p in parts)
    if n_windows == 0:
        raise DataError(f"no usable CCD trials in {len(recordings)} recording(s) under {cfg.root} (dropped: {dropped})")
    root = Path(cfg.root).expanduser()
    dataset = EEGDataset(
        X=np.concatenate([p[0] for p in parts]),
        y=np.concatenate([p[1] for p in parts]).astype(np.float32),
        subjects=np.concatenate([np.full(len(p[1]), p[4]) for p in parts]).astype(str),
        info={
            "source": "hbn",
            "root": str(root),
            "releases": list(cfg.releases),
            "n_recordings": len(recordings),
            "n_resampled": int(resampled),
            "n_trials": n_trials,
            "dropped": dropped,
            "trial_rules": cfg.trial_rules,
            "excluded_subjects": left_out,
            "n_windows": n_windows,
            "sfreq": SFREQ,
            "window_s": [WINDOW_START_S, WINDOW_START_S + N_TIMES / SFREQ],
            "unit": "uV",
            "reference": "Cz (channel 129)",
            "recordings": [str(p.relative_to(root)) if p.is_relative_to(root) else str(p) for p in recordings],
        },
        meta={
            "stimulus_onset": np.concatenate([p[2] for p in parts]).astype(np.float64),
            "recording": np.concatenate([p[3] for p in parts]),
        },
    )
    dataset.info["n_subjects"] = dataset.n_subjects
    return dataset
