"""On-disk cache of EEG datasets: one uncompressed ``.npz`` per dataset, written atomically.

The file name carries a hash of everything that affects the data (the caller's key mapping plus
:data:`FORMAT_VERSION`), so a changed parameter simply misses. Inside the ``.npz``: ``X``, ``y``,
``subjects``, ``info`` (a JSON string) and one ``meta.<name>`` array per per-window side array.
A file is about 250 MB for the default simulated data (2,400 windows of 129 x 200 float32) and
its size is reported when written. :func:`cache_entries` lists the files (``attn cache list``)
and :func:`remove_entries` deletes them (``attn cache clear``).
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from attn.datasets.eeg.dataset import EEGDataset
from attn.errors import UserError, describe_os_error
from attn.fileio import atomic_writer
from attn.process import MIB, user_cache_dir

FORMAT_VERSION = 1
"""Bump when the generated data or the file layout change, so old files stop matching."""


def cache_dir() -> Path:
    """``$ATTN_CACHE`` if set, else ``~/.cache/attn`` (:func:`attn.process.user_cache_dir`)."""
    return user_cache_dir()


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
        else:
            if progress is not None:
                size = path.stat().st_size / MIB
                progress(f"cached {what} in {path} ({size:,.1f} MiB; attn cache list | clear manages the cache)")
    return dataset


PREFIX = "eeg-"


@dataclass
class CacheEntry:
    """One file of the cache: a dataset (``kind`` and ``key`` from its name) or an unfinished write."""

    path: Path
    key: str  # the hash in the file name; for an unfinished write, the file name
    kind: str  # synthetic, hbn, ... or "unfinished" (a temporary file left by a killed write)
    bytes: int

    def describe(self) -> str:
        """What the entry holds, from the ``info`` stored in it (read without loading the windows)."""
        if self.kind == "unfinished":
            return "an unfinished write (the process was killed while caching)"
        try:
            with np.load(self.path, allow_pickle=False) as npz:
                info = json.loads(str(npz["info"]))
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            return "unreadable (rebuilt when next needed)"
        return describe_info(info)


def describe_info(info: dict[str, Any]) -> str:
    """One line about a cached dataset from its ``info``."""
    windows = f"{info.get('n_windows', '?'):,} windows" if isinstance(info.get("n_windows"), int) else "windows"
    if info.get("source") == "synthetic":
        return (
            f"simulated EEG, preset {info.get('preset')}, {info.get('n_subjects')} subjects x "
            f"{info.get('trials_per_subject')} trials, seed {info.get('seed')} ({windows})"
        )
    if info.get("source") == "hbn":
        releases = ",".join(info.get("releases") or []) or "-"
        return (
            f"HBN windows from {info.get('root')} (releases {releases}; {info.get('n_recordings')} recordings, "
            f"{info.get('n_subjects')} subjects, {windows})"
        )
    return f"{info.get('source', 'EEG')} data ({windows})"


def cache_entries(folder: Path | None = None) -> list[CacheEntry]:
    """The dataset files (and unfinished writes) in the cache folder, largest first."""
    folder = folder or cache_dir()
    if not folder.is_dir():
        return []
    entries = []
    for path in folder.iterdir():
        if not path.is_file():
            continue
        name = path.name
        if name.startswith(PREFIX) and name.endswith(".npz"):
            kind, _, key = name[len(PREFIX) : -len(".npz")].rpartition("-")
            entries.append(CacheEntry(path, key, kind, path.stat().st_size))
        elif name.startswith(f".{PREFIX}") and name.endswith(".tmp"):
            entries.append(CacheEntry(path, name, "unfinished", path.stat().st_size))
    return sorted(entries, key=lambda e: (-e.bytes, e.key))


def select_entries(entries: list[CacheEntry], keys: list[str]) -> list[CacheEntry]:
    """The entries named by ``keys`` (a key, an unambiguous start of one, or the file name); unknown: UserError."""
    chosen: list[CacheEntry] = []
    for wanted in keys:
        matches = [e for e in entries if wanted in (e.key, e.path.name) or e.key.startswith(wanted)]
        if len(matches) != 1:
            problem = "matches no cache entry" if not matches else f"matches {len(matches)} entries"
            raise UserError(f"'{wanted}' {problem} (see `attn cache list`)")
        if matches[0] not in chosen:
            chosen.append(matches[0])
    return chosen


def remove_entries(entries: list[CacheEntry]) -> list[CacheEntry]:
    """Delete ``entries`` (a file already gone is skipped); the ones removed."""
    removed = []
    for entry in entries:
        try:
            entry.path.unlink()
        except FileNotFoundError:
            continue
        removed.append(entry)
    return removed
