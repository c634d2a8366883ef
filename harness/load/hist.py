"""HdrHistogram helpers: latencies in microseconds, percentiles in milliseconds, mergeable.

Values are recorded in whole microseconds from 1 us to 1 hour with `sig` significant
digits (default 3: every reported value is within 0.1% of the true one, and never off by
more than 1 us). Histograms travel between processes as HdrHistogram's compressed base64
encoding, so the runner can merge any number of workers exactly.
"""
from __future__ import annotations

import math

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
    """count, p50/p90/p95/p99/p99.9, max, min and mean, in milliseconds (None when empty).

    Percentiles are nearest-rank (the smallest recorded value with at least pct% of the
    values at or below it), reported as the highest value of its HdrHistogram bucket.
    Reads the counts array once (the hdrh package's own mean walks every value: 250 ms).
    """
    count = hist.get_total_count() if hist is not None else 0
    out: dict = {"count": count}
    if not count:
        out.update({k: None for k, _ in PERCENTILES})
        out.update(max=None, min=None, mean=None)
        return out
    cells = nonzero_cells(hist)
    targets = [(key, max(1, math.ceil(pct / 100.0 * count - 1e-9))) for key, pct in PERCENTILES]
    running, total_us, t = 0, 0.0, 0
    for value, n, high in cells:
        running += n
        total_us += n * (value + high) / 2.0
        while t < len(targets) and running >= targets[t][1]:
            out[targets[t][0]] = _ms(high)
            t += 1
    out["max"] = _ms(hist.get_max_value())
    out["min"] = _ms(hist.get_min_value())
    out["mean"] = round(total_us / count / 1000.0, 3)
    return out


def nonzero_cells(hist: HdrHistogram) -> list[tuple[int, int, int]]:
    """(lowest value, count, highest equivalent value) of every non-empty bucket, in order."""
    counts = hist.counts[:hist.counts_len]
    return [(hist.get_value_from_index(i), n,
             hist.get_highest_equivalent_value(hist.get_value_from_index(i)))
            for i, n in enumerate(counts) if n]


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
