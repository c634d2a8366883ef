"""Function latency from uprobes (captures.functions): probes placed before any load, one perf
recording for the whole run, split by phase when it ends."""
from __future__ import annotations

from harness.capture.kind import Capture, CaptureRun
from harness.capture.uprobes.capture import FunctionProbes
from harness.runctx import PhaseWindow, ServiceInfo


class Functions(Capture):
    name = "functions"
    needs = ("local-engine", "perf", "uprobes")
    writes = ("functions",)

    def __init__(self, run: CaptureRun):
        super().__init__(run)
        self.probes: FunctionProbes | None = None

    @classmethod
    def asked(cls, spec) -> bool:
        return spec.functions is not None

    @classmethod
    def wanted(cls, run: CaptureRun) -> bool:
        return run.spec.functions is not None

    def services(self) -> list[ServiceInfo]:
        """Those `captures.functions.services` names, else those perf records."""
        names = self.spec.functions.services
        if names is None:
            return self.run.perf_services()
        return [s for s in self.rc.services.values() if s.name in names]

    def start(self) -> None:
        """Raises for a function the binary lacks: before any load."""
        self.probes = FunctionProbes(self.rc, self.spec.functions, self.services(), self.run.failed)
        self.probes.place()

    def phase_start(self, phase: PhaseWindow) -> None:
        if self.probes is not None:
            self.probes.phase_start(phase)

    def finish(self, deadline: float) -> None:
        if self.probes is None:
            return
        try:
            self.probes.finish()
        finally:
            self.probes.remove()
