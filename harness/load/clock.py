"""A remote load worker's clock against the master's (pure logic).

Local workers share the machine's CLOCK_MONOTONIC with the runner, so the run's mono_t0 means
the same instant to them. A worker on another machine has a clock of its own: it asks the
master for the master's time a few times (a ping carries the worker's send time, the pong adds
the master's time) and keeps the exchange with the shortest round trip, as NTP does. Its error
is at most half that round trip; the worker reports both."""
from __future__ import annotations

from collections.abc import Iterable

PINGS = 8


def offset_from(samples: Iterable[tuple[float, float, float]]) -> tuple[float, float]:
    """(offset, rtt) from (worker send, master time, worker receive) samples: offset is the
    master's clock minus the worker's, rtt the shortest round trip. Needs one sample."""
    best = None
    for sent, master, received in samples:
        rtt = received - sent
        if rtt < 0:
            continue
        if best is None or rtt < best[1]:
            best = (master - (sent + received) / 2.0, rtt)
    if best is None:
        raise ValueError("no usable clock sample")
    return best
