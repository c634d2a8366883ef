"""Formatting values with their units (pure)."""
from __future__ import annotations

_TIME = (("h", 3600e9), ("m", 60e9), ("s", 1e9), ("ms", 1e6), ("µs", 1e3), ("ns", 1.0))
_BYTES = (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10), ("B", 1))
_COUNT = (("G", 1e9), ("M", 1e6), ("k", 1e3), ("", 1.0))


def _scaled(value: float, scale) -> str:
    mag = abs(value)
    for suffix, factor in scale:
        if mag >= factor or factor == scale[-1][1]:
            num = value / factor
            text = f"{num:.3g}" if abs(num) < 1000 else f"{num:.0f}"
            return f"{text}{suffix}"
    return str(value)


def format_value(value: float, unit: str, signed: bool = False) -> str:
    """1.23s, 340ms, 1.5MB, 12.3k; with signed=True a leading + for growth."""
    u = unit.lower()
    if u in ("nanoseconds", "ns"):
        text = _scaled(value, _TIME)
    elif u in ("microseconds", "us"):
        text = _scaled(value * 1e3, _TIME)
    elif u in ("milliseconds", "ms"):
        text = _scaled(value * 1e6, _TIME)
    elif u in ("seconds", "s"):
        text = _scaled(value * 1e9, _TIME)
    elif u in ("bytes", "byte", "b"):
        text = _scaled(value, _BYTES)
    else:
        text = _scaled(value, _COUNT)
    if signed and value > 0:
        text = "+" + text
    return text


def format_share(share: float, signed: bool = False) -> str:
    pct = share * 100
    text = f"{pct:.1f}%" if abs(pct) < 10 else f"{pct:.0f}%"
    if signed and share > 0:
        text = "+" + text
    return text


def label(value: float, share: float, unit: str, diff: bool = False) -> str:
    return f"{format_value(value, unit, diff)} {format_share(share, diff)}"
