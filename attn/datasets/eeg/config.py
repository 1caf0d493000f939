"""The ``data`` section of EEG recipes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

from attn.errors import RecipeError
from attn.schema import option


@dataclass
class EEGDataConfig:
    """Where the EEG windows come from and how they are split (by subject)."""

    source: Literal["synthetic", "hbn"] = option(
        "synthetic", help="synthetic: the simulated CCD task; hbn: a local BIDS copy of HBN releases"
    )
    preset: Literal["default", "realistic"] = option(
        "default",
        help="simulator difficulty: default (oracle floor near 0.5) or realistic (floor near 0.85)",
    )
    n_subjects: int = option(40, help="simulated subjects", min=1, max=10000)
    trials_per_subject: int = option(60, help="simulated trials (windows) per subject", min=1, max=10000)
    seed: int = option(0, help="simulator seed: the same seed gives the same data", min=0)
    root: Optional[str] = option(
        None, help="hbn: folder of a BIDS dataset (or of several releases), relative to the recipe file", path=True
    )
    releases: list[str] = option([], help="hbn: subfolders of root to read, e.g. [R1, R2]; empty reads root itself")
    subjects: Optional[int] = option(
        None, help="hbn: read at most this many subjects (the first by id, after exclusions), for quick tries", min=1
    )
    trial_rules: Literal["challenge", "all"] = option(
        "challenge",
        help="hbn: challenge = the EEG 2025 start kit's trials (each recording's last trial, which has no next "
        "trial start, is dropped; its 9 excluded subjects are left out); all = every trial (the last one ends at "
        "end_experiment or the end of the recording) and every subject (docs/eeg-data.md)",
    )
    exclude_subjects: list[str] = option(
        [], help="hbn: subject ids to leave out (sub-NDAR... or NDAR...), in addition to those of the trial rules"
    )
    normalize: Literal["none", "window", "robust", "whiten"] = option(
        "none",
        help="window scaling: none; window = per-window per-channel z-score; robust = per-channel median and "
        "MAD fitted on the training windows only, applied to every split; whiten = the channels mapped through "
        "the inverse square root of the training windows' channel covariance (docs/eeg-data.md)",
    )
    val_fraction: float = option(
        0.15, help="fraction of subjects held out for validation", min=0.0, max=1.0, max_exclusive=True
    )
    test_fraction: float = option(
        0.15, help="fraction of subjects held out for the test split", min=0.0, max=1.0, max_exclusive=True
    )
    split_seed: int = option(0, help="seed of the subject shuffle that makes the splits", min=0)
    cache: bool = option(True, help="keep generated/extracted windows on disk ($ATTN_CACHE or ~/.cache/attn)")

    def validate(self, section: str) -> None:
        if self.source == "hbn" and not self.root:
            raise RecipeError(
                f"recipe key '{section}.root' is required when {section}.source is 'hbn' "
                f"(the folder of a local BIDS copy of the HBN EEG releases)"
            )
        if self.source == "synthetic" and (self.root or self.releases or self.subjects or self.exclude_subjects):
            raise RecipeError(
                f"recipe keys '{section}.root', '{section}.releases', '{section}.subjects' and "
                f"'{section}.exclude_subjects' only apply when {section}.source is 'hbn'"
            )
        for i, subject in enumerate(self.exclude_subjects):
            label = subject.removeprefix("sub-")
            if not label.isalnum():
                raise RecipeError(
                    f"recipe key '{section}.exclude_subjects[{i}]' must be a subject id like sub-NDARAB123CDE "
                    f"or NDARAB123CDE (got {subject!r})"
                )
        if self.val_fraction + self.test_fraction >= 1.0:
            raise RecipeError(
                f"recipe keys '{section}.val_fraction' + '{section}.test_fraction' must be < 1 "
                f"(got {self.val_fraction:g} + {self.test_fraction:g}); some subjects must train"
            )
