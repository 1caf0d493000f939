"""The HBN BIDS reader on a tiny tree of real BDF and EEGLAB files written by the tests."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from attn.datasets.eeg import EEGDataConfig, load_eeg_dataset
from attn.datasets.eeg.hbn import CHALLENGE_EXCLUDED_SUBJECTS, build_trials, read_events
from attn.errors import DataError

pytest.importorskip("mne")

from tests.datasets.eeg.bids_writers import HBN_CHANNELS, write_bdf, write_events, write_set  # noqa: E402

TASK = "task-contrastChangeDetection"
CH = np.arange(129)[:, None]

# sub-A01 run-1: BDF at 100 Hz, 40 s; every trial rule appears once
EVENTS_A = [
    (0.0, "9999"),
    (2.0, "contrastTrial_start"),
    (3.0, "right_target"),
    (4.2, "right_buttonPress"),
    (8.0, "contrastTrial_start"),
    (8.5, "left_buttonPress"),
    (9.0, "left_target"),
    (9.65, "left_buttonPress"),
    (10.0, "right_buttonPress"),
    (14.0, "contrastTrial_start"),
    (15.0, "left_buttonPress"),  # no stimulus
    (20.0, "contrastTrial_start"),
    (21.0, "left_target"),  # no response inside the trial
    (26.0, "contrastTrial_start"),
    (26.5, "right_buttonPress"),
    (27.0, "right_target"),
    (28.1, "right_buttonPress"),
    (36.0, "contrastTrial_start"),
    (38.5, "left_target"),
    (39.0, "left_buttonPress"),  # window off the end
    (39.5, "end_experiment"),
]
# sub-A01 run-2: EEGLAB at 500 Hz, 30 s, names in trial_type; the last trial ends with the recording
EVENTS_B = [
    (5.0, "contrastTrial_start"),
    (6.0, "left_target"),
    (7.3, "left_buttonPress"),
    (12.0, "contrastTrial_start"),
    (13.0, "right_target"),
    (14.0, "right_buttonPress"),
    (20.0, "contrastTrial_start"),
    (21.0, "left_target"),
    (23.5, "left_buttonPress"),
]
# sub-B02 (release R2): EEGLAB at 100 Hz, 20 s; the last trial ends at end_experiment
EVENTS_C = [
    (1.0, "contrastTrial_start"),
    (1.5, "right_target"),
    (2.3, "right_buttonPress"),
    (5.0, "contrastTrial_start"),
    (5.2, "left_target"),
    (9.0, "end_experiment"),
    (9.5, "left_buttonPress"),
]


def signal_100(seconds: int) -> np.ndarray:
    t = np.arange(seconds * 100) / 100
    return 10 * np.sin(2 * np.pi * 3 * t + CH / 10) + 0.1 * CH + 2 * np.cos(2 * np.pi * 0.7 * t)


def in_band_500(t: np.ndarray) -> np.ndarray:
    return 20 * np.sin(2 * np.pi * 5 * t + CH / 10) + 10 * np.sin(2 * np.pi * 12 * t)


def signal_500(seconds: int) -> np.ndarray:
    """In-band sines plus what the 0.5-50 Hz band-pass must remove: an offset and 120 Hz."""
    t = np.arange(seconds * 500) / 500
    return 50 + in_band_500(t) + 30 * np.sin(2 * np.pi * 120 * t)


def recording(root: Path, release: str, subject: str, run: int, ext: str) -> Path:
    folder = root / release / f"sub-{subject}" / "eeg"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"sub-{subject}_{TASK}_run-{run}_eeg.{ext}"


def events_of(path: Path) -> Path:
    return path.with_name(path.name.replace("_eeg.bdf", "_events.tsv").replace("_eeg.set", "_events.tsv"))


@pytest.fixture(scope="module")
def bids_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hbn")
    a = recording(root, "R1", "A01", 1, "bdf")
    write_bdf(a, signal_100(40), 100, HBN_CHANNELS)
    write_events(events_of(a), EVENTS_A)
    b = recording(root, "R1", "A01", 2, "set")
    write_set(b, signal_500(30), 500, HBN_CHANNELS)
    write_events(events_of(b), EVENTS_B, column="trial_type")
    c = recording(root, "R2", "B02", 1, "set")
    write_set(c, signal_100(20), 100, HBN_CHANNELS)
    write_events(events_of(c), EVENTS_C)
    (a.parent / "sub-A01_task-RestingState_eeg.set").write_bytes(b"not read")  # another task
    return root


def hbn(root: Path, **kw) -> EEGDataConfig:
    return EEGDataConfig(source="hbn", root=str(root), cache=kw.pop("cache", False), **kw)


def test_trials_windows_and_targets_follow_the_rules(bids_root):
    data = load_eeg_dataset(hbn(bids_root, releases=["R1", "R2"], trial_rules="all"))
    expected_y = [1.2, 0.65, 1.1, 1.3, 1.0, 2.5, 0.8]
    np.testing.assert_allclose(data.y, expected_y, atol=1e-6)
    assert data.y.dtype == np.float32 and data.X.dtype == np.float32 and data.X.shape == (7, 129, 200)
    assert data.subjects.tolist() == ["sub-A01"] * 6 + ["sub-B02"]
    np.testing.assert_allclose(data.meta["stimulus_onset"], [3.0, 9.0, 27.0, 6.0, 13.0, 21.0, 1.5])
    assert data.meta["recording"].tolist() == [0, 0, 0, 1, 1, 1, 2]
    info = data.info
    assert info["dropped"] == {"no_stimulus": 1, "no_response": 2, "off_recording": 1, "last_trial": 0}
    assert info["trial_rules"] == "all" and info["excluded_subjects"] == []
    assert (info["n_trials"], info["n_recordings"], info["n_resampled"]) == (11, 3, 1)
    assert (info["n_subjects"], info["n_windows"], info["source"]) == (2, 7, "hbn")
    assert info["recordings"][2] == f"R2/sub-B02/eeg/sub-B02_{TASK}_run-1_eeg.set"

    # 100 Hz files are cut as they are: window = samples from +0.5 s to +2.5 s after the stimulus
    a, c = signal_100(40), signal_100(20)
    for row, (sig, stim, tol) in enumerate([(a, 3.0, 0.006), (a, 9.0, 0.006), (a, 27.0, 0.006)]):
        first = int(round((stim + 0.5) * 100))
        np.testing.assert_allclose(data.X[row], sig[:, first : first + 200], atol=tol)
    np.testing.assert_allclose(data.X[6], c[:, 200:400], atol=1e-4)

    # the 500 Hz file: band-passed and resampled; only the in-band sines survive
    for row, stim in ((3, 6.0), (4, 13.0), (5, 21.0)):
        t = stim + 0.5 + np.arange(200) / 100
        np.testing.assert_allclose(data.X[row], in_band_500(t), atol=0.1)


def test_root_with_several_releases_and_a_single_release_root(bids_root):
    assert len(load_eeg_dataset(hbn(bids_root, trial_rules="all"))) == 7
    only_r1 = load_eeg_dataset(hbn(bids_root / "R1", trial_rules="all"))
    assert set(only_r1.subjects) == {"sub-A01"} and len(only_r1) == 6
    only_r2 = load_eeg_dataset(hbn(bids_root, releases=["R2"]))
    assert only_r2.subjects.tolist() == ["sub-B02"]


def test_challenge_rules_drop_each_recordings_last_trial(bids_root):
    data = load_eeg_dataset(hbn(bids_root))  # the default: trial_rules challenge
    # A: the trial at 36 s (window off the end under 'all') has no next start; B: the one at 20 s;
    # C: the one at 5 s (no response before end_experiment under 'all')
    np.testing.assert_allclose(data.y, [1.2, 0.65, 1.1, 1.3, 1.0, 0.8], atol=1e-6)
    np.testing.assert_allclose(data.meta["stimulus_onset"], [3.0, 9.0, 27.0, 6.0, 13.0, 1.5])
    assert data.info["dropped"] == {"no_stimulus": 1, "no_response": 1, "off_recording": 0, "last_trial": 3}
    assert data.info["n_trials"] == 11 and data.info["trial_rules"] == "challenge"
    every = load_eeg_dataset(hbn(bids_root, trial_rules="all"))
    keep = [0, 1, 2, 3, 4, 6]  # the same trials, the same windows
    np.testing.assert_array_equal(data.X, every.X[keep])


def _one_subject(root: Path, subject: str) -> None:
    path = recording(root, "R9", subject, 1, "bdf")
    write_bdf(path, signal_100(20), 100, HBN_CHANNELS)
    write_events(events_of(path), EVENTS_C)


def test_challenge_rules_leave_out_the_start_kits_subjects(tmp_path):
    _one_subject(tmp_path, "NDARWV769JM7")  # first of the start kit's nine
    _one_subject(tmp_path, "NDARAA000AAA")
    data = load_eeg_dataset(hbn(tmp_path))
    assert set(data.subjects) == {"sub-NDARAA000AAA"}
    assert data.info["excluded_subjects"] == ["sub-NDARWV769JM7"]
    every = load_eeg_dataset(hbn(tmp_path, trial_rules="all"))
    assert set(every.subjects) == {"sub-NDARAA000AAA", "sub-NDARWV769JM7"} and every.info["excluded_subjects"] == []
    assert len(CHALLENGE_EXCLUDED_SUBJECTS) == 9 and all(s.startswith("NDAR") for s in CHALLENGE_EXCLUDED_SUBJECTS)


def test_exclude_subjects_with_or_without_the_sub_prefix(bids_root, tmp_path):
    only_a = load_eeg_dataset(hbn(bids_root, exclude_subjects=["sub-B02"]))
    assert set(only_a.subjects) == {"sub-A01"} and only_a.info["excluded_subjects"] == ["sub-B02"]
    only_b = load_eeg_dataset(hbn(bids_root, exclude_subjects=["A01"], trial_rules="all"))
    assert set(only_b.subjects) == {"sub-B02"} and only_b.info["excluded_subjects"] == ["sub-A01"]
    capped = load_eeg_dataset(hbn(bids_root, exclude_subjects=["A01"], subjects=1))  # the cap counts after exclusion
    assert set(capped.subjects) == {"sub-B02"}
    with pytest.raises(DataError, match="every contrast-change-detection recording .* excluded subject"):
        load_eeg_dataset(hbn(bids_root, exclude_subjects=["A01", "sub-B02"]))


def test_trial_rules_and_exclusions_are_part_of_the_cache_key(bids_root, attn_cache):
    load_eeg_dataset(hbn(bids_root, cache=True))
    load_eeg_dataset(hbn(bids_root, cache=True, trial_rules="all"))
    load_eeg_dataset(hbn(bids_root, cache=True, exclude_subjects=["sub-B02"]))
    assert len(list(attn_cache.glob("eeg-hbn-*.npz"))) == 3


def test_subject_cap_reads_the_first_subjects(bids_root):
    data = load_eeg_dataset(hbn(bids_root, subjects=1))
    assert set(data.subjects) == {"sub-A01"} and data.info["n_recordings"] == 2


def test_extracted_windows_are_cached_and_a_touched_file_misses(bids_root, attn_cache):
    cfg = hbn(bids_root, releases=["R2"], cache=True)
    first = load_eeg_dataset(cfg)
    messages: list[str] = []
    again = load_eeg_dataset(cfg, progress=messages.append)
    assert any("cache" in m for m in messages)
    np.testing.assert_array_equal(first.X, again.X)
    assert first.info == again.info
    (path,) = (bids_root / "R2").rglob("*_eeg.set")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    messages.clear()
    load_eeg_dataset(cfg, progress=messages.append)
    assert not any("from cache" in m for m in messages)
    assert len(list(attn_cache.glob("eeg-hbn-*.npz"))) == 2


def test_build_trials_and_read_events_directly(bids_root):
    (b_events,) = (bids_root / "R1").rglob("*run-2_events.tsv")
    events = read_events(b_events)  # names in trial_type
    assert events[0] == (5.0, "contrastTrial_start")
    table = build_trials(events, duration=30.0, rules="all")
    np.testing.assert_allclose(table.stimulus, [6.0, 13.0, 21.0])
    np.testing.assert_allclose(table.rt, [1.3, 1.0, 2.5])
    table = build_trials(events, duration=30.0)  # challenge: the last trial has no next start
    np.testing.assert_allclose(table.rt, [1.3, 1.0])
    assert table.dropped["last_trial"] == 1 and table.n_trials == 3
    # a press exactly at the stimulus counts; trials without a start are ignored
    table = build_trials(
        [(0.5, "left_target"), (1.0, "contrastTrial_start"), (2.0, "left_target"), (2.0, "left_buttonPress")],
        rules="all",
    )
    assert table.rt == [0.0] and table.dropped["no_stimulus"] == 0
    with pytest.raises(ValueError, match="trial rules"):
        build_trials(events, rules="kit")


def _copy_without(bids_root: Path, tmp_path: Path, drop: str) -> Path:
    """A copy of release R2 with one file removed."""
    import shutil

    target = tmp_path / "copy"
    shutil.copytree(bids_root / "R2", target)
    for path in target.rglob(drop):
        path.unlink()
    return target


def test_errors_say_what_is_wrong(bids_root, tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_eeg_dataset(hbn(tmp_path / "nowhere"))
    with pytest.raises(DataError, match="R3"):
        load_eeg_dataset(hbn(bids_root, releases=["R1", "R3"]))
    empty = tmp_path / "empty" / "sub-X" / "eeg"
    empty.mkdir(parents=True)
    (empty / "sub-X_task-RestingState_eeg.set").write_bytes(b"")
    with pytest.raises(DataError, match="no contrast-change-detection recordings"):
        load_eeg_dataset(hbn(tmp_path / "empty"))
    no_events = _copy_without(bids_root, tmp_path, "*_events.tsv")
    with pytest.raises(DataError, match="events.tsv is missing"):
        load_eeg_dataset(hbn(no_events))
    (events,) = (bids_root / "R2").rglob("*_events.tsv")
    bad = tmp_path / "bad_events.tsv"
    bad.write_text(events.read_text().replace("value", "name"))
    with pytest.raises(DataError, match="needs the columns onset and value"):
        read_events(bad)


def test_wrong_channel_count_is_an_error(tmp_path):
    path = recording(tmp_path, "R1", "C03", 1, "bdf")
    write_bdf(path, np.zeros((64, 1000)), 100, [f"E{i}" for i in range(1, 65)])
    write_events(events_of(path), EVENTS_C)
    with pytest.raises(DataError, match="64 EEG channels.*129"):
        load_eeg_dataset(hbn(tmp_path))


def test_no_usable_trial_is_an_error(tmp_path):
    path = recording(tmp_path, "R1", "D04", 1, "set")
    write_set(path, np.zeros((129, 1000)), 100, HBN_CHANNELS)
    write_events(events_of(path), [(1.0, "contrastTrial_start"), (2.0, "left_target")])
    with pytest.raises(DataError, match="no usable CCD trials.*'no_response': 1"):
        load_eeg_dataset(hbn(tmp_path, trial_rules="all"))
    with pytest.raises(DataError, match="no usable CCD trials.*'last_trial': 1"):
        load_eeg_dataset(hbn(tmp_path))


def test_missing_mne_asks_for_the_extra(bids_root, monkeypatch):
    monkeypatch.setitem(sys.modules, "mne", None)
    with pytest.raises(DataError, match=r"attn\[eeg\]"):
        load_eeg_dataset(hbn(bids_root, releases=["R2"]))
