"""The phase loop: the scenario's phases on the run clock. Each phase starts its captures,
applies its faults, waits until its end (reporting progress), reverts its faults and ends
its captures. The load runs on its own over the same windows (harness/load)."""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from harness.capture.manager import CaptureManager
from harness.faults.controller import FaultController
from harness.runctx import PhaseWindow, RunContext
from harness.scenario.model import Phase


def windows(phases: Sequence[Phase], load_t0: float) -> list[PhaseWindow]:
    """The phases on the run clock, the load starting at `load_t0`."""
    return [PhaseWindow(p.name, load_t0 + p.start, load_t0 + p.end) for p in phases]


@dataclass
class Timeline:
    rc: RunContext
    faults: FaultController
    captures: CaptureManager
    refresh: Callable[[str], None]                       # re-read a service after a fault on it
    tick: Callable[[RunContext, PhaseWindow | None], None]   # progress, about once an interval
    interval: float = 1.0

    def run(self, phases: Sequence[Phase], wins: Sequence[PhaseWindow]) -> None:
        events = self.rc.events
        for phase, window in zip(phases, wins):
            self._until(window.start_s, None)
            events.add("phase-start", phase.name)
            self.captures.phase_start(window)
            for f in phase.faults:
                self.faults.apply(f, window.name)
                self.refresh(f.target)
            self._until(window.end_s, window)
            for f in phase.faults:
                self.faults.revert(f)
                self.refresh(f.target)
            self.captures.phase_end(window)
            events.add("phase-end", phase.name)

    def _until(self, t_s: float, window: PhaseWindow | None) -> None:
        while True:
            now = self.rc.clock.now()
            if now >= t_s:
                return
            self.tick(self.rc, window)
            time.sleep(min(self.interval, t_s - now))
