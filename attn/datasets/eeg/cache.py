"""On-disk cache of EEG datasets: one uncompressed ``.npz`` per dataset, written atomically.

The file name carries a hash of everything that affects the data (the caller's key mapping plus
:data:`FORMAT_VERSION`), so a changed parameter simply misses. Inside the ``.npz``: ``X``, ``y``,
``subjects``, ``info`` (a JSON string) and one ``meta.<name>`` array per per-window side array.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from attn.datasets.eeg.dataset import EEGDataset
from attn.errors import UserError, describe_os_error
from attn.fileio import atomic_writer

FORMAT_VERSION = 1
"""Bump when the generated data or the file layout change, so old files stop matching."""


def cache_dir() -> Path:
    """``$ATTN_CACHE`` if set, else ``~/.cache/attn``."""
    env = os.environ.get("ATTN_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "attn"


def cache_key(params: dict[str, Any]) -> str:
    """A short stable hash of ``params`` (JSON-serialisable) and the format version."""
    text = json.dumps({"format": FORMAT_VERSION, **params}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def cache_path(prefix: str, params: dict[str, Any]) -> Path:
    return cache_dir() / f"eeg-{prefix}-{cache_key(params)}.npz"


def save_dataset(path: Path, dataset: EEGDataset) -> None:
    """Write ``dataset`` to ``path`` atomically (temporary file in the same folder, fsync, rename)."""
    arrays = {
        "X": dataset.X,
        "y": dataset.y,
        "subjects": np.asarray(dataset.subjects, dtype=str),
        "info": np.array(json.dumps(dataset.info)),
        **{f"meta.{k}": v for k, v in dataset.meta.items()},
    }
    with atomic_writer(path) as handle:
        np.savez(handle, **arrays)


def load_dataset(path: Path) -> EEGDataset | None:
    """The dataset cached at ``path``, or None when it is absent or unreadable (then rebuilt)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, mmap_mode=None, allow_pickle=False) as npz:
            meta = {k[len("meta.") :]: npz[k] for k in npz.files if k.startswith("meta.")}
            return EEGDataset(
                X=npz["X"],
                y=npz["y"],
                subjects=npz["subjects"],
                info=json.loads(str(npz["info"])),
                meta=meta,
            )
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None


def load_or_build(
    kind: str,
    params: dict[str, Any],
    build: Callable[[], EEGDataset],
    *,
    enabled: bool = True,
    progress: Callable[[str], None] | None = None,
    what: str = "EEG data",
) -> EEGDataset:
    """The cached dataset for ``(kind, params)``, or ``build()`` (then cached) when there is none.

    With ``enabled=False`` the cache is neither read nor written.
    """
    path = cache_path(kind, params) if enabled else None
    cached = load_dataset(path) if path is not None else None
    if cached is not None:
        if progress is not None:
            progress(f"{what} from cache {path}")
        return cached
    dataset = build()
    if path is not None:
        try:
            save_dataset(path, dataset)
        except (OSError, UserError) as err:  # the cache only saves time: a run never fails for it
            reason = describe_os_error(err) if isinstance(err, OSError) else str(err)
            if progress is not None:
                progress(
                    f"could not write the EEG cache ({reason}); continuing without it "
                    f"(set ATTN_CACHE to another folder, or data.cache=false)"
                )
    return dataset
