"""Measure each simulator preset: oracle floor and ridge-on-band-power NRMSE on subject splits.

    python -m attn.datasets.eeg.calibrate                    # both presets, default sizes
    python -m attn.datasets.eeg.calibrate --preset realistic --set jitter_sd=0.6 cpp_amp=2

Two estimates per preset: the test split of ``subject_split(val=0.15, test=0.15)`` (ridge fitted
on train+val, as a trainer would after model selection) and ``--folds``-fold subject
cross-validation pooled over all windows (every window predicted once, by a ridge that never
saw its subject), which is less noisy. Timings printed are informative only.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

from attn.datasets.eeg.features import band_power_features, fit_ridge
from attn.datasets.eeg.oracle import oracle_floor
from attn.datasets.eeg.splits import subject_kfold, subject_split
from attn.datasets.eeg.synthetic import PRESETS, simulate
from attn.metrics import nrmse


def _parse_overrides(items: list[str]) -> dict[str, float]:
    fields = {f.name for f in dataclasses.fields(PRESETS["default"])}
    out = {}
    for item in items:
        key, _, value = item.partition("=")
        if key not in fields:
            raise SystemExit(f"unknown simulator parameter {key!r} (known: {', '.join(sorted(fields))})")
        out[key] = float(value)
    return out


def calibrate(preset: str, overrides: dict[str, float], n_subjects: int, trials: int, seed: int, folds: int) -> dict:
    params = dataclasses.replace(PRESETS[preset], **overrides)
    start = time.perf_counter()
    data = simulate(n_subjects, trials, seed, params)
    generate_s = time.perf_counter() - start
    feats = band_power_features(data.X)
    split = subject_split(data.subjects, 0.15, 0.15, seed)
    fit_idx = np.concatenate([split["train"], split["val"]])
    model = fit_ridge(feats[fit_idx], data.y[fit_idx], groups=data.subjects[fit_idx])
    test = split["test"]
    oof = np.empty(len(data))
    fold_nrmse = []
    for train, held in subject_kfold(data.subjects, folds, seed):
        oof[held] = fit_ridge(feats[train], data.y[train], groups=data.subjects[train]).predict(feats[held])
        fold_nrmse.append(nrmse(data.y[held], oof[held]))
    return {
        "preset": preset + (f" {overrides}" if overrides else ""),
        "windows": len(data),
        "rt_mean": float(data.y.mean()),
        "rt_std": float(data.y.std()),
        "floor_all": data.info["oracle_floor"],
        "floor_test": oracle_floor(data, test),
        "ridge_test": nrmse(data.y[test], model.predict(feats[test])),
        "ridge_alpha": model.alpha,
        "ridge_cv": nrmse(data.y, oof),
        "ridge_cv_folds": (float(np.mean(fold_nrmse)), float(np.std(fold_nrmse, ddof=1)) if folds > 1 else 0.0),
        "generate_s": generate_s,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", nargs="*", default=list(PRESETS), choices=list(PRESETS))
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="override parameters")
    parser.add_argument("--n-subjects", type=int, default=40)
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--seeds", type=int, nargs="*", default=[0])
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args(argv)
    overrides = _parse_overrides(args.set)
    print(
        f"{'preset':<22}{'seed':>5}{'windows':>8}{'rt mean':>8}{'rt std':>7}{'floor':>7}"
        f"{'floor test':>11}{'ridge test':>11}{'ridge cv':>9}{'cv folds mean ± sd':>19}{'alpha':>9}{'gen s':>7}"
    )
    for preset in args.preset:
        for seed in args.seeds:
            r = calibrate(preset, overrides, args.n_subjects, args.trials, seed, args.folds)
            print(
                f"{r['preset']:<22}{seed:>5}{r['windows']:>8}{r['rt_mean']:>8.3f}{r['rt_std']:>7.3f}"
                f"{r['floor_all']:>7.3f}{r['floor_test']:>11.3f}{r['ridge_test']:>11.3f}"
                f"{r['ridge_cv']:>9.3f}{'{:.3f} ± {:.3f}'.format(*r['ridge_cv_folds']):>19}{r['ridge_alpha']:>9.3g}{r['generate_s']:>7.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
