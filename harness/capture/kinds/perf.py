"""perf record of every service perf covers in the phases captures.perf names, converted to a
pprof profile on the run clock (inlined calls expanded by a helper built from the run's start).

A phase whose service also has a runtime trace is converted when the run stops, after the trace
kind read its traces (harness/capture/kinds orders Trace before Perf): the samples are then joined
to the goroutines the trace saw on their threads (harness/capture/goroutines.py). Other phases
are converted in the background from their phase end."""
from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import Future
from pathlib import Path
from typing import ClassVar

from harness.capture import goroutines
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
    needs = ("local-engine", "perf", "go")
    writes = ("perf",)

    def __init__(self, run: CaptureRun):
        super().__init__(run)
        self._recording: dict[tuple[str, str], PerfRecording] = {}
        self._conversions: list[Future] = []
        self._deferred: list[tuple[ServiceInfo, PhaseWindow, PerfRecording, dict[int, int]]] = []
        self._inlines: Future | None = None          # the symbolizer's helper being built

    # What the perf-based kinds (this one, offcpu) do differently:
    sample_types: ClassVar[list[str]] = ["samples/count", "cpu/nanoseconds"]

    def phases(self) -> tuple[str, ...]:
        return self.spec.perf.phases

    def recording(self, svc: ServiceInfo, phase: PhaseWindow) -> PerfRecording:
        out = self.rc.run_dir / self.name / phase.name / svc.name / "perf.data"
        return PerfRecording(svc.pid, out, self.spec.perf.frequency, self.rc.clock)

    def convert_file(self, rec: PerfRecording, out: Path, join) -> dict:
        """perf.data -> the profile at `out`; the artifact's fields (raises HarnessError)."""
        return convert(rec.out, out, pid=rec.pid, exe=rec.exe, clock=self.rc.clock, frequency=rec.frequency,
                       go=self.run.go, window=(rec.start_s, rec.end_s), join=join)

    def convert_recording(self, svc: ServiceInfo, phase: PhaseWindow, rec: PerfRecording, join) -> None:
        """perf.data -> the profile, registered (or a capture-failed event)."""
        out = rec.out.parent / f"{self.name}.pb.gz"
        try:
            info = self.convert_file(rec, out, join)
        except HarnessError as e:
            self.run.failed(svc.name, phase.name, self.name, e.render())
            return
        self.rc.artifacts.add(self.name, out, service=svc.name, phase=phase.name, start_s=rec.start_s,
                              end_s=rec.end_s, sample_types=self.sample_types, **info)
        if info.get("inlines") == NOT_EXPANDED:
            self.rc.events.add("capture-note", f"{self.name} profile of {svc.name} in phase {phase.name}: inlined "
                               f"calls not expanded ({info.get('inlines_reason')}); {INLINES_NOT_EXPANDED}",
                               service=svc.name, phase=phase.name, capture=self.name)

    @classmethod
    def asked(cls, spec) -> bool:
        return spec.perf is not None

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
        if phase.name not in self.phases():
            return
        for svc in self.run.perf_services():
            if not svc.pid:
                self.run.failed(svc.name, phase.name, self.name, "no host PID known for the service")
                continue
            rec = self.recording(svc, phase)
            try:
                rec.start()
                wait_started(rec)
            except OSError as e:
                self.run.failed(svc.name, phase.name, self.name, f"cannot start perf record: {e}")
                continue
            self._recording[(phase.name, svc.name)] = rec

    def phase_end(self, phase: PhaseWindow) -> Iterable[Future]:
        """End the windows now (SIGINT); perf's flush and the conversion run in the background,
        or when the run stops for a phase with a trace to join."""
        for svc in self.run.perf_services():
            rec = self._recording.pop((phase.name, svc.name), None)
            if rec is None:
                continue
            rec.interrupt()
            if self._traced(svc, phase):
                self._deferred.append((svc, phase, rec, goroutines.ns_tids(svc.pid)))
            else:
                self._conversions.append(spawn(self._convert, svc, phase, rec, None))
        return ()

    def _traced(self, svc: ServiceInfo, phase: PhaseWindow) -> bool:
        trace = self.spec.trace
        return trace is not None and phase.name in trace.phases and \
            svc.name in {s.name for s in self.run.pprof_services()}

    def stop(self) -> None:
        for rec in list(self._recording.values()):
            try:
                rec.stop()
            except HarnessError:
                pass
        self._recording.clear()

    def finish(self, deadline: float) -> None:
        deferred, self._deferred = self._deferred, []
        wait_all(self._conversions + [spawn(self._convert, svc, phase, rec, self._join(svc, phase, tids))
                                      for svc, phase, rec, tids in deferred], deadline)

    def _join(self, svc: ServiceInfo, phase: PhaseWindow, tids: dict[int, int]):
        """The labelling of samples with their goroutines, from the phase's trace (None without one)."""
        gmap = goroutines.GoroutineMap.load(self.rc.run_dir / "trace" / phase.name / svc.name / "threads.json")
        if gmap is None or not tids:
            return None
        return lambda samples: goroutines.label(samples, tids, gmap)

    def _convert(self, svc: ServiceInfo, phase: PhaseWindow, rec: PerfRecording, join) -> None:
        if self._inlines is not None:
            wait(self._inlines, BUILD_TIMEOUT_S)
        try:
            rec.stop()
        except HarnessError as e:
            self.run.failed(svc.name, phase.name, self.name, e.render())
            return
        self.convert_recording(svc, phase, rec, join)
