"""How well can a near-optimal *single-trial* estimator predict the RT on the simulated EEG task?

A Monte Carlo bound for the issue's goals (test NRMSE <= 0.62 on 80 x 30 ``default``, <= 0.58 on
640 x 30). The oracle floor (``E[y | L]`` with the true latent event time ``L``) is out of reach
for any model, since it only sees the noisy EEG; this script instead runs an estimator that knows
the generative model (attn/datasets/eeg/synthetic.py) but none of a trial's hidden variables:

1. Spatial reduction: the CPP pattern and both hands' LRP patterns (re-referenced to Cz, like the
   data; the flat Cz channel is dropped) are separated from the noise by a multi-pattern GLS
   filter ``F = (P' C⁻¹ P)⁻¹ P' C⁻¹`` (so ``F P = I``), with the spatial noise covariance ``C``
   estimated from noise-only simulations (same parameters with ``cpp_amp = lrp_amp = 0`` and
   another seed: a bound for an estimator that knows the model may learn its noise).
2. The three filtered time courses (3 x 200) get a joint temporal noise covariance, estimated on
   the same noise-only trials, regularised by averaging along diagonals (the noise is
   stationary: block-Toeplitz) and a small ridge.
3. For every candidate ``L`` on a fine grid (-1.5..5 s, 10 ms) the unit CPP template (linear rise
   from ``L - rise`` to ``L``, exponential decay) and LRP template (Gaussian at ``L - lrp_lead``)
   are fitted with their amplitudes marginalised under a Gaussian moment-matched to the
   simulator's log-normal amplitude prior (shared subject gain and response scale: the CPP and
   LRP amplitudes are correlated); the responding hand is a 50/50 mixture. The noise scale of a
   trial (subject gain x background level vary by ~40%) is a plug-in estimate: the whitened
   power left after the best template fit. This gives ``log p(X | L)`` up to a constant.
4. Posterior over ``L`` with the exact population prior of ``L = clip(R) + jitter`` (the
   subject's own RT mean is unknown to a single-trial estimator), and the prediction
   ``E[y | X] = Σ_L p(L | X) E[y | L]`` (``posterior_mean_rt``), since ``y ⊥ X | L``.

``--filter-sets 2`` adds plain least-squares filters to the GLS ones (a joint 1200-dim temporal
covariance); it did not help on the default preset. Simplified variants (fixed noise scale, CPP only, profile instead of marginal amplitude) show
which ingredient matters. Folds and NRMSE are those of the CV benchmark (benchmarks/eeg.py with
``train.folds=5``): the same held-out subjects per fold (``data.split_seed``), NRMSE = RMSE /
population std of that fold's test targets, the mean predictor predicts the fold's training
mean, and "pooled" is the NRMSE over all held-out windows together.

What the number means: any estimator's NRMSE is an *upper* bound on the Bayes-optimal NRMSE
(up to Monte Carlo error). It proves a goal reachable only if it scores below the goal; if it
scores above, the goal may still be reachable by a better estimator, but the gap between this
estimator and the oracle floor tells how much room is left.

    python benchmarks/eeg_bayes_bound.py                                  # default, 80 x 30
    python benchmarks/eeg_bayes_bound.py --preset realistic
    python benchmarks/eeg_bayes_bound.py --subjects 640 --out results.md
    python benchmarks/eeg_bayes_bound.py --noise-scale 0.01               # sanity: -> oracle floor
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from scipy.special import logsumexp

from attn.datasets.eeg.dataset import N_TIMES, SFREQ, WINDOW_START_S
from attn.datasets.eeg.montage import REFERENCE_INDEX
from attn.datasets.eeg.oracle import oracle_predictions, posterior_mean_rt
from attn.datasets.eeg.splits import subject_fold_splits
from attn.datasets.eeg.synthetic import PRESETS, SimParams, _geometry, simulate
from attn.metrics import nrmse

ORACLE = "oracle floor: E[y \\| L] with the true L"
TIMES = WINDOW_START_S + np.arange(N_TIMES) / SFREQ
GRID = np.round(np.arange(-1.5, 5.0 + 1e-9, 0.01), 6)  # candidate latent event times (s)
N_COMP = 3  # filtered time courses: CPP, LRP of the left hand, LRP of the right hand
KEEP = np.array([c for c in range(129) if c != REFERENCE_INDEX])  # Cz is flat after re-referencing


# ---- data ---------------------------------------------------------------------------------------
CHUNK_WINDOWS = 1200  # windows per pass of the estimator (bounds its temporary arrays)


def noise_only(p: SimParams) -> SimParams:
    return replace(p, cpp_amp=0.0, lrp_amp=0.0)


def scaled_noise(p: SimParams, factor: float) -> SimParams:
    """``p`` with every noise source (background, alpha, blinks, sensor noise) scaled by ``factor``."""
    return replace(
        p,
        bg_amp=p.bg_amp * factor,
        alpha_amp=p.alpha_amp * factor,
        blink_amp=p.blink_amp * factor,
        sensor_noise=p.sensor_noise * factor,
    )


# ---- the noise model: spatial GLS filter and temporal covariance ---------------------------------
@dataclass
class NoiseModel:
    filters: np.ndarray  # (3m, 128): m sets of X -> CPP, LRP-left-hand, LRP-right-hand time courses
    precision: np.ndarray  # (3m·200, 3m·200): inverse covariance of the filtered noise (course-major)

    def blocks(self) -> np.ndarray:
        """(3, 3, 200, 200) precision summed over the filter sets: every set sees the same signal."""
        m = len(self.filters) // N_COMP
        Q = self.precision.reshape(m, N_COMP, N_TIMES, m, N_COMP, N_TIMES)
        return Q.sum(axis=(0, 3)).transpose(0, 2, 1, 3)


def patterns(p: SimParams) -> np.ndarray:
    """(128, 3) spatial patterns of CPP and the two hands' LRP, re-referenced to Cz."""
    geo = _geometry(p)
    P = np.stack([geo.cpp, geo.lrp[0], geo.lrp[1]], axis=1)
    return (P - P[REFERENCE_INDEX])[KEEP]


def toeplitz_average(block: np.ndarray) -> np.ndarray:
    """Average a (T, T) cross-covariance block along its diagonals (stationary noise)."""
    T = block.shape[0]
    lag = np.subtract.outer(np.arange(T), np.arange(T)) + T - 1
    means = np.bincount(lag.ravel(), weights=block.ravel()) / np.bincount(lag.ravel())
    return means[lag]


def gls_filter(P: np.ndarray, C: np.ndarray) -> np.ndarray:
    """(3, 128) ``(P' C⁻¹ P)⁻¹ P' C⁻¹``: unbiased for each pattern (``F P = I``), least noise under ``C``."""
    CiP = np.linalg.solve(C, P)
    return np.linalg.solve(P.T @ CiP, CiP.T)


def fit_noise_model(
    p: SimParams, n_subjects: int, trials: int, seed: int, n_sets: int = 2, ridge: float = 1e-3
) -> NoiseModel:
    """Spatial GLS filters and the temporal precision of their output, from noise-only trials."""
    X = simulate(n_subjects, trials, seed, noise_only(p)).X[:, KEEP].astype(np.float64)
    flat = X.transpose(0, 2, 1).reshape(-1, X.shape[1])
    C = flat.T @ flat / len(flat)
    C += 1e-6 * np.trace(C) / len(C) * np.eye(len(C))
    P = patterns(p)
    filters = np.concatenate([gls_filter(P, cov) for cov in (C, np.eye(len(C)))][:n_sets])
    Z = np.einsum("kc,nct->nkt", filters, X).reshape(len(X), -1)
    K = Z.T @ Z / len(Z)
    for i in range(len(filters)):
        for j in range(len(filters)):
            rows, cols = slice(i * N_TIMES, (i + 1) * N_TIMES), slice(j * N_TIMES, (j + 1) * N_TIMES)
            K[rows, cols] = toeplitz_average(K[rows, cols])
    K = (K + K.T) / 2 + ridge * np.mean(np.diag(K)) * np.eye(len(K))
    return NoiseModel(filters=filters, precision=np.linalg.inv(K))


# ---- templates, priors -------------------------------------------------------------------------
def templates(p: SimParams, grid: np.ndarray = GRID) -> tuple[np.ndarray, np.ndarray]:
    """Unit-amplitude CPP and LRP courses (G, 200) for each candidate latent time (LRP sign included)."""
    L = grid[:, None]
    rise = np.maximum(L - p.cpp_onset, p.cpp_min_rise)
    ramp = np.clip((TIMES - (L - rise)) / rise, 0.0, 1.0)
    cpp = np.where(TIMES <= L, ramp, np.exp(-(TIMES - L) / p.cpp_decay))
    lrp = -np.exp(-0.5 * ((TIMES - (L - p.lrp_lead)) / p.lrp_sd) ** 2)
    return cpp, lrp


def amplitude_prior(p: SimParams) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of (CPP, LRP) amplitudes: amp · gain · subject scale · trial scale (log-normals, mean 1)."""
    shared = np.exp(p.gain_sd**2 + p.amp_subject_sd**2)  # E[(gain · subject scale)²]
    second = np.exp(p.amp_trial_sd**2)  # E[trial scale²]
    mu = np.array([p.cpp_amp, p.lrp_amp])
    cov = np.outer(mu, mu) * (shared - 1)
    cov[np.diag_indices(2)] = mu**2 * (shared * second - 1)
    return mu, cov


def log_prior_latent(p: SimParams, grid: np.ndarray = GRID) -> np.ndarray:
    """log p(L) on the grid (normalised over it) for y = clip(R, low, high), R ~ N(mean, sd²), L = y + N(0, jitter²)."""
    from scipy.stats import norm

    prior = p.rt_prior()
    edges = np.linspace(prior.low, prior.high, 2201)
    ys = np.concatenate([[prior.low], (edges[1:] + edges[:-1]) / 2, [prior.high]])
    cdf = norm.cdf(edges, prior.mean, prior.sd)
    weights = np.concatenate([[cdf[0]], np.diff(cdf), [1 - cdf[-1]]])
    dens = norm.pdf(grid[:, None], ys[None], prior.jitter) @ weights
    logp = np.log(np.maximum(dens, 1e-300))
    return logp - logsumexp(logp)


# ---- the estimator -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Variant:
    name: str
    lrp: bool = True  # use both hands' LRP templates (50/50 mixture) besides the CPP
    marginal: bool = True  # marginalise the amplitudes under their prior (else profile, a >= 0)
    trial_scale: bool = True  # plug-in noise scale per trial (else the population noise level)


VARIANTS = [
    Variant("Bayes template: CPP + LRP, marginal amplitude, per-trial noise scale"),
    Variant("  same, population noise scale", trial_scale=False),
    Variant("  CPP only, marginal amplitude, per-trial noise scale", lrp=False),
    Variant(
        "  CPP only, profile amplitude (a >= 0), population noise scale", lrp=False, marginal=False, trial_scale=False
    ),
]


class BayesTemplate:
    """``E[y | X]`` for single trials under the simulator's model, for several variants at once."""

    def __init__(self, p: SimParams, noise: NoiseModel):
        self.noise = noise
        self.cpp, self.lrp = templates(p)
        self.mu, self.cov = amplitude_prior(p)
        self.log_prior = log_prior_latent(p)
        self.ey_given_l = posterior_mean_rt(GRID, p.rt_prior())
        blocks = noise.blocks()
        quad = lambda a, Q, b: np.einsum("gt,ts,gs->g", a, Q, b)  # noqa: E731
        # B[h] (G, 2, 2): template Gram matrices under the precision, for the hand h's LRP channel
        self.B = np.stack(
            [
                np.stack(
                    [
                        np.stack(
                            [quad(self.cpp, blocks[0][0], self.cpp), quad(self.cpp, blocks[0][1 + h], self.lrp)], -1
                        ),
                        np.stack(
                            [
                                quad(self.lrp, blocks[1 + h][0], self.cpp),
                                quad(self.lrp, blocks[1 + h][1 + h], self.lrp),
                            ],
                            -1,
                        ),
                    ],
                    -2,
                )
                for h in range(2)
            ]
        )

    def projections(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """b (2 hands, n, G, 2): templates · precision · z per trial, and z'·precision·z (n,)."""
        Z = np.einsum("kc,nct->nkt", self.noise.filters, X.astype(np.float64)).reshape(len(X), -1)
        w = Z @ self.noise.precision
        u = w.reshape(len(X), -1, N_COMP * N_TIMES).sum(axis=1)  # summed over filter sets: they share the signal
        b_cpp = u[:, :N_TIMES] @ self.cpp.T
        b = np.stack(
            [np.stack([b_cpp, u[:, (1 + h) * N_TIMES : (2 + h) * N_TIMES] @ self.lrp.T], -1) for h in range(2)]
        )
        return b, np.einsum("nt,nt->n", Z, w)

    def noise_scale(self, b: np.ndarray, q: np.ndarray) -> np.ndarray:
        """Plug-in variance factor per trial: whitened power left after the best CPP + LRP fit, per dof."""
        fit = np.einsum("hngi,hgij,hngj->hng", b, np.linalg.inv(self.B), b).max(axis=(0, 2))
        return np.maximum(q - fit, 1e-3 * q) / (self.noise.precision.shape[0] - 2)

    def log_likelihood(self, b: np.ndarray, s2: np.ndarray, v: Variant) -> np.ndarray:
        """log p(X | L) up to a constant, (n, G): hands mixed 50/50 when the LRP is used."""
        k = 2 if v.lrp else 1
        b = b[..., :k] / s2[None, :, None, None]  # (2, n, G, k)
        B = self.B[:, None, :, :k, :k] / s2[None, :, None, None, None]  # (2, n, G, k, k)
        if not v.marginal:  # profile likelihood, amplitudes >= 0 (only k = 1 here)
            ll = 0.5 * np.maximum(b[..., 0], 0) ** 2 / B[..., 0, 0]
        else:
            mu, cov = self.mu[:k], self.cov[:k, :k]
            c = b - np.einsum("hngij,j->hngi", B, mu)
            A = np.linalg.inv(cov) + B
            ll = (
                b @ mu
                - 0.5 * np.einsum("i,hngij,j->hng", mu, B, mu)
                + 0.5 * np.einsum("hngi,hngi->hng", c, np.linalg.solve(A, c[..., None])[..., 0])
                - 0.5 * np.linalg.slogdet(np.eye(k) + cov @ B)[1]
            )
        return logsumexp(ll, axis=0) if v.lrp else ll[0]

    def predict(self, X: np.ndarray, variants: list[Variant]) -> dict[str, np.ndarray]:
        b, q = self.projections(X)
        scale = self.noise_scale(b, q)
        out = {}
        for v in variants:
            s2 = scale if v.trial_scale else np.ones(len(X))
            log_post = self.log_likelihood(b, s2, v) + self.log_prior
            post = np.exp(log_post - logsumexp(log_post, axis=1, keepdims=True))
            out[v.name] = post @ self.ey_given_l
        return out


# ---- evaluation ----------------------------------------------------------------------------------
def fold_scores(
    y: np.ndarray, preds: dict[str, np.ndarray], folds: list[dict[str, np.ndarray]]
) -> list[tuple[str, list[float], float]]:
    """(name, per-fold test NRMSE, pooled NRMSE) for each predictor, plus the mean predictor."""
    rows = []
    for name, pred in preds.items():
        rows.append((name, [nrmse(y[f["test"]], pred[f["test"]]) for f in folds], nrmse(y, pred)))
    mean_pred = np.empty_like(y, dtype=np.float64)
    for f in folds:
        mean_pred[f["test"]] = y[f["train"]].astype(np.float64).mean()
    rows.append(
        (
            "mean predictor (fold's training mean)",
            [nrmse(y[f["test"]], mean_pred[f["test"]]) for f in folds],
            nrmse(y, mean_pred),
        )
    )
    return rows


def table(rows: list[tuple[str, list[float], float]]) -> str:
    lines = ["| estimator | test NRMSE (mean ± sd over 5 folds) | pooled |", "|---|---:|---:|"]
    for name, scores, pooled in rows:
        lines.append(f"| {name.strip()} | {np.mean(scores):.3f} ± {np.std(scores, ddof=1):.3f} | {pooled:.3f} |")
    return "\n".join(lines)


def run(args: argparse.Namespace, log: Callable[[str], None]) -> str:
    from attn.recipe import load_recipe

    data = load_recipe("eeg_latency").data  # data seed, val_fraction, split_seed of the CV benchmarks
    p = scaled_noise(PRESETS[args.preset], args.noise_scale)
    start = time.perf_counter()
    noise = fit_noise_model(p, args.noise_subjects, args.trials, seed=data.seed + 10_000, n_sets=args.filter_sets)
    log(
        f"noise model from {args.noise_subjects} x {args.trials} noise-only trials: {time.perf_counter() - start:.1f} s"
    )
    model = BayesTemplate(p, noise)
    dataset = simulate(args.subjects, args.trials, data.seed, p)  # the recipes' data, as the CV benchmarks see it
    preds: dict[str, list[np.ndarray]] = {ORACLE: [oracle_predictions(dataset)]} | {v.name: [] for v in VARIANTS}
    for first in range(0, len(dataset.y), CHUNK_WINDOWS):
        for name, pred in model.predict(dataset.X[first : first + CHUNK_WINDOWS, KEEP], VARIANTS).items():
            preds[name].append(pred)
        log(
            f"windows done: {min(first + CHUNK_WINDOWS, len(dataset.y))}/{len(dataset.y)} ({time.perf_counter() - start:.1f} s)"
        )
    y = dataset.y
    folds = subject_fold_splits(dataset.subjects, 5, data.val_fraction, data.split_seed)
    return table(fold_scores(y, {k: np.concatenate(v) for k, v in preds.items()}, folds))


def header(args: argparse.Namespace, command: str, wall: float) -> str:
    return "\n".join(
        [
            f"## Single-trial Bayes-template bound: preset {args.preset}, {args.subjects} x {args.trials}"
            + (f", noise x {args.noise_scale:g}" if args.noise_scale != 1 else ""),
            "",
            f"```bash\n{command}\n```",
            "",
            f"{datetime.date.today().isoformat()}, {platform.node() or 'cpu'} ({platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} cores, numpy {np.__version__}), {wall:.0f} s. Data: `simulate(..., seed=0)` as the recipes; "
            "folds: `subject_fold_splits(subjects, 5, 0.15, split_seed=0)` (the CV benchmark's test subjects); "
            "NRMSE per fold = RMSE / population std of that fold's test targets. Assumptions: the estimator knows "
            "the generative model (templates, amplitude prior, population RT prior, noise statistics from "
            f"{args.noise_subjects} x {args.trials} noise-only simulated trials of another seed), not a trial's hidden "
            "variables nor the subject's RT mean. Its NRMSE is an upper bound on the Bayes-optimal NRMSE.",
            "",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subjects", type=int, default=80)
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="default")
    parser.add_argument(
        "--noise-scale", type=float, default=1.0, help="scale every noise source (sanity check: 0.01 -> oracle floor)"
    )
    parser.add_argument(
        "--noise-subjects", type=int, default=160, help="subjects of noise-only trials for the noise model"
    )
    parser.add_argument(
        "--filter-sets", type=int, choices=(1, 2), default=1, help="1: GLS filters only; 2: also plain least squares"
    )
    parser.add_argument("--out", help="write the header and the table to this file")
    args = parser.parse_args(argv)
    command = "python benchmarks/eeg_bayes_bound.py " + " ".join(sys.argv[1:] if argv is None else argv)
    start = time.perf_counter()
    result = run(args, lambda msg: print(msg, file=sys.stderr, flush=True))
    text = header(args, command.strip(), time.perf_counter() - start) + result + "\n"
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            handle.write(text)


if __name__ == "__main__":
    main()
