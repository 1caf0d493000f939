"""How numbers look in tables and reports: one formatter for the whole package."""

from __future__ import annotations

import math
from typing import Any

MISSING = "-"


def format_value(value: Any, spec: str | None = None, *, digits: int = 4, missing: str = MISSING) -> str:
    """A table cell: floats to ``digits`` significant figures, trailing zeros kept so that numbers
    side by side line up (2.400 beside 2.395; large ones with separators), or with the format
    ``spec`` (e.g. ``".3f"``); ints with separators; None as ``missing``."""
    if value is None:
        return missing
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        if spec is not None:
            return format(value, spec)
        if abs(value) >= 10 ** (digits - 1):
            return f"{value:,.0f}"
        return f"{value:#.{digits}g}".removesuffix(".")
    return str(value)


def format_fixed(value: Any, decimals: int = 3) -> str:
    """A float with a fixed count of decimals (``None``/NaN as ``-``, other values as text),
    for columns that line up."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return MISSING
    if isinstance(value, float):
        return f"{value:.{decimals}f}"
    return str(value)


def format_duration(seconds: float | None) -> str:
    """A duration for people: ``35 ms``, ``4.2 s``, ``83 s``, ``12 min``, ``3 h 05 min``, ``2 d 04 h``."""
    if seconds is None or not math.isfinite(seconds):
        return MISSING
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms" if seconds >= 0.001 else f"{seconds * 1000:.2f} ms"
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 100:
        return f"{seconds:.0f} s"
    minutes = seconds / 60
    if minutes < 60:
        return f"{minutes:.0f} min"
    hours, minutes = divmod(round(minutes), 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours:02d} h"


def format_clock(seconds: float | None) -> str:
    """``h:mm:ss`` (as progress bars show time), ``-:--:--`` when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "-:--:--"
    total = max(int(round(seconds)), 0)
    hours, rest = divmod(total, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"
