"""The simulated CCD dataset: determinism, shapes, statistics and the generative model's structure."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import integrate, stats

from attn.datasets.eeg import N_CHANNELS, N_TIMES, EEGDataConfig, load_eeg_dataset
from attn.datasets.eeg.montage import CHANNEL_NAMES, electrode_positions
from attn.datasets.eeg.oracle import posterior_mean_rt
from attn.datasets.eeg.synthetic import PRESETS, SimParams, sample_behaviour, simulate
from attn.metrics import nrmse

QUIET = dict(bg_amp=0.0, alpha_amp=0.0, blink_prob=0.0, sensor_noise=0.0)


def test_same_seed_same_data_and_different_seed_different_data():
    a = simulate(3, 5, seed=7)
    b = simulate(3, 5, seed=7)
    c = simulate(3, 5, seed=8)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)
    np.testing.assert_array_equal(a.meta["latent"], b.meta["latent"])
    assert not np.array_equal(a.y, c.y)
    assert np.abs(a.X - c.X).mean() > 1.0


def test_a_subject_does_not_depend_on_how_many_subjects_are_generated():
    small, large = simulate(2, 4, seed=3), simulate(4, 4, seed=3)
    np.testing.assert_array_equal(small.X, large.X[:8])
    np.testing.assert_array_equal(small.y, large.y[:8])


def test_shapes_dtypes_ids_and_flat_reference():
    data = simulate(3, 4, seed=0)
    assert data.X.shape == (12, N_CHANNELS, N_TIMES) and data.X.dtype == np.float32
    assert data.y.shape == (12,) and data.y.dtype == np.float32
    assert data.subjects.shape == (12,) and data.subjects.dtype.kind == "U"
    assert list(np.unique(data.subjects, return_counts=True)[1]) == [4, 4, 4]
    assert CHANNEL_NAMES[-1] == "Cz"
    assert np.all(data.X[:, -1] == 0.0)
    assert np.all(data.X[:, :-1].std(axis=-1) > 0.1)
    info = data.info
    assert (info["source"], info["preset"], info["seed"]) == ("synthetic", "default", 0)
    assert (info["n_subjects"], info["n_windows"], info["sfreq"]) == (3, 12, 100.0)
    assert 0.0 < info["oracle_floor"] < 1.5


def test_simulated_targets_are_the_first_draws_of_each_subject():
    p = PRESETS["default"]
    data = simulate(2, 5, seed=9)
    for s in range(2):
        y, latent, hand = sample_behaviour(np.random.default_rng([9, s]), 5, p)
        rows = slice(5 * s, 5 * s + 5)
        np.testing.assert_allclose(data.y[rows], y, rtol=1e-6)
        np.testing.assert_array_equal(data.meta["latent"][rows], latent)
        np.testing.assert_array_equal(data.meta["hand"][rows], hand)


def test_response_times_follow_the_documented_distribution():
    """Mean and std of the clipped normal (computed by quadrature) within sampling error."""
    p = PRESETS["default"]
    prior = p.rt_prior()
    n_subjects, n_trials = 400, 10
    draws = [sample_behaviour(np.random.default_rng([1, s]), n_trials, p) for s in range(n_subjects)]
    y, latent, hand = (np.concatenate(parts) for parts in zip(*draws))
    assert y.min() >= p.rt_min and y.max() <= p.rt_max
    assert 0.45 < hand.mean() < 0.55

    normal = stats.norm(prior.mean, prior.sd)
    mass_low, mass_high = normal.cdf(p.rt_min), normal.sf(p.rt_max)

    def moment(k: int) -> float:
        inner = integrate.quad(lambda r: r**k * normal.pdf(r), p.rt_min, p.rt_max)[0]
        return inner + mass_low * p.rt_min**k + mass_high * p.rt_max**k

    mean, sd = moment(1), np.sqrt(moment(2) - moment(1) ** 2)
    assert 1.5 < mean < 1.65 and 0.35 < sd < 0.42  # the documented design: about 1.6 s and 0.4 s
    # the standard error of the mean is dominated by the subject means
    se_mean = np.hypot(p.rt_subject_sd / np.sqrt(n_subjects), p.rt_trial_sd / np.sqrt(y.size))
    assert abs(y.mean() - mean) < 4 * se_mean
    assert abs(y.std() - sd) < 0.03
    assert abs(np.mean(y == p.rt_max) - mass_high) < 0.01
    # latent = RT + jitter with jitter ~ N(0, jitter_sd²), independent of the RT
    jitter = latent - y
    assert abs(jitter.std() - p.jitter_sd) < 0.01 and abs(jitter.mean()) < 0.01
    assert abs(np.corrcoef(jitter, y)[0, 1]) < 0.05


def test_cpp_peaks_at_the_latent_event_and_lrp_is_contralateral():
    """Without background, Pz peaks at the latent event; the motor negativity is on the side
    opposite the responding hand (hand 0 = left -> C4 = E104, hand 1 = right -> C3 = E36)."""
    p = dataclasses.replace(PRESETS["default"], **QUIET)
    data = simulate(4, 10, seed=2, params=p)
    t = 0.5 + np.arange(N_TIMES) / 100
    pz, c3, c4 = (CHANNEL_NAMES.index(n) for n in ("E62", "E36", "E104"))
    latent = data.meta["latent"]
    inside = (latent > 0.6) & (latent < 2.4)
    assert inside.sum() >= 10
    peak_times = t[np.argmax(data.X[:, pz], axis=1)]
    np.testing.assert_allclose(peak_times[inside], latent[inside], atol=0.011)
    hand = data.meta["hand"]
    lrp_time = np.clip(np.round((latent - p.lrp_lead - 0.5) * 100).astype(int), 0, N_TIMES - 1)
    rows = np.arange(len(data))
    right_minus_left = data.X[rows, c4, lrp_time] - data.X[rows, c3, lrp_time]
    assert np.all(right_minus_left[inside & (hand == 0)] < 0)
    assert np.all(right_minus_left[inside & (hand == 1)] > 0)


def test_background_is_spatially_correlated_and_decays_with_distance():
    p = dataclasses.replace(PRESETS["default"], cpp_amp=0.0, lrp_amp=0.0, alpha_amp=0.0, blink_prob=0.0)
    data = simulate(2, 6, seed=4, params=p)
    x = data.X[:, :-1].transpose(1, 0, 2).reshape(128, -1).astype(np.float64)
    corr = np.corrcoef(x)
    pos = electrode_positions()[:-1]
    dist = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    near = corr[(dist > 0) & (dist < 0.03)].mean()
    far = corr[dist > 0.12].mean()
    assert near > 0.5 and near > far + 0.3


def test_blinks_are_large_and_frontal():
    p = dataclasses.replace(PRESETS["default"], **{**QUIET, "blink_prob": 1.0, "cpp_amp": 0.0, "lrp_amp": 0.0})
    data = simulate(1, 6, seed=5, params=p)
    eye, occipital = CHANNEL_NAMES.index("E127"), CHANNEL_NAMES.index("E75")
    assert np.all(np.abs(data.X[:, eye]).max(axis=1) > 50.0)
    assert np.abs(data.X[:, occipital]).max() < 5.0


def test_positions_match_mne_montage():
    mne = pytest.importorskip("mne")
    montage = mne.channels.make_standard_montage("GSN-HydroCel-129")
    ch_pos = montage.get_positions()["ch_pos"]
    assert list(ch_pos) == list(CHANNEL_NAMES)
    np.testing.assert_allclose(electrode_positions(), np.array(list(ch_pos.values())), atol=1e-5)


def test_presets_differ_in_difficulty_and_unknown_preset_is_rejected():
    assert PRESETS["realistic"].jitter_sd > PRESETS["default"].jitter_sd
    assert isinstance(PRESETS["default"], SimParams)
    with pytest.raises(ValueError, match="unknown simulator preset"):
        simulate(1, 1, 0, params="hard")
    with pytest.raises(ValueError):
        simulate(0, 1, 0)


def test_realistic_preset_has_a_higher_oracle_floor():
    floors = {}
    for name in ("default", "realistic"):
        prior = PRESETS[name].rt_prior()
        draws = [sample_behaviour(np.random.default_rng([0, s]), 20, PRESETS[name]) for s in range(200)]
        y, latent, _ = (np.concatenate(parts) for parts in zip(*draws))
        floors[name] = nrmse(y, posterior_mean_rt(latent, prior))
    assert 0.4 < floors["default"] < 0.6  # the design targets: about 0.5 and about 0.85
    assert 0.78 < floors["realistic"] < 0.92


def test_load_eeg_dataset_uses_the_config_and_reports_progress():
    messages: list[str] = []
    cfg = EEGDataConfig(n_subjects=2, trials_per_subject=3, seed=4, preset="realistic")
    data = load_eeg_dataset(cfg, progress=messages.append)
    assert len(data) == 6 and data.info["preset"] == "realistic" and data.info["seed"] == 4
    np.testing.assert_array_equal(data.X, simulate(2, 3, 4, "realistic").X)
    assert messages and any("subject" in m for m in messages)
