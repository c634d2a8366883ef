"""Human units for the report, the terminal and compare: one place that turns numbers into text.

    duration_ns(2_429_960_639_539) -> "40.5 min"     duration_ms(0.25) -> "250 µs"
    size(146_800_640)              -> "140 MiB"      percent(0.945)    -> "94.5%"
    count(1234567)                 -> "1,234,567"    rate(198.4)       -> "198/s"
    profile_value(v, "nanoseconds" | "bytes" | "count" | ...) by the profile's unit

Three significant digits, the unit chosen by magnitude; None (and NaN) read MISSING, never
"None"; negative values keep their sign. Every function takes ints or floats.
"""
from __future__ import annotations

import math

MISSING = "–"
_DURATIONS = ((1e-9, "ns"), (1e-6, "µs"), (1e-3, "ms"), (1.0, "s"))
_SIZES = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
# a profile's unit -> seconds per unit, for durations
_TIME_UNITS = {"nanoseconds": 1e-9, "microseconds": 1e-6, "milliseconds": 1e-3, "seconds": 1.0}


def _number(v) -> float | None:
    if v is None or isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def sig3(v: float) -> str:
    """v with three significant digits, trailing zeros dropped, thousands separated: 12.3, 1.5, 1,230."""
    if v == 0 or math.isinf(v):
        return "0" if v == 0 else ("∞" if v > 0 else "-∞")
    digits = max(0, 2 - math.floor(math.log10(abs(v))))
    r = round(v, digits)
    if r != 0 and math.floor(math.log10(abs(r))) > math.floor(math.log10(abs(v))):   # 9.996 -> 10.0
        digits = max(0, digits - 1)
        r = round(v, digits)
    text = f"{r:,.{digits}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def duration_s(v) -> str:
    """Seconds -> ns, µs, ms, s, min (from 60 s) or h (from 2 h), three significant digits."""
    f = _number(v)
    if f is None:
        return MISSING
    if f == 0:
        return "0 s"
    if math.isinf(f):
        return sig3(f) + " s"
    mag = abs(f)
    if mag >= 2 * 3600:
        return f"{sig3(f / 3600)} h"
    if mag >= 60:
        return f"{sig3(f / 60)} min"
    unit_scale, unit = _DURATIONS[0]
    for scale, name in _DURATIONS:
        if mag >= scale * 0.9995:      # 999.96 µs reads 1 ms, not 1,000 µs
            unit_scale, unit = scale, name
    return f"{sig3(f / unit_scale)} {unit}"


def duration_ms(v) -> str:
    f = _number(v)
    return MISSING if f is None else duration_s(f / 1e3)


def duration_ns(v) -> str:
    f = _number(v)
    return MISSING if f is None else duration_s(f / 1e9)


def size(v) -> str:
    """Bytes -> B, KiB, MiB, GiB (three significant digits; whole bytes below 1 KiB)."""
    f = _number(v)
    if f is None:
        return MISSING
    if math.isinf(f):
        return sig3(f) + " B"
    i, mag = 0, abs(f)
    while mag >= 1023.5 and i < len(_SIZES) - 1:
        mag /= 1024
        i += 1
    sign = "-" if f < 0 else ""
    return f"{sign}{mag:.0f} B" if i == 0 else f"{sign}{sig3(mag)} {_SIZES[i]}"


def percent(fraction) -> str:
    """A fraction (0.945) as a percentage ("94.5%"); below 0.01% reads "<0.01%"."""
    f = _number(fraction)
    if f is None:
        return MISSING
    p = f * 100
    if p != 0 and abs(p) < 0.01:
        return "<0.01%" if p > 0 else ">-0.01%"
    return f"{sig3(p)}%"


def points(delta) -> str:
    """A change of share (fractions) in percentage points, signed: "+26.2 pts"."""
    f = _number(delta)
    if f is None:
        return MISSING
    return f"{'+' if f >= 0 else ''}{sig3(round(f * 100, 1))} pts"


def count(v) -> str:
    """A count with thousands separators; fractions keep three significant digits."""
    f = _number(v)
    if f is None:
        return MISSING
    if math.isinf(f):
        return sig3(f)
    if f == int(f) or abs(f) >= 100:
        return f"{round(f):,}"
    return sig3(f)


def rate(v, what: str = "") -> str:
    """Something per second: rate(198.4) -> "198/s", rate(2.5, "req") -> "2.5 req/s"."""
    f = _number(v)
    if f is None:
        return MISSING
    what = what.strip()
    return f"{count(f) if abs(f) >= 1000 else sig3(f)}{' ' + what if what else ''}/s"


def factor(before, after) -> str:
    """after / before as "×10.2" ("×1" unchanged); "new" from zero, MISSING without numbers."""
    a, b = _number(before), _number(after)
    if a is None or b is None:
        return MISSING
    if a == 0:
        return "×1" if b == 0 else "new"
    return f"×{sig3(b / a)}"


def profile_value(v, unit: str | None) -> str:
    """A profile value by the profile's unit: nanoseconds -> duration, bytes -> size, count -> count."""
    unit = (unit or "").lower()
    if unit in _TIME_UNITS:
        f = _number(v)
        return MISSING if f is None else duration_s(f * _TIME_UNITS[unit])
    if unit == "bytes":
        return size(v)
    if unit in ("count", "", "samples"):
        return count(v)
    return f"{count(v)} {unit}"


def profile_rate(v, unit: str | None) -> str:
    """A profile value per second of its window: "120 ms/s", "1.5 MiB/s", "230/s"."""
    if _number(v) is None:
        return MISSING
    unit = (unit or "").lower()
    if unit in ("count", "", "samples"):
        return rate(v)
    return profile_value(v, unit) + "/s"


def pct(v) -> str:
    """A value already in percent: container CPU in % of one core (150.0 -> "150%"), error %."""
    f = _number(v)
    return MISSING if f is None else percent(f / 100)


def profile_change(rate_before, rate_after, value_before, value_after, unit: str | None) -> str:
    """A profile amount from one side to the other: per second when either side has a rate
    ("120 ms/s → 1.2 s/s"), else the values ("3 MiB → 12 MiB")."""
    if rate_before is not None or rate_after is not None:
        return f"{profile_rate(rate_before or 0, unit)} → {profile_rate(rate_after or 0, unit)}"
    return f"{profile_value(value_before, unit)} → {profile_value(value_after, unit)}"
