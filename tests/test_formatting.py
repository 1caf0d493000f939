"""One formatter for every table: 4 significant figures, trailing zeros kept (2.400 beside 2.395)."""

from __future__ import annotations

import math

import pytest

from attn.formatting import format_clock, format_duration, format_value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (2.4, "2.400"),
        (2.395, "2.395"),
        (1.7760000467300415, "1.776"),
        (0.0125, "0.01250"),
        (19.5, "19.50"),
        (396.0, "396.0"),
        (2110.6, "2,111"),
        (49871.3, "49,871"),
        (0.0, "0.000"),
        (math.nan, "nan"),
        (None, "-"),
        (12, "12"),
        (1234567, "1,234,567"),
        (True, "True"),
    ],
)
def test_format_value(value: object, expected: str) -> None:
    assert format_value(value) == expected


def test_four_significant_figures_whatever_the_magnitude() -> None:
    for value in (0.00123456, 0.0123456, 0.123456, 1.23456, 12.3456, 123.456):
        text = format_value(value)
        digits = text.replace(".", "").lstrip("0")
        assert len(digits) == 4, text
        assert float(text) == pytest.approx(value, rel=5e-4)


@pytest.mark.parametrize(
    ("seconds", "duration", "clock"),
    [
        (0.0123, "12 ms", "0:00:00"),
        (4.25, "4.2 s", "0:00:04"),
        (83.6, "84 s", "0:01:24"),
        (720.0, "12 min", "0:12:00"),
        (100_680.0, "27 h 58 min", "27:58:00"),
        (3 * 86400 + 7200.0, "3 d 02 h", "74:00:00"),
        (None, "-", "-:--:--"),
    ],
)
def test_durations(seconds: float | None, duration: str, clock: str) -> None:
    assert format_duration(seconds) == duration and format_clock(seconds) == clock
