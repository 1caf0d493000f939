"""Feature scores of FeatureAttentionController on constructed inputs, against hand values and loops."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from attn.tasks.eeg.controller import FeatureAttentionController

RNG = np.random.default_rng(1234)


@pytest.fixture
def ctl() -> FeatureAttentionController:
    return FeatureAttentionController()


# ----------------------------------------------------------------- explicit-loop references


def lines(x: np.ndarray) -> list[list[float]]:
    """Every 1-D line the scores look along: image rows and columns per channel, EEG time series."""
    out = []
    if x.ndim == 4:
        n, h, w, c = x.shape
        for i in range(n):
            for ch in range(c):
                out += [[x[i, r, col, ch] for col in range(w)] for r in range(h)]
                out += [[x[i, r, col, ch] for r in range(h)] for col in range(w)]
    else:
        n, c, t = x.shape
        for i in range(n):
            out += [[x[i, ch, k] for k in range(t)] for ch in range(c)]
    return out


def texture_ref(x: np.ndarray) -> float:
    num = den = 0.0
    for line in lines(x):
        mean = sum(line) / len(line)
        num += sum((b - a) ** 2 for a, b in zip(line, line[1:]))
        den += sum((v - mean) ** 2 for v in line)
    return 0.0 if den == 0 else min(1.0, num / (2 * den))


def structure_ref(x: np.ndarray) -> float:
    rng = tv = 0.0
    for line in lines(x):
        rng += max(line) - min(line)
        tv += sum(abs(b - a) for a, b in zip(line, line[1:]))
    return 0.0 if tv == 0 else rng / tv


def color_ref(x: np.ndarray) -> float:
    # move channels to the last axis, flatten the rest: rows are (patch, position) samples
    samples = x.reshape(-1, x.shape[-1]) if x.ndim == 4 else np.moveaxis(x, 1, -1).reshape(-1, x.shape[1])
    n_samples, n_channels = samples.shape
    means = [sum(samples[s][c] for s in range(n_samples)) / n_samples for c in range(n_channels)]
    num = den = 0.0
    for s in range(n_samples):
        centred = [samples[s][c] - means[c] for c in range(n_channels)]
        common = sum(centred) / n_channels
        num += sum((v - common) ** 2 for v in centred)
        den += sum(v * v for v in centred)
    return num / den


@pytest.mark.parametrize("shape", [(3, 5, 4, 3), (3, 4, 9)], ids=["image", "eeg"])
def test_scores_match_explicit_loops(ctl, shape):
    x = RNG.normal(size=shape).cumsum(axis=-2 if len(shape) == 4 else -1)  # some smoothness
    centers = RNG.uniform(0, 50, size=(shape[0], 2) if len(shape) == 4 else shape[0])
    got = ctl.compute_patch_features(x, centers)
    assert got.shape == (4,)
    assert got[0] == pytest.approx(texture_ref(x), rel=1e-12)
    assert got[1] == pytest.approx(structure_ref(x), rel=1e-12)
    assert got[2] == pytest.approx(color_ref(x), rel=1e-12)


# ----------------------------------------------------------------- constructed inputs


@pytest.mark.parametrize("layout", ["image", "eeg"])
def test_constant_patches_score_zero(ctl, layout):
    x = np.full((4, 8, 8, 3), 0.3) if layout == "image" else np.full((4, 6, 50), -7.1)
    centers = np.zeros((4, 2)) if layout == "image" else np.full(4, 12.0)
    assert ctl.compute_patch_features(x, centers).tolist() == [0.0, 0.0, 0.0, 0.0]


def test_white_noise_is_textured_and_unstructured(ctl):
    img = ctl.compute_patch_features(RNG.normal(size=(16, 16, 16, 3)), np.zeros((16, 2)))
    eeg = ctl.compute_patch_features(RNG.normal(size=(16, 8, 200)), np.zeros(16))
    # E[(x[i+1]-x[i])^2] = 2 var for white noise, so the ratio is ~1 (clipped at 1)
    assert img[0] > 0.95 and eeg[0] > 0.95
    # noise gradients keep changing sign: range is a small part of the total variation
    assert img[1] < 0.35 and eeg[1] < 0.1


def test_step_edge_is_structured(ctl):
    a = 2.5
    img = np.zeros((3, 16, 16, 3))
    img[:, :, 8:, :] = a  # vertical edge: every row steps once, columns are constant
    scores = ctl.compute_patch_features(img, np.zeros((3, 2)))
    # per row: sum diff^2 = a^2, sum (x - mean)^2 = 16 (a/2)^2 = 4 a^2; columns add nothing
    assert scores[0] == pytest.approx(a**2 / (2 * 16 * (a / 2) ** 2))  # = 1/8
    assert scores[1] == pytest.approx(1.0)  # each row's range equals its total variation
    assert scores[2] == 0.0  # grey: identical channels

    eeg = np.zeros((2, 5, 200))
    eeg[..., 100:] = a
    scores = ctl.compute_patch_features(eeg, np.array([0.0, 10.0]))
    assert scores[0] == pytest.approx(a**2 / (2 * 200 * (a / 2) ** 2))  # = 1/100
    assert scores[1] == pytest.approx(1.0)


@pytest.mark.parametrize("periods", [1, 2, 5])
def test_structure_of_triangle_wave_is_one_over_twice_the_periods(ctl, periods):
    one_period = [0, 1, 2, 3, 2, 1]
    wave = np.array(one_period * periods + [0], dtype=float)  # range 3, total variation 6 * periods
    x = np.broadcast_to(wave, (2, 3, wave.size)).copy()
    assert ctl.compute_patch_features(x, np.zeros(2))[1] == pytest.approx(3 / (6 * periods))


def test_color_identical_independent_and_opposite_channels(ctl):
    base = RNG.normal(size=(6, 1, 100))
    same = np.repeat(base, 4, axis=1)
    assert ctl.compute_patch_features(same, np.zeros(6))[2] == pytest.approx(0.0, abs=1e-12)
    # identical channels with different offsets are still one signal (offsets are centred away)
    assert ctl.compute_patch_features(same + np.arange(4)[None, :, None], np.zeros(6))[2] == pytest.approx(
        0.0, abs=1e-12
    )
    independent = RNG.normal(size=(64, 16, 16, 4))
    assert ctl.compute_patch_features(independent, np.zeros((64, 2)))[2] == pytest.approx(3 / 4, abs=0.01)
    opposite = np.concatenate([base, -base], axis=1)
    assert ctl.compute_patch_features(opposite, np.zeros(6))[2] == pytest.approx(1.0)
    grey = np.repeat(RNG.normal(size=(3, 8, 8, 1)), 3, axis=3)
    assert ctl.compute_patch_features(grey, np.zeros((3, 2)))[2] == pytest.approx(0.0, abs=1e-12)


def test_spatial_spread_versus_clustered(ctl):
    x = RNG.normal(size=(8, 4, 4, 3))
    clustered = np.full((8, 2), 40.0)
    two_corners = np.array([[0, 0], [100, 100]] * 4, dtype=float)
    assert ctl.compute_patch_features(x, clustered, extent=(100, 100))[3] == 0.0
    # half at each end: std = 50 on each axis -> 2 * 50 / 100
    assert ctl.compute_patch_features(x, two_corners, extent=(100, 100))[3] == pytest.approx(1.0)
    uniform = RNG.uniform(0, 100, size=(4000, 2))
    x_many = RNG.normal(size=(4000, 2, 2, 1))
    # uniform over [0, L]: std = L / sqrt(12) -> 2 / sqrt(12)
    assert ctl.compute_patch_features(x_many, uniform, extent=100.0)[3] == pytest.approx(2 / math.sqrt(12), abs=0.02)
    near = 40 + RNG.uniform(-1, 1, size=(8, 2))
    far = RNG.uniform(0, 100, size=(8, 2))
    assert ctl.compute_patch_features(x, near)[3] < ctl.compute_patch_features(x, far)[3]


def test_spatial_for_eeg_time_positions(ctl):
    x = RNG.normal(size=(4, 3, 10))
    centers = np.array([0.0, 0.0, 10.0, 10.0])
    # default extent: span of the centers (10) + patch length (10); std = 5
    expected = 2 * 5 / (10 + 10)
    assert ctl.compute_patch_features(x, centers)[3] == pytest.approx(expected)
    assert ctl.compute_patch_features(x, centers[:, None])[3] == pytest.approx(expected)
    assert ctl.compute_patch_features(x, centers, extent=40)[3] == pytest.approx(2 * 5 / 40)


@pytest.mark.parametrize("shape", [(5, 6, 7, 3), (5, 4, 30)], ids=["image", "eeg"])
def test_scores_are_bounded_and_scale_invariant(ctl, shape):
    centers = RNG.uniform(0, 20, size=(5, 2) if len(shape) == 4 else 5)
    alternating = np.where(np.indices(shape).sum(axis=0) % 2 == 0, 1.0, -1.0)  # rougher than noise
    for x in (RNG.normal(size=shape), RNG.normal(size=shape).cumsum(axis=-2), alternating):
        scores = ctl.compute_patch_features(x, centers)
        assert np.all((scores >= 0) & (scores <= 1))
        scaled = ctl.compute_patch_features(3.7 * x - 12.0, centers)
        np.testing.assert_allclose(scaled, scores, rtol=1e-9, atol=1e-12)


def test_torch_tensors_are_accepted(ctl):
    x = torch.randn(3, 4, 20, requires_grad=True)
    np.testing.assert_allclose(
        ctl.compute_patch_features(x, torch.arange(3.0)),
        ctl.compute_patch_features(x.detach().numpy(), np.arange(3.0)),
    )


@pytest.mark.parametrize(
    "patches, centers, extent",
    [
        (np.zeros((4, 10)), np.zeros(4), None),  # rank 2
        (np.zeros((2, 3, 4, 5, 6)), np.zeros(2), None),  # rank 5
        (np.zeros((0, 3, 10)), np.zeros(0), None),  # empty
        (np.full((2, 3, 10), np.nan), np.zeros(2), None),  # NaN patches
        (np.zeros((2, 3, 10)), np.array([0.0, np.inf]), None),  # inf centers
        (np.zeros((2, 4, 4, 3)), np.zeros(2), None),  # image needs (N, 2)
        (np.zeros((2, 3, 10)), np.zeros((2, 2)), None),  # EEG needs (N,) or (N, 1)
        (np.zeros((3, 3, 10)), np.zeros(2), None),  # wrong N
        (np.zeros((2, 3, 10)), np.array([0.0, 50.0]), 20.0),  # extent smaller than the spread
        (np.zeros((2, 3, 10)), np.zeros(2), 0.0),  # non-positive extent
        ("abc", np.zeros(2), None),
    ],
)
def test_bad_inputs_raise_value_error(ctl, patches, centers, extent):
    with pytest.raises(ValueError):
        ctl.compute_patch_features(patches, centers, extent=extent)
