"""HdrHistogram helpers: latencies in microseconds, percentiles in milliseconds, mergeable.

Values are recorded in whole microseconds from 1 us to 1 hour with `sig` significant
digits (default 3: every reported value is within 0.1% of the true one, and never off by
more than 1 us). Histograms travel between processes as HdrHistogram's compressed base64
encoding, so the runner can merge any number of workers exactly.
"""
from __future__ import annotations

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 3600 * 1_000_000
PERCENTILES = (("p50", 50.0), ("p90", 90.0), ("p95", 95.0), ("p99", 99.0), ("p99.9", 99.9))


def new_hist(sig: int = 3) -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, sig)


def record_s(hist: HdrHistogram, seconds: float) -> None:
    """Record a latency given in seconds."""
    us = int(seconds * 1_000_000 + 0.5)
    hist.record_value(min(max(us, LOWEST_US), HIGHEST_US))


def summary_ms(hist: HdrHistogram | None) -> dict:
    """count, p50/p90/p95/p99/p99.9, max, min and mean, in milliseconds (None when empty)."""
    count = hist.get_total_count() if hist is not None else 0
    out: dict = {"count": count}
    if not count:
        out.update({k: None for k, _ in PERCENTILES})
        out.update(max=None, min=None, mean=None)
        return out
    for key, pct in PERCENTILES:
        out[key] = _ms(hist.get_value_at_percentile(pct))
    out["max"] = _ms(hist.get_max_value())
    out["min"] = _ms(hist.get_min_value())
    out["mean"] = round(hist.get_mean_value() / 1000.0, 3)
    return out


def _ms(us: int) -> float:
    return round(us / 1000.0, 3)


def encode(hist: HdrHistogram) -> str:
    return hist.encode().decode("ascii")


def merge(encoded: list[str], sig: int = 3) -> HdrHistogram:
    """One histogram holding every value of the encoded ones."""
    total = new_hist(sig)
    for text in encoded:
        if text:
            total.decode_and_add(text.encode("ascii"))
    return total


def precision_note(sig: int) -> dict:
    return {"unit": "us", "lowest_us": LOWEST_US, "highest_us": HIGHEST_US,
            "significant_digits": sig, "relative_error": 10.0 ** -sig}
