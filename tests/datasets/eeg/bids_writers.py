"""Writers for tiny but real EEG files (BDF, EEGLAB .set) and BIDS events for the HBN tests."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import scipy.io

HBN_CHANNELS = [f"E{i}" for i in range(1, 129)] + ["Cz"]
_DIG_MIN, _DIG_MAX = -1_000_000, 1_000_000
_PHYS_MIN, _PHYS_MAX = -10_000.0, 10_000.0  # microvolts: 0.01 µV per step
BDF_STEP_UV = (_PHYS_MAX - _PHYS_MIN) / (_DIG_MAX - _DIG_MIN)


def _field(value: object, width: int) -> bytes:
    text = str(value).encode("ascii")
    assert len(text) <= width, (value, width)
    return text.ljust(width)


def write_bdf(path: Path, data_uv: np.ndarray, sfreq: int, ch_names: list[str]) -> None:
    """A minimal BioSemi BDF file: 1 s records, 24-bit little-endian samples, microvolts.

    The signal length must be a whole number of seconds.
    """
    n_ch, n_times = data_uv.shape
    assert n_times % sfreq == 0 and len(ch_names) == n_ch
    n_records = n_times // sfreq
    header = b"\xffBIOSEMI" + _field("X X X X", 80) + _field("Startdate 01-JAN-2020 X X X", 80)
    header += _field("01.01.20", 8) + _field("00.00.00", 8) + _field(256 * (n_ch + 1), 8)
    header += _field("24BIT", 44) + _field(n_records, 8) + _field(1, 8) + _field(n_ch, 4)
    columns = [
        [_field(name, 16) for name in ch_names],
        [_field("AgAgCl electrode", 80)] * n_ch,
        [_field("uV", 8)] * n_ch,
        [_field(f"{_PHYS_MIN:g}", 8)] * n_ch,
        [_field(f"{_PHYS_MAX:g}", 8)] * n_ch,
        [_field(_DIG_MIN, 8)] * n_ch,
        [_field(_DIG_MAX, 8)] * n_ch,
        [_field("", 80)] * n_ch,
        [_field(sfreq, 8)] * n_ch,
        [_field("", 32)] * n_ch,
    ]
    for column in columns:
        header += b"".join(column)
    digital = np.round((data_uv - _PHYS_MIN) / BDF_STEP_UV + _DIG_MIN).astype(np.int64)
    assert digital.min() >= _DIG_MIN and digital.max() <= _DIG_MAX, "signal out of range"
    # records: (record, channel, sample) -> 3 little-endian bytes each
    records = digital.reshape(n_ch, n_records, sfreq).transpose(1, 0, 2) & 0xFFFFFF
    as_bytes = np.stack([(records >> shift) & 0xFF for shift in (0, 8, 16)], axis=-1).astype(np.uint8)
    path.write_bytes(header + as_bytes.tobytes())


def write_set(path: Path, data_uv: np.ndarray, sfreq: float, ch_names: list[str]) -> None:
    """A minimal EEGLAB .set file (MATLAB v5, data inline) that mne.io.read_raw_eeglab reads."""
    n_ch, n_times = data_uv.shape
    chanlocs = np.zeros((1, n_ch), dtype=[("labels", object)])
    for i, name in enumerate(ch_names):
        chanlocs[0, i]["labels"] = name
    eeg = {
        "setname": "test",
        "nbchan": float(n_ch),
        "trials": 1.0,
        "pnts": float(n_times),
        "srate": float(sfreq),
        "xmin": 0.0,
        "xmax": (n_times - 1) / sfreq,
        "data": data_uv.astype(np.float32),
        "chanlocs": chanlocs,
        "event": np.zeros((0, 0)),
        "ref": "Cz",
    }
    scipy.io.savemat(str(path), {"EEG": eeg}, appendmat=False, format="5")


def write_events(path: Path, events: list[tuple[float, str]], column: str = "value") -> None:
    """A BIDS ``_events.tsv`` with onset, duration and the event name in ``column``."""
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh, delimiter="\t", lineterminator="\n")
        writer.writerow(["onset", "duration", column, "event_code"])
        for onset, name in events:
            writer.writerow([f"{onset:.4f}", "n/a", name, "n/a"])
