"""Open-model arrival schedule: intended send times decided by the clock, never by responses.

Pure logic (no gevent, no Locust): the worker walks `ArrivalSchedule` and sends each request
at its intended time; latency is measured from that time (no coordinated omission).
Times are seconds since the run's t0.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Iterator

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

    def next_start(self, t: float) -> float | None:
        i = bisect.bisect_right(self._starts, t)
        return self._starts[i] if i < len(self._starts) else None


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
        ramp = self.spec.whole_ramp
        if ramp is not None:
            span = self.phases.end_s - self.phases.start_s
            return ramp.at((t - self.phases.start_s) / span if span > 0 else 1.0)
        seg = self.segment(phase)
        if seg is None:
            return 0.0
        span = phase.end_s - phase.start_s
        return seg.at((t - phase.start_s) / span if span > 0 else 1.0)

    def mean_over(self, a: float, b: float, steps: int = 8) -> float:
        """The mean target rate over [a, b) (midpoint rule; exact for constant and linear)."""
        if b <= a:
            return 0.0
        h = (b - a) / steps
        return sum(self.at(a + (i + 0.5) * h) for i in range(steps)) / steps


class ArrivalSchedule:
    """Intended send times for one worker of `workers`, interleaved with the others.

    Worker i of n runs at rate/n, offset by i/rate, so n workers together keep the same
    spacing one worker would. A phase boundary carries the unspent part of an interval over
    at the new rate, so a step from 1/s to 100/s does not wait a whole second.
    """

    def __init__(self, rate: RateFunction, *, index: int = 0, workers: int = 1):
        if not 0 <= index < workers:
            raise ValueError("index must be in [0, workers)")
        self.rate = rate
        self.index = index
        self.workers = workers

    def __iter__(self) -> Iterator[float]:
        phases = self.rate.phases
        end = phases.end_s
        t = self._first_at(phases.start_s)
        while t is not None and t < end:
            yield t
            t = self._next(t, end)

    def _first_at(self, t: float) -> float | None:
        while t is not None and t < self.rate.phases.end_s:
            r = self.rate.at(t)
            if r > 0:
                return t + self.index / r
            t = self._next_phase_start(t)
        return None

    def _next_phase_start(self, t: float) -> float | None:
        phase = self.rate.phases.at(t)
        if phase is not None and phase.end_s > t:
            nxt = phase.end_s
            return nxt if self.rate.phases.at(nxt) is not None else self.rate.phases.next_start(t)
        return self.rate.phases.next_start(t)

    def _next(self, t: float, end: float) -> float | None:
        r = self.rate.at(t) / self.workers
        if r <= 0:
            return self._first_at(t)
        nxt = t + 1.0 / r
        phase = self.rate.phases.at(t)
        if phase is None or nxt <= phase.end_s or phase.end_s >= end:
            return nxt
        # crossing into the next phase: spend the rest of the interval at the new rate
        boundary = phase.end_s
        r_new = self.rate.at(boundary) / self.workers
        if r_new <= 0:
            return self._first_at(boundary)
        left = (nxt - boundary) * r          # fraction of an arrival still owed
        return boundary + left / r_new
