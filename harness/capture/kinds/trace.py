"""The Go runtime trace of every pprof service in the phases captures.trace names (one window per
phase, inside it), summarized on the run clock, with the pprof views `go tool trace` derives.

Only the fetch happens while the load runs. Reading a trace (its summary and the four views:
a few CPU-seconds for a busy service's 15 s) waits until the run stops: done at a phase end, it
took CPU from the services under test in the next phase (the demo's p99 rose at each boundary;
nice does not help across the containers' cgroups)."""
from __future__ import annotations

import json
import threading
from concurrent.futures import Future
from pathlib import Path

from harness.capture import pprof, trace
from harness.capture.kind import Capture, CaptureRun, spawn, wait_all
from harness.errors import HarnessError
from harness.runctx import PhaseWindow, ServiceInfo

READERS = 2     # traces read at once when the run stops


class Trace(Capture):
    name = "trace"
    needs = ("go",)
    writes = ("trace",) + tuple(f"trace-{v}" for v in trace.PPROF_VIEWS)

    def __init__(self, run: CaptureRun):
        super().__init__(run)
        self._jobs: list[Future] = []
        self._fetched: list[tuple[ServiceInfo, PhaseWindow, Path, pprof.Snapshot]] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(READERS)

    @classmethod
    def wanted(cls, run: CaptureRun) -> bool:
        return run.spec.trace is not None and bool(run.spec.trace.phases) and bool(run.pprof_services())

    def phase_start(self, phase: PhaseWindow) -> None:
        if phase.name in self.spec.trace.phases:
            self._jobs += [spawn(self._window, svc, phase) for svc in self.run.pprof_services()]

    def finish(self, deadline: float) -> None:
        wait_all(self._jobs, deadline)
        with self._lock:
            fetched, self._fetched = self._fetched, []
        wait_all([spawn(self._read, *item) for item in fetched], deadline)

    def _joined(self) -> bool:
        """Whether perf-based kinds will join their samples to goroutines (they read threads.json)."""
        return self.spec.perf is not None or bool(self.spec.own.get("offcpu"))

    def _window(self, svc: ServiceInfo, phase: PhaseWindow) -> None:
        room = phase.duration - self.spec.cpu_margin        # one trace at a time: stay inside the phase
        seconds = int(min(self.spec.trace.seconds or room, room))
        if seconds < 1:
            self.run.failed(svc.name, phase.name, "trace", f"phase lasts {phase.duration:.1f}s, too short")
            return
        folder = self.rc.run_dir / "trace" / phase.name / svc.name
        folder.mkdir(parents=True, exist_ok=True)
        try:
            snap = self.run.fetch(svc, "trace", seconds)
            out = folder / "trace.out"
            out.write_bytes(snap.data)
        except (pprof.FetchError, HarnessError, OSError) as e:
            self.run.failed(svc.name, phase.name, "trace", str(e))
            return
        with self._lock:
            self._fetched.append((svc, phase, out, snap))

    def _read(self, svc: ServiceInfo, phase: PhaseWindow, out: Path, snap: pprof.Snapshot) -> None:
        with self._slots:       # `go tool trace` takes memory in proportion to the trace: a few at a time
            self._read_one(svc, phase, out, snap)

    def _read_one(self, svc: ServiceInfo, phase: PhaseWindow, out: Path, snap: pprof.Snapshot) -> None:
        folder = out.parent
        try:
            summary = trace.summary_of(self.run.go, out, self.rc.clock.mono_t0,
                                       threads_out=folder / "threads.json" if self._joined() else None)
        except (HarnessError, OSError) as e:
            self.run.failed(svc.name, phase.name, "trace", str(e))
            return
        start = summary["start_s"] if summary["start_s"] is not None else snap.sent_s
        end = summary["end_s"] if summary["end_s"] is not None else snap.done_s
        (folder / "summary.json").write_text(json.dumps(summary, indent=1))
        self.rc.artifacts.add("trace", out, service=svc.name, phase=phase.name, start_s=start, end_s=end,
                              summary=(folder / "summary.json").relative_to(self.rc.run_dir).as_posix())
        for view in trace.PPROF_VIEWS:
            self._view(svc, phase, out, view, start, end)

    def _view(self, svc, phase, out: Path, view: str, start: float, end: float) -> None:
        path = out.parent / f"{view}.pb.gz"
        try:
            trace.derive_pprof(self.run.go, out, view, path)
            msg = pprof.parse(path.read_bytes())
        except (pprof.FetchError, HarnessError, OSError) as e:
            self.run.failed(svc.name, phase.name, f"trace-{view}", str(e))
            return
        self.rc.artifacts.add(f"trace-{view}", path, service=svc.name, phase=phase.name, start_s=start,
                              end_s=end, sample_types=pprof.sample_types(msg))

