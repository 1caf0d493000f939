"""attn: a command-line training toolkit for attention models on text and EEG."""

from __future__ import annotations


def _version() -> str:
    """The installed distribution's version (pyproject.toml is its one source); a bare source tree says so."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("attn")
    except PackageNotFoundError:  # run from a source tree that was never installed (PYTHONPATH=.)
        return "0+unknown"


__version__ = _version()
