"""attn: a command-line training toolkit for attention models on text and EEG."""

from __future__ import annotations

import os as _os
import time as _time

# The process clock's anchor (attn.process): perf_counter and process CPU seconds when attn was first imported.
IMPORTED_AT = (_time.perf_counter(), _time.process_time())


def _version() -> str:
    """The installed distribution's version (pyproject.toml is its one source); a bare source tree says so."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("attn")
    except PackageNotFoundError:  # run from a source tree that was never installed (PYTHONPATH=.)
        return "0+unknown"


__version__ = _version()

if _os.environ.get("ATTN_PROFILE_STARTUP", "") not in ("", "0"):
    from attn.process import print_startup_profile_at_exit

    print_startup_profile_at_exit()
