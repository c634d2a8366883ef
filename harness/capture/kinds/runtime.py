"""Runtime state of every pprof service (goroutines, heap, GC) sampled every interval, with the
goroutine snapshot at each phase's peak."""
from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import Future

from harness.capture.kind import Capture, CaptureRun
from harness.capture.runtime import RuntimeSampler
from harness.runctx import PhaseWindow


class Runtime(Capture):
    name = "runtime"
    writes = ("runtime", "goroutine-peak")

    def __init__(self, run: CaptureRun):
        super().__init__(run)
        self.sampler = RuntimeSampler(self.rc, [s.name for s in run.pprof_services()], self.spec.runtime.interval)

    @classmethod
    def wanted(cls, run: CaptureRun) -> bool:
        return run.spec.runtime is not None and bool(run.pprof_services())

    def start(self) -> None:
        self.sampler.start()

    def phase_start(self, phase: PhaseWindow) -> None:
        self.sampler.phase_start(phase.name, peaks=self.spec.wants_phase(phase.name))

    def phase_end(self, phase: PhaseWindow) -> Iterable[Future]:
        self.sampler.phase_end(phase.name)     # first of all kinds: later samples belong to no phase
        return ()

    def stop(self) -> None:
        self.sampler.stop()
