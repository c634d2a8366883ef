"""Open-model arrival schedule: intended send times decided by the clock, never by responses.

Pure logic (no gevent, no Locust): the worker walks `ArrivalSchedule` and sends each request
at its intended time; latency is measured from that time (no coordinated omission).
Times are seconds since the run's t0.
"""
from __future__ import annotations

import bisect
import math
from collections.abc import Iterator
from dataclasses import dataclass

from harness.load.spec import LoadSpec, RateSegment


@dataclass(frozen=True)
class Phase:
    name: str
    start_s: float
    end_s: float


class PhaseTable:
    """Which phase a time falls in (phases sorted by start; gaps belong to no phase)."""

    def __init__(self, phases: list[Phase]):
        self.phases = sorted(phases, key=lambda p: p.start_s)
        self._starts = [p.start_s for p in self.phases]

    @property
    def start_s(self) -> float:
        return self.phases[0].start_s if self.phases else 0.0

    @property
    def end_s(self) -> float:
        return max((p.end_s for p in self.phases), default=0.0)

    def at(self, t: float) -> Phase | None:
        i = bisect.bisect_right(self._starts, t) - 1
        if i >= 0 and t < self.phases[i].end_s:
            return self.phases[i]
        return None

    def name_at(self, t: float) -> str | None:
        p = self.at(t)
        return p.name if p else None


class RateFunction:
    """Target arrival rate (all workers together) at a time, from the spec's rate table."""

    def __init__(self, spec: LoadSpec, phases: PhaseTable):
        self.spec = spec
        self.phases = phases

    def segment(self, phase: Phase) -> RateSegment | None:
        return self.spec.rate_for(phase.name)

    def at(self, t: float) -> float:
        phase = self.phases.at(t)
        if phase is None:
            return 0.0
        if self.spec.whole_ramp is not None:
            return self._whole(t)
        seg = self.segment(phase)
        if seg is None:
            return 0.0
        span = phase.end_s - phase.start_s
        return seg.at((t - phase.start_s) / span if span > 0 else 1.0)

    def segments(self) -> list[tuple[float, float, float, float]]:
        """(start, end, rate at start, rate at end) per phase, in order; rates are linear within."""
        out = []
        for p in self.phases.phases:
            if self.spec.whole_ramp is not None:
                out.append((p.start_s, p.end_s, self._whole(p.start_s), self._whole(p.end_s)))
            else:
                seg = self.segment(p)
                out.append((p.start_s, p.end_s, seg.start, seg.end) if seg else (p.start_s, p.end_s, 0.0, 0.0))
        return out

    def _whole(self, t: float) -> float:
        span = self.phases.end_s - self.phases.start_s
        return self.spec.whole_ramp.at((t - self.phases.start_s) / span if span > 0 else 1.0)

    def mean_over(self, a: float, b: float, steps: int = 8) -> float:
        """The mean target rate over [a, b) (midpoint rule; exact for constant and linear)."""
        if b <= a:
            return 0.0
        h = (b - a) / steps
        return sum(self.at(a + (i + 0.5) * h) for i in range(steps)) / steps


class ArrivalSchedule:
    """Intended send times for worker `index` of `workers`.

    With Lambda(t) the expected number of arrivals since the window start (the integral of
    the rate), arrival m happens when Lambda passes m; worker i sends arrivals i, i+n, i+2n...
    so n workers together keep exactly the spacing one worker would. The integral is exact
    for constant and linear (ramp) segments, across steps and zero-rate phases.
    """

    EPS = 1e-9

    def __init__(self, rate: RateFunction, *, index: int = 0, workers: int = 1):
        if not 0 <= index < workers:
            raise ValueError("index must be in [0, workers)")
        self.rate = rate
        self.index = index
        self.workers = workers

    def __iter__(self) -> Iterator[float]:
        m, base = self.index, 0.0
        for start, end, r0, r1 in self.rate.segments():
            dur = end - start
            total = (r0 + r1) / 2.0 * dur
            while m + self.EPS < base + total:
                yield start + _inverse(r0, r1, dur, m + self.EPS - base)
                m += self.workers
            base += total


def _inverse(r0: float, r1: float, dur: float, x: float) -> float:
    """The time s in [0, dur] at which a rate going linearly r0 -> r1 has made x arrivals."""
    k = (r1 - r0) / dur if dur > 0 else 0.0
    if abs(k) < 1e-12:
        return x / r0
    disc = max(r0 * r0 + 2.0 * k * x, 0.0)
    return min(max((math.sqrt(disc) - r0) / k, 0.0), dur)
