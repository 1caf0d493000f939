"""The recipe section of EEG data and the on-disk cache of generated datasets."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from attn.datasets.eeg import EEGDataConfig, EEGDataset, load_eeg_dataset
from attn.datasets.eeg.cache import cache_dir, load_dataset, save_dataset
from attn.errors import RecipeError
from attn.schema import build_section, describe_section

TINY = {"n_subjects": 2, "trials_per_subject": 3, "seed": 1}


def test_section_defaults_and_every_field_has_help():
    cfg = build_section(EEGDataConfig, {}, "data")
    assert (cfg.source, cfg.preset, cfg.trials_per_subject, cfg.cache) == ("synthetic", "default", 60, True)
    assert cfg.root is None and cfg.releases == [] and cfg.subjects is None
    assert (cfg.trial_rules, cfg.exclude_subjects, cfg.normalize) == ("challenge", [], "none")
    for name, _type, _default, text in describe_section(EEGDataConfig):
        assert text, f"{name} has no help text"


def test_section_accepts_hbn_settings():
    cfg = build_section(
        EEGDataConfig, {"source": "hbn", "root": "/data/hbn", "releases": ["R1", "R2"], "subjects": 5}, "data"
    )
    assert cfg.releases == ["R1", "R2"] and cfg.subjects == 5
    cfg = build_section(
        EEGDataConfig,
        {"source": "hbn", "root": "/x", "trial_rules": "all", "exclude_subjects": ["sub-NDARAB123CDE", "NDARX"]},
        "data",
    )
    assert cfg.trial_rules == "all" and cfg.exclude_subjects == ["sub-NDARAB123CDE", "NDARX"]
    assert build_section(EEGDataConfig, {"normalize": "robust"}, "data").normalize == "robust"


@pytest.mark.parametrize(
    "mapping, message",
    [
        ({"source": "hbn"}, "data.root"),
        ({"source": "bids"}, "data.source"),
        ({"preset": "hard"}, "data.preset"),
        ({"n_subjects": 0}, "data.n_subjects"),
        ({"val_fraction": 1.0}, "data.val_fraction"),
        ({"val_fraction": 0.5, "test_fraction": 0.5}, "must be < 1"),
        ({"root": "/data"}, "only apply when"),
        ({"subjects": 0, "source": "hbn", "root": "/x"}, "data.subjects"),
        ({"n_subject": 3}, "did you mean 'n_subjects'"),
        ({"trial_rules": "kit"}, "data.trial_rules"),
        ({"exclude_subjects": ["sub-A01"]}, "only apply when"),
        ({"source": "hbn", "root": "/x", "exclude_subjects": ["sub-A 01"]}, "data.exclude_subjects[0]"),
        ({"normalize": "zscore"}, "data.normalize"),
    ],
)
def test_section_rejects_bad_values(mapping, message):
    with pytest.raises(RecipeError, match=re.escape(message)):
        build_section(EEGDataConfig, mapping, "data")


def test_cache_location_follows_attn_cache(attn_cache, monkeypatch):
    assert cache_dir() == attn_cache
    monkeypatch.delenv("ATTN_CACHE")
    assert cache_dir() == Path.home() / ".cache" / "attn"


def test_cache_hit_returns_identical_data_and_changed_parameters_miss(attn_cache, monkeypatch):
    first = load_eeg_dataset(EEGDataConfig(**TINY))
    files = sorted(attn_cache.glob("eeg-synthetic-*.npz"))
    assert len(files) == 1
    assert not list(attn_cache.glob("*.tmp"))  # written atomically: no temporary file left

    import attn.datasets.eeg.load as load_module

    def must_not_simulate(*args, **kwargs):
        raise AssertionError("cache miss")

    monkeypatch.setattr(load_module, "simulate", must_not_simulate)
    messages: list[str] = []
    again = load_eeg_dataset(EEGDataConfig(**TINY), progress=messages.append)
    assert any("cache" in m for m in messages)
    np.testing.assert_array_equal(first.X, again.X)
    np.testing.assert_array_equal(first.y, again.y)
    np.testing.assert_array_equal(first.subjects, again.subjects)
    np.testing.assert_array_equal(first.meta["latent"], again.meta["latent"])
    assert first.info == again.info
    monkeypatch.undo()
    monkeypatch.setenv("ATTN_CACHE", str(attn_cache))

    for change in ({"seed": 2}, {"n_subjects": 3}, {"trials_per_subject": 4}, {"preset": "realistic"}):
        load_eeg_dataset(EEGDataConfig(**{**TINY, **change}))
    assert len(list(attn_cache.glob("eeg-synthetic-*.npz"))) == 5
    # splitting settings do not change the data, so they share the file
    load_eeg_dataset(EEGDataConfig(**TINY, split_seed=3, val_fraction=0.3))
    assert len(list(attn_cache.glob("eeg-synthetic-*.npz"))) == 5


def test_cache_off_writes_nothing(attn_cache):
    load_eeg_dataset(EEGDataConfig(**TINY, cache=False))
    assert not attn_cache.exists() or not list(attn_cache.iterdir())


def test_corrupt_cache_file_is_rebuilt(attn_cache):
    first = load_eeg_dataset(EEGDataConfig(**TINY))
    (path,) = attn_cache.glob("eeg-synthetic-*.npz")
    path.write_bytes(b"not a zip file")
    assert load_dataset(path) is None
    again = load_eeg_dataset(EEGDataConfig(**TINY))
    np.testing.assert_array_equal(first.X, again.X)


def test_save_and_load_round_trip(tmp_path):
    data = EEGDataset(
        X=np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4),
        y=np.array([0.5, 1.5], dtype=np.float32),
        subjects=np.array(["sub-a", "sub-bb"]),
        info={"source": "x", "dropped": {"no_response": 1}},
        meta={"recording": np.array([0, 1], dtype=np.int32)},
    )
    save_dataset(tmp_path / "d.npz", data)
    back = load_dataset(tmp_path / "d.npz")
    np.testing.assert_array_equal(back.X, data.X)
    assert back.X.dtype == np.float32 and list(back.subjects) == ["sub-a", "sub-bb"]
    assert back.info == data.info and back.meta["recording"].tolist() == [0, 1]


def test_dataset_checks_shapes_and_subsets():
    X = np.zeros((3, 2, 5), dtype=np.float32)
    with pytest.raises(ValueError):
        EEGDataset(X=X, y=np.zeros(2, dtype=np.float32), subjects=np.array(["a", "b", "c"]))
    data = EEGDataset(
        X=X,
        y=np.arange(3, dtype=np.float32),
        subjects=np.array(["a", "b", "b"]),
        info={"n_windows": 3},
        meta={"k": np.array([7, 8, 9])},
    )
    sub = data.subset(np.array([2, 0]))
    assert sub.y.tolist() == [2.0, 0.0] and sub.meta["k"].tolist() == [9, 7]
    assert sub.info["n_windows"] == 2 and sub.info["n_subjects"] == 2
    assert data.subset(np.array([False, True, True])).subjects.tolist() == ["b", "b"]
    with pytest.raises(ValueError):
        data.subset(np.array([0.5]))
