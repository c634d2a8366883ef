"""perf record of every service perf covers in the phases captures.perf names, converted to a
pprof profile on the run clock (inlined calls expanded by a helper built from the run's start)."""
from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import Future

from harness.capture.kind import Capture, CaptureRun, spawn, wait, wait_all
from harness.capture.perf import (
    BUILD_TIMEOUT_S,
    NOT_EXPANDED,
    PerfRecording,
    build_inlines,
    convert,
    failure_reason,
    wait_started,
)
from harness.errors import HarnessError
from harness.runctx import PhaseWindow, ServiceInfo

INLINES_NOT_EXPANDED = ("a caller of inlined code reads as the callee's file:line and its samples go to "
                        "the caller's caller: trust pprof's cpu profile for own lines")


class Perf(Capture):
    name = "perf"
    needs = ("perf", "go")
    writes = ("perf",)

    def __init__(self, run: CaptureRun):
        super().__init__(run)
        self._recording: dict[tuple[str, str], PerfRecording] = {}
        self._conversions: list[Future] = []
        self._inlines: Future | None = None          # the symbolizer's helper being built

    @classmethod
    def wanted(cls, run: CaptureRun) -> bool:
        return run.spec.perf is not None and bool(run.perf_services())

    def start(self) -> None:
        self._inlines = spawn(self._prepare)     # in the background: the first phase starts now

    def _prepare(self) -> None:
        """Build the symbolizer's inline helper from the run's start (conversions wait for it):
        built within the first conversion instead, on a cold Go build cache and a busy machine, it
        took longer than the conversion allowed, and the profile fell back without expansion."""
        try:
            build_inlines(self.run.go)
        except HarnessError as e:
            self.rc.events.add("capture-note", "perf profiles will not expand inlined calls (the inline "
                               f"helper could not be built: {failure_reason(e)}); {INLINES_NOT_EXPANDED}")

    def phase_start(self, phase: PhaseWindow) -> None:
        if phase.name not in self.spec.perf.phases:
            return
        for svc in self.run.perf_services():
            if not svc.pid:
                self.run.failed(svc.name, phase.name, "perf", "no host PID known for the service")
                continue
            out = self.rc.run_dir / "perf" / phase.name / svc.name / "perf.data"
            rec = PerfRecording(svc.pid, out, self.spec.perf.frequency, self.rc.clock)
            try:
                rec.start()
                wait_started(rec)
            except OSError as e:
                self.run.failed(svc.name, phase.name, "perf", f"cannot start perf record: {e}")
                continue
            self._recording[(phase.name, svc.name)] = rec

    def phase_end(self, phase: PhaseWindow) -> Iterable[Future]:
        """End the windows now (SIGINT); perf's flush and the conversion run in the background."""
        for svc in self.run.perf_services():
            rec = self._recording.pop((phase.name, svc.name), None)
            if rec is not None:
                rec.interrupt()
                self._conversions.append(spawn(self._convert, svc, phase, rec))
        return ()

    def stop(self) -> None:
        for rec in list(self._recording.values()):
            try:
                rec.stop()
            except HarnessError:
                pass
        self._recording.clear()

    def finish(self, deadline: float) -> None:
        wait_all(self._conversions, deadline)

    def _convert(self, svc: ServiceInfo, phase: PhaseWindow, rec: PerfRecording) -> None:
        out = rec.out.parent / "perf.pb.gz"
        if self._inlines is not None:
            wait(self._inlines, BUILD_TIMEOUT_S)
        try:
            rec.stop()
            info = convert(rec.out, out, pid=rec.pid, exe=rec.exe, clock=self.rc.clock,
                           frequency=rec.frequency, go=self.run.go, window=(rec.start_s, rec.end_s))
        except HarnessError as e:
            self.run.failed(svc.name, phase.name, "perf", e.render())
            return
        self.rc.artifacts.add("perf", out, service=svc.name, phase=phase.name, start_s=rec.start_s,
                              end_s=rec.end_s, sample_types=["samples/count", "cpu/nanoseconds"], **info)
        if info.get("inlines") == NOT_EXPANDED:
            self.rc.events.add("capture-note", f"perf profile of {svc.name} in phase {phase.name}: inlined calls "
                               f"not expanded ({info.get('inlines_reason')}); {INLINES_NOT_EXPANDED}",
                               service=svc.name, phase=phase.name, capture="perf")
