"""pprof windows of every pprof service in every wanted phase: a CPU profile over the phase
(less cpu_margin), heap and goroutine snapshots at its end, allocs/block/mutex as the difference
between the phase's start and end. Block and mutex rates are set once through captures.rates."""
from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout

from harness.capture import pprof
from harness.capture.kind import Capture, CaptureRun, spawn
from harness.runctx import PhaseWindow, ServiceInfo

SNAPSHOT_KINDS = ("heap", "goroutine")          # the state at the phase end
DELTA_KINDS = ("allocs", "block", "mutex")


class Profiles(Capture):
    name = "pprof"
    writes = ("cpu",) + SNAPSHOT_KINDS + DELTA_KINDS

    def __init__(self, run: CaptureRun):
        super().__init__(run)
        self._cpu: dict[tuple[str, str], Future] = {}
        self._before: dict[tuple[str, str, str], Future] = {}

    @classmethod
    def wanted(cls, run: CaptureRun) -> bool:
        return bool(run.spec.pprof) and bool(run.pprof_services())

    def start(self) -> None:
        wants = [k for k in ("block", "mutex") if k in self.spec.pprof]
        if not wants:
            return
        rates = self.spec.rates
        for svc in self.run.pprof_services():
            if rates is None:
                self.rc.events.add("capture-note", f"{'/'.join(wants)} profiles hold only what {svc.name} "
                                   "enables itself (no captures.rates endpoint)", service=svc.name)
                continue
            url = f"{pprof.origin(svc.pprof_url)}{rates.url}?block={rates.block}&mutex={rates.mutex}"
            try:
                pprof.http_get(url, self.spec.fetch_timeout)
            except pprof.FetchError as e:
                self.run.failed(svc.name, None, "rates", str(e))

    def phase_start(self, phase: PhaseWindow) -> None:
        if not self.spec.wants_phase(phase.name):
            return
        for svc in self.run.pprof_services():
            if "cpu" in self.spec.pprof:
                seconds = int(phase.duration - self.spec.cpu_margin)
                if seconds < 1:
                    self.run.failed(svc.name, phase.name, "cpu", f"phase lasts {phase.duration:.1f}s; a CPU "
                                    f"window needs at least 1s plus cpu_margin {self.spec.cpu_margin:g}s")
                else:
                    self._cpu[(phase.name, svc.name)] = spawn(self.run.fetch, svc, "cpu", seconds)
            for kind in DELTA_KINDS:
                if kind in self.spec.pprof:
                    self._before[(phase.name, svc.name, kind)] = spawn(self.run.fetch, svc, kind)

    def phase_end(self, phase: PhaseWindow) -> Iterable[Future]:
        if not self.spec.wants_phase(phase.name):
            return []
        jobs = []
        for svc in self.run.pprof_services():
            jobs += [spawn(self._snapshot, svc, phase, k) for k in SNAPSHOT_KINDS if k in self.spec.pprof]
            jobs += [spawn(self._delta, svc, phase, k) for k in DELTA_KINDS if k in self.spec.pprof]
            jobs.append(spawn(self._finish_cpu, svc, phase))
        return jobs

    def _finish_cpu(self, svc: ServiceInfo, phase: PhaseWindow) -> None:
        job = self._cpu.pop((phase.name, svc.name), None)
        if job is None:
            return
        try:
            snap = job.result(timeout=self.spec.fetch_timeout + self.spec.cpu_margin + 5)
            msg = pprof.parse(snap.data)
            start, end = self._profile_window(msg, snap)
            self._save(svc, phase, "cpu", snap.data, msg, start, end)
        except (pprof.FetchError, FutureTimeout, OSError) as e:
            self.run.failed(svc.name, phase.name, "cpu", str(e) or "timed out")

    def _profile_window(self, msg, snap: pprof.Snapshot) -> tuple[float, float]:
        """The CPU window on the run clock, from the profile's own start time and duration."""
        if msg.time_nanos and msg.duration_nanos:
            start = msg.time_nanos / 1e9 - self.rc.clock.wall_t0
            if snap.sent_s - 0.5 <= start <= snap.done_s:
                return start, start + msg.duration_nanos / 1e9
        return snap.sent_s, snap.done_s

    def _snapshot(self, svc: ServiceInfo, phase: PhaseWindow, kind: str) -> None:
        try:
            snap = self.run.fetch(svc, kind)
            msg = pprof.parse(snap.data)
            self._save(svc, phase, kind, snap.data, msg, snap.sent_s, snap.done_s, window="snapshot")
        except (pprof.FetchError, OSError) as e:
            self.run.failed(svc.name, phase.name, kind, str(e))

    def _delta(self, svc: ServiceInfo, phase: PhaseWindow, kind: str) -> None:
        before_job = self._before.pop((phase.name, svc.name, kind), None)
        try:
            after = self.run.fetch(svc, kind)
            if before_job is None:
                raise pprof.FetchError("no snapshot at the phase start")
            before = before_job.result(timeout=self.spec.fetch_timeout)
            msg = pprof.subtract(pprof.parse(after.data), pprof.parse(before.data))
            start, end = (before.sent_s + before.done_s) / 2, (after.sent_s + after.done_s) / 2
            self._save(svc, phase, kind, pprof.encode(msg), msg, start, end, window="delta",
                       empty=len(msg.sample) == 0)
        except (pprof.FetchError, FutureTimeout, OSError) as e:
            self.run.failed(svc.name, phase.name, kind, str(e) or "timed out")

    def _save(self, svc, phase, kind, data: bytes, msg, start: float, end: float, **extra) -> None:
        path = self.rc.run_dir / "profiles" / phase.name / svc.name / f"{kind}.pb.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.rc.artifacts.add(kind, path, service=svc.name, phase=phase.name, start_s=start, end_s=end,
                              sample_types=pprof.sample_types(msg), **extra)

