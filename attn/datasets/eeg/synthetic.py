"""A simulated contrast-change-detection (CCD) task: EEG windows whose timing reveals the RT.

The generative model is written up in docs/eeg-data.md. In short, per subject: a mean response
time, an EEG gain, a background level, an alpha frequency; per trial: a response time, a latent
event ``L = RT + jitter`` and a responding hand. The window (+0.5..+2.5 s after the stimulus,
129 channels, 100 Hz, microvolts) is the sum of spatially correlated 1/f background, posterior
alpha bursts, occasional frontal blinks, sensor noise, a centro-parietal positivity (CPP) that
ramps up to a peak at ``L`` and a lateralised motor potential (LRP) peaking just before ``L``
over the motor cortex opposite the responding hand; everything is then re-referenced to Cz
(channel 129, which becomes flat). The jitter is invisible in the EEG, so ``E[RT | L]`` is the
best possible predictor: its NRMSE is the dataset's oracle floor (:mod:`.oracle`).

Everything is drawn from ``numpy.random.default_rng([seed, subject])``, so a subject's data do
not depend on how many other subjects are generated or in which chunks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np

from attn.datasets.eeg.dataset import N_TIMES, SFREQ, WINDOW_START_S, EEGDataset
from attn.datasets.eeg.montage import CHANNEL_NAMES, REFERENCE_INDEX, electrode_positions
from attn.datasets.eeg.oracle import RTPrior, oracle_floor

PAD_S = 1.0
"""Seconds generated on each side of the window for the filtered noise (then cropped)."""
GENERATOR_VERSION = 2
"""Part of the cache key: bump whenever the same parameters would generate different data."""
HIGHPASS_HZ = 0.5
"""The background has no power below this frequency (HBN data are band-passed 0.5-50 Hz)."""


@dataclass(frozen=True)
class SimParams:
    """Every parameter of the generative model (times in s, amplitudes in µV, lengths in m)."""

    # response times: RT = clip(subject mean + trial deviation, rt_min, rt_max)
    rt_mean: float = 1.6
    rt_subject_sd: float = 0.25
    rt_trial_sd: float = 0.31
    rt_min: float = 0.3
    rt_max: float = 2.5
    # latent event = RT + N(0, jitter_sd²): what the EEG is time-locked to; sets the oracle floor
    jitter_sd: float = 0.23
    # centro-parietal positivity: rises linearly from cpp_onset to its peak at L, then decays
    cpp_amp: float = 30.0
    cpp_onset: float = 0.2
    cpp_min_rise: float = 0.15
    cpp_decay: float = 0.25
    cpp_width: float = 0.035
    # lateralised motor potential: a negativity at C3/C4 centred lrp_lead s before L
    lrp_amp: float = 15.0
    lrp_lead: float = 0.05
    lrp_sd: float = 0.12
    lrp_width: float = 0.035
    amp_trial_sd: float = 0.3  # log-normal trial-to-trial amplitude of CPP and LRP
    amp_subject_sd: float = 0.3  # log-normal subject amplitude of CPP and LRP
    # background: 1/f^exponent sources mixed by a Gaussian kernel over electrode distance
    bg_amp: float = 10.0
    bg_exponent: float = 1.2
    bg_exponent_sd: float = 0.15
    bg_length: float = 0.04
    sensor_noise: float = 2.0
    # posterior alpha: two occipital sources, bursty envelopes
    alpha_amp: float = 6.0
    alpha_subject_sd: float = 0.5
    alpha_burst_s: float = 0.15
    alpha_width: float = 0.04
    # blinks: raised-cosine pulses at the eyes, 200-400 ms
    blink_prob: float = 0.3
    blink_amp: float = 150.0
    blink_width: float = 0.035
    # subjects: log-normal overall gain and background level
    gain_sd: float = 0.25
    noise_sd: float = 0.3

    def rt_prior(self) -> RTPrior:
        """The population RT distribution and jitter that the oracle needs."""
        sd = float(np.hypot(self.rt_subject_sd, self.rt_trial_sd))
        return RTPrior(self.rt_mean, sd, self.rt_min, self.rt_max, self.jitter_sd)


PRESETS: dict[str, SimParams] = {
    "default": SimParams(),
    "realistic": SimParams(jitter_sd=0.62, cpp_amp=18.0, lrp_amp=9.0),
}


def preset_params(preset: str) -> SimParams:
    if preset not in PRESETS:
        raise ValueError(f"unknown simulator preset {preset!r} (known: {', '.join(PRESETS)})")
    return PRESETS[preset]


@dataclass(frozen=True)
class _Geometry:
    """Spatial patterns over the 129 electrodes (unit peak), built once."""

    mixing: np.ndarray  # (129, K) background mixing, unit variance per channel
    cpp: np.ndarray  # (129,)
    lrp: np.ndarray  # (2, 129): [left hand -> right motor cortex, right hand -> left]
    alpha: np.ndarray  # (129, 2): left and right occipital
    blink: np.ndarray  # (129,)


def _bump(pos: np.ndarray, centre: np.ndarray, width: float) -> np.ndarray:
    return np.exp(-np.sum((pos - centre) ** 2, axis=-1) / (2 * width**2))


@lru_cache(maxsize=8)
def _geometry(p: SimParams) -> _Geometry:
    pos = electrode_positions()
    by = dict(zip(CHANNEL_NAMES, pos))
    dist2 = np.sum((pos[:, None] - pos[None]) ** 2, axis=-1)
    evals, evecs = np.linalg.eigh(np.exp(-dist2 / (2 * p.bg_length**2)))
    order = np.argsort(evals)[::-1]
    evals, evecs = np.clip(evals[order], 0, None), evecs[:, order]
    k = int(np.searchsorted(np.cumsum(evals) / evals.sum(), 0.99)) + 1
    mixing = evecs[:, :k] * np.sqrt(evals[:k])
    mixing /= np.linalg.norm(mixing, axis=1, keepdims=True)
    eyes = [np.array([-0.033, 0.09, -0.05]), np.array([0.033, 0.09, -0.05])]
    return _Geometry(
        mixing=mixing,
        cpp=_bump(pos, by["E62"], p.cpp_width),  # Pz
        lrp=np.stack([_bump(pos, by["E104"], p.lrp_width), _bump(pos, by["E36"], p.lrp_width)]),
        alpha=np.stack([_bump(pos, by["E70"], p.alpha_width), _bump(pos, by["E83"], p.alpha_width)], 1),
        blink=np.maximum(_bump(pos, eyes[0], p.blink_width), _bump(pos, eyes[1], p.blink_width)),
    )


def _pink_noise(rng: np.random.Generator, shape: tuple[int, ...], exponent: float) -> np.ndarray:
    """Unit-variance noise with power ~ 1/f^exponent above HIGHPASS_HZ along the last axis."""
    n = shape[-1]
    freqs = np.fft.rfftfreq(n, 1 / SFREQ)
    gain = np.zeros_like(freqs)
    passband = freqs >= HIGHPASS_HZ  # like HBN's 0.5 Hz high-pass: no drifts
    gain[passband] = freqs[passband] ** (-exponent / 2)
    weights = np.full(len(freqs), 2.0)
    weights[0] = 1.0
    if n % 2 == 0:
        weights[-1] = 1.0
    gain /= np.sqrt(np.sum(weights * gain**2) / n)  # variance of irfft(gain·rfft(white)) = 1
    return np.fft.irfft(np.fft.rfft(rng.standard_normal(shape)) * gain, n=n)


def sample_behaviour(rng: np.random.Generator, n: int, p: SimParams) -> tuple[np.ndarray, ...]:
    """One subject's trials: (response times y, latent event times, hand 0=left 1=right).

    The first draws of a subject's generator, so they can be checked without the EEG.
    """
    rt_centre = p.rt_mean + p.rt_subject_sd * rng.standard_normal()
    y = np.clip(rt_centre + p.rt_trial_sd * rng.standard_normal(n), p.rt_min, p.rt_max)
    latent = y + p.jitter_sd * rng.standard_normal(n)
    hand = rng.integers(0, 2, n)
    return y, latent, hand


def _simulate_subject(rng: np.random.Generator, n: int, p: SimParams, geo: _Geometry):
    """(X (n, 129, 200) float32, y (n,), latent (n,), hand (n,)) for one subject."""
    pad = int(round(PAD_S * SFREQ))
    n_ext = N_TIMES + 2 * pad
    t = WINDOW_START_S + np.arange(N_TIMES) / SFREQ  # window times after the stimulus
    t_ext = WINDOW_START_S - PAD_S + np.arange(n_ext) / SFREQ

    def lognormal(sd: float, size=None):
        return np.exp(sd * rng.standard_normal(size) - sd**2 / 2)

    y, latent, hand = sample_behaviour(rng, n, p)
    gain, noise_level = lognormal(p.gain_sd), lognormal(p.noise_sd)
    response_scale = lognormal(p.amp_subject_sd)
    exponent = p.bg_exponent + p.bg_exponent_sd * rng.standard_normal()
    alpha_freq = rng.uniform(8.5, 11.5)
    alpha_scale = p.alpha_amp * lognormal(p.alpha_subject_sd)

    # response-locked components, time-locked to the latent event
    L = latent[:, None]
    rise = np.maximum(L - p.cpp_onset, p.cpp_min_rise)
    ramp = np.clip((t - (L - rise)) / rise, 0.0, 1.0)
    cpp_course = np.where(t <= L, ramp, np.exp(-(t - L) / p.cpp_decay))
    cpp_course *= p.cpp_amp * response_scale * lognormal(p.amp_trial_sd, (n, 1))
    lrp_course = (
        -p.lrp_amp
        * response_scale
        * lognormal(p.amp_trial_sd, (n, 1))
        * np.exp(-0.5 * ((t - (L - p.lrp_lead)) / p.lrp_sd) ** 2)
    )
    X = cpp_course[:, None, :] * geo.cpp[None, :, None]
    X += lrp_course[:, None, :] * geo.lrp[hand][:, :, None]

    # background: spatially mixed 1/f sources
    sources = _pink_noise(rng, (n, geo.mixing.shape[1], n_ext), exponent)[..., pad:-pad]
    X += (p.bg_amp * noise_level) * np.einsum("ck,nkt->nct", geo.mixing, sources)

    # alpha bursts: squared smoothed noise (mean 1) times an oscillation, two occipital sources
    from scipy.ndimage import gaussian_filter1d  # here: recipes and text runs import this module without scipy

    sigma = p.alpha_burst_s * SFREQ
    smooth = gaussian_filter1d(rng.standard_normal((n, 2, n_ext)), sigma, axis=-1, mode="wrap")
    envelope = smooth**2 * (2 * np.sqrt(np.pi) * sigma)  # E[smooth²] = 1 / (2·√π·σ)
    phase = rng.uniform(0, 2 * np.pi, (n, 2, 1))
    alpha = alpha_scale * envelope * np.cos(2 * np.pi * alpha_freq * t_ext + phase)
    X += np.einsum("cs,nst->nct", geo.alpha, alpha[..., pad:-pad])
    X *= gain

    # blinks (not scaled by the subject's EEG gain) and sensor noise
    blinks = np.flatnonzero(rng.random(n) < p.blink_prob)
    onset = rng.uniform(WINDOW_START_S - 0.3, t[-1], len(blinks))[:, None]
    width = rng.uniform(0.2, 0.4, len(blinks))[:, None]
    amp = p.blink_amp * rng.uniform(0.7, 1.3, len(blinks))[:, None]
    phase_b = np.clip((t - onset) / width, 0.0, 1.0)
    X[blinks] += (amp * 0.5 * (1 - np.cos(2 * np.pi * phase_b)))[:, None, :] * geo.blink[None, :, None]
    X += p.sensor_noise * rng.standard_normal(X.shape)

    X -= X[:, REFERENCE_INDEX : REFERENCE_INDEX + 1, :]  # re-reference to Cz: channel 129 is flat
    return X.astype(np.float32), y, latent, hand


def simulate(
    n_subjects: int,
    trials_per_subject: int,
    seed: int,
    params: SimParams | str = "default",
    progress: Callable[[str], None] | None = None,
) -> EEGDataset:
    """Generate the simulated CCD dataset (deterministic from ``seed``), subject by subject."""
    if n_subjects < 1 or trials_per_subject < 1:
        raise ValueError("simulate needs at least one subject and one trial per subject")
    preset = params if isinstance(params, str) else "custom"
    p = preset_params(params) if isinstance(params, str) else params
    geo = _geometry(p)
    n = n_subjects * trials_per_subject
    X = np.empty((n, len(CHANNEL_NAMES), N_TIMES), dtype=np.float32)
    y = np.empty(n, dtype=np.float32)
    latent = np.empty(n, dtype=np.float64)
    hand = np.empty(n, dtype=np.int8)
    ids = [f"S{s:03d}" for s in range(n_subjects)]
    for s in range(n_subjects):
        if progress is not None and (s % 10 == 0 or s == n_subjects - 1):
            progress(f"simulating EEG: subject {s + 1}/{n_subjects}")
        rows = slice(s * trials_per_subject, (s + 1) * trials_per_subject)
        X[rows], y[rows], latent[rows], hand[rows] = _simulate_subject(
            np.random.default_rng([seed, s]), trials_per_subject, p, geo
        )
    dataset = EEGDataset(
        X=X,
        y=y,
        subjects=np.repeat(np.array(ids), trials_per_subject),
        info={
            "source": "synthetic",
            "preset": preset,
            "seed": seed,
            "n_subjects": n_subjects,
            "trials_per_subject": trials_per_subject,
            "n_windows": n,
            "sfreq": SFREQ,
            "window_s": [WINDOW_START_S, WINDOW_START_S + N_TIMES / SFREQ],
            "unit": "uV",
            "reference": "Cz (channel 129, flat)",
            "channels": list(CHANNEL_NAMES),
            "params": asdict(p),
            "rt_prior": p.rt_prior().to_dict(),
        },
        meta={"latent": latent, "hand": hand},
    )
    dataset.info["oracle_floor"] = oracle_floor(dataset)
    return dataset
