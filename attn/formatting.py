"""How numbers look in tables and reports: one formatter for the whole package."""

from __future__ import annotations

import math
from typing import Any

MISSING = "-"


def format_value(value: Any, spec: str | None = None, *, digits: int = 4, missing: str = MISSING) -> str:
    """A table cell: floats to ``digits`` significant figures (large ones with separators) or
    with the format ``spec`` (e.g. ``".3f"``), ints with separators, None as ``missing``."""
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
        if abs(value) >= 10**digits:
            return f"{value:,.0f}"
        return f"{value:.{digits}g}"
    return str(value)


def format_fixed(value: Any, decimals: int = 3) -> str:
    """A float with a fixed count of decimals (``None``/NaN as ``-``, other values as text),
    for columns that line up."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return MISSING
    if isinstance(value, float):
        return f"{value:.{decimals}f}"
    return str(value)
