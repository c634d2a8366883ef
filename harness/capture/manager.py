"""CaptureManager: per-phase pprof windows, traces, perf, container stats and runtime state for a run.

The engine calls start(), then phase_start(p)/phase_end(p) for every phase, then stop().
A failed capture never raises: it becomes a `capture-failed` event and the run goes on.
"""
from __future__ import annotations

import json
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path

from harness.capture import pprof, trace
from harness.capture.perf import (
    BUILD_TIMEOUT_S,
    NOT_EXPANDED,
    PerfRecording,
    build_inlines,
    convert,
    failure_reason,
    wait_started,
)
from harness.capture.runtime import RuntimeSampler
from harness.capture.spec import CaptureSpec
from harness.capture.stats import DockerEvents, StatsSampler
from harness.capture.uprobes.capture import FunctionProbes
from harness.errors import HarnessError
from harness.runctx import PhaseWindow, RunContext, ServiceInfo
from lsp.rundir import go_binary

SNAPSHOT_KINDS = ("heap", "goroutine")          # the state at the phase end
DELTA_KINDS = ("allocs", "block", "mutex")
INLINES_NOT_EXPANDED = ("a caller of inlined code reads as the callee's file:line and its samples go to "
                        "the caller's caller: trust pprof's cpu profile for own lines")
STOP_WAIT_S = 120.0   # stop() waits at most this long, in all, for trace and perf conversions


class CaptureManager:
    def __init__(self, spec: CaptureSpec | None, rc: RunContext):
        self.spec = spec or CaptureSpec()
        self.rc = rc
        self.go = go_binary()
        self._lock = threading.Lock()
        self._cpu: dict[tuple[str, str], Future] = {}
        self._before: dict[tuple[str, str, str], Future] = {}
        self._perf: dict[tuple[str, str], PerfRecording] = {}
        self._background: list[Future] = []
        self._restarts: dict[str, int] = {}
        self._sampler: StatsSampler | None = None
        self._events: DockerEvents | None = None
        self._runtime: RuntimeSampler | None = None
        self._functions: FunctionProbes | None = None
        self._inlines: Future | None = None          # the perf symbolizer's helper being built
        self._stopped = False

    # -- which services --------------------------------------------------------------------
    def pprof_services(self) -> list[ServiceInfo]:
        return [s for s in self.rc.services.values() if s.pprof_url and self.spec.wants_service(s.name)]

    def perf_services(self) -> list[ServiceInfo]:
        """Services perf records: those with pprof, or the ones `captures.services` names."""
        if self.spec.services is None:
            return self.pprof_services()
        return [s for s in self.rc.services.values() if self.spec.wants_service(s.name)]

    def function_services(self) -> list[ServiceInfo]:
        """Services whose functions are probed: those `captures.functions.services` names, else
        those perf records."""
        names = self.spec.functions.services if self.spec.functions else None
        if names is None:
            return self.perf_services()
        return [s for s in self.rc.services.values() if s.name in names]

    def container_services(self) -> list[ServiceInfo]:
        return [s for s in self.rc.services.values() if s.container_id]

    # -- run ------------------------------------------------------------------------------
    def start(self) -> None:
        containers = self.container_services()
        if self.spec.stats_interval > 0 and containers:
            self._sampler = StatsSampler(self.rc, containers, self.spec.stats_interval, self._restarts)
            self._sampler.start()
        self._events = DockerEvents(self.rc, containers, self._restarts)
        self._events.start()
        self._set_rates()
        runtime = [s.name for s in self.pprof_services()]
        if self.spec.runtime is not None and runtime:
            self._runtime = RuntimeSampler(self.rc, runtime, self.spec.runtime.interval)
            self._runtime.start()
        if self.spec.perf is not None and self.perf_services():
            self._inlines = _spawn(self._prepare_perf)     # in the background: the first phase starts now
        if self.spec.functions is not None:     # raises for a function the binary lacks: before any load
            self._functions = FunctionProbes(self.rc, self.spec.functions, self.function_services(), self._failed)
            self._functions.place()

    def _set_rates(self) -> None:
        wants = [k for k in ("block", "mutex") if k in self.spec.pprof]
        if not wants:
            return
        rates = self.spec.rates
        for svc in self.pprof_services():
            if rates is None:
                self.rc.events.add("capture-note", f"{'/'.join(wants)} profiles hold only what {svc.name} "
                                   "enables itself (no captures.rates endpoint)", service=svc.name)
                continue
            url = f"{_origin(svc.pprof_url)}{rates.url}?block={rates.block}&mutex={rates.mutex}"
            try:
                pprof.http_get(url, self.spec.fetch_timeout)
            except pprof.FetchError as e:
                self._failed(svc.name, None, "rates", str(e))

    def phase_start(self, phase: PhaseWindow) -> None:
        if self._stopped:
            return
        if self._runtime is not None:
            self._runtime.phase_start(phase.name, peaks=self.spec.wants_phase(phase.name))
        if self.spec.wants_phase(phase.name):
            for svc in self.pprof_services():
                self._start_pprof(svc, phase)
        tspec, pspec = self.spec.trace, self.spec.perf
        if tspec and phase.name in tspec.phases:
            for svc in self.pprof_services():
                self._background.append(_spawn(self._trace_window, svc, phase))
        if pspec and phase.name in pspec.phases:
            for svc in self.perf_services():
                self._start_perf(svc, phase)
        if self._functions is not None:
            self._functions.phase_start(phase)

    def phase_end(self, phase: PhaseWindow) -> None:
        if self._stopped:
            return
        if self._runtime is not None:     # first: samples from now on belong to no phase
            self._runtime.phase_end(phase.name)
        jobs = []
        if self.spec.wants_phase(phase.name):
            for svc in self.pprof_services():
                jobs += [_spawn(self._snapshot, svc, phase, k) for k in SNAPSHOT_KINDS
                         if k in self.spec.pprof]
                jobs += [_spawn(self._delta, svc, phase, k) for k in DELTA_KINDS
                         if k in self.spec.pprof]
        for svc in self.perf_services():
            self._stop_perf(svc, phase)
        if self.spec.wants_phase(phase.name):
            for svc in self.pprof_services():
                self._finish_cpu(svc, phase)
        for job in jobs:
            _wait(job, self.spec.fetch_timeout + 5)

    def latest_stats(self) -> dict[str, dict]:
        """The newest container-stats line per service (for the engine's progress display)."""
        return dict(self._sampler.latest) if self._sampler is not None else {}

    def stop(self) -> None:
        """Idempotent; stops perf, the sampler and the event watcher, waits for conversions."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        if self._runtime is not None:
            self._runtime.stop()
        for (phase, service), rec in list(self._perf.items()):
            try:
                rec.stop()
            except HarnessError:
                pass
        self._perf.clear()
        deadline = time.monotonic() + STOP_WAIT_S
        for job in self._background:
            _wait(job, max(0.1, deadline - time.monotonic()))
        if self._functions is not None:     # one recording for the whole run: split by phase now
            try:
                self._functions.finish()
            finally:
                self._functions.remove()
        if self._sampler is not None:
            self._sampler.stop()
            ticks = max(1, self._sampler.ticks)
            self.rc.artifacts.add("container-stats", self._sampler.path,
                                  sample_ms=round(self._sampler.cost_s / ticks * 1000, 3))
        if self._events is not None:
            self._events.stop()

    # -- pprof ----------------------------------------------------------------------------
    def _start_pprof(self, svc: ServiceInfo, phase: PhaseWindow) -> None:
        if "cpu" in self.spec.pprof:
            seconds = int(phase.duration - self.spec.cpu_margin)
            if seconds < 1:
                self._failed(svc.name, phase.name, "cpu", f"phase lasts {phase.duration:.1f}s; a CPU "
                             f"window needs at least 1s plus cpu_margin {self.spec.cpu_margin:g}s")
            else:
                self._cpu[(phase.name, svc.name)] = _spawn(self._fetch, svc, "cpu", seconds)
        for kind in DELTA_KINDS:
            if kind in self.spec.pprof:
                self._before[(phase.name, svc.name, kind)] = _spawn(self._fetch, svc, kind)

    def _fetch(self, svc: ServiceInfo, kind: str, seconds: int | None = None) -> pprof.Snapshot:
        sent = self.rc.clock.now()
        timeout = self.spec.fetch_timeout + (seconds or 0)
        data = pprof.http_get(pprof.profile_url(svc.pprof_url, kind, seconds), timeout)
        return pprof.Snapshot(data, sent, self.rc.clock.now())

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
            self._failed(svc.name, phase.name, "cpu", str(e) or "timed out")

    def _profile_window(self, msg, snap: pprof.Snapshot) -> tuple[float, float]:
        """The CPU window on the run clock, from the profile's own start time and duration."""
        if msg.time_nanos and msg.duration_nanos:
            start = msg.time_nanos / 1e9 - self.rc.clock.wall_t0
            if snap.sent_s - 0.5 <= start <= snap.done_s:
                return start, start + msg.duration_nanos / 1e9
        return snap.sent_s, snap.done_s

    def _snapshot(self, svc: ServiceInfo, phase: PhaseWindow, kind: str) -> None:
        try:
            snap = self._fetch(svc, kind)
            msg = pprof.parse(snap.data)
            self._save(svc, phase, kind, snap.data, msg, snap.sent_s, snap.done_s, window="snapshot")
        except (pprof.FetchError, OSError) as e:
            self._failed(svc.name, phase.name, kind, str(e))

    def _delta(self, svc: ServiceInfo, phase: PhaseWindow, kind: str) -> None:
        before_job = self._before.pop((phase.name, svc.name, kind), None)
        try:
            after = self._fetch(svc, kind)
            if before_job is None:
                raise pprof.FetchError("no snapshot at the phase start")
            before = before_job.result(timeout=self.spec.fetch_timeout)
            msg = pprof.subtract(pprof.parse(after.data), pprof.parse(before.data))
            start, end = (before.sent_s + before.done_s) / 2, (after.sent_s + after.done_s) / 2
            self._save(svc, phase, kind, pprof.encode(msg), msg, start, end, window="delta",
                       empty=len(msg.sample) == 0)
        except (pprof.FetchError, FutureTimeout, OSError) as e:
            self._failed(svc.name, phase.name, kind, str(e) or "timed out")

    def _save(self, svc, phase, kind, data: bytes, msg, start: float, end: float, **extra) -> None:
        path = self.rc.run_dir / "profiles" / phase.name / svc.name / f"{kind}.pb.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.rc.artifacts.add(kind, path, service=svc.name, phase=phase.name, start_s=start, end_s=end,
                              sample_types=pprof.sample_types(msg), **extra)

    # -- trace ----------------------------------------------------------------------------
    def _trace_window(self, svc: ServiceInfo, phase: PhaseWindow) -> None:
        room = phase.duration - self.spec.cpu_margin        # one trace at a time: stay inside the phase
        seconds = int(min(self.spec.trace.seconds or room, room))
        if seconds < 1:
            self._failed(svc.name, phase.name, "trace", f"phase lasts {phase.duration:.1f}s, too short")
            return
        folder = self.rc.run_dir / "trace" / phase.name / svc.name
        folder.mkdir(parents=True, exist_ok=True)
        try:
            snap = self._fetch(svc, "trace", seconds)
            out = folder / "trace.out"
            out.write_bytes(snap.data)
            summary = trace.summarize(trace.parsed_events(self.go, out), self.rc.clock.mono_t0)
        except (pprof.FetchError, HarnessError, OSError) as e:
            self._failed(svc.name, phase.name, "trace", str(e))
            return
        start = summary["start_s"] if summary["start_s"] is not None else snap.sent_s
        end = summary["end_s"] if summary["end_s"] is not None else snap.done_s
        (folder / "summary.json").write_text(json.dumps(summary, indent=1))
        self.rc.artifacts.add("trace", out, service=svc.name, phase=phase.name, start_s=start, end_s=end,
                              summary=(folder / "summary.json").relative_to(self.rc.run_dir).as_posix())
        for view in trace.PPROF_VIEWS:
            self._trace_view(svc, phase, out, view, start, end)

    def _trace_view(self, svc, phase, out: Path, view: str, start: float, end: float) -> None:
        path = out.parent / f"{view}.pb.gz"
        try:
            trace.derive_pprof(self.go, out, view, path)
            msg = pprof.parse(path.read_bytes())
        except (pprof.FetchError, HarnessError, OSError) as e:
            self._failed(svc.name, phase.name, f"trace-{view}", str(e))
            return
        self.rc.artifacts.add(f"trace-{view}", path, service=svc.name, phase=phase.name, start_s=start,
                              end_s=end, sample_types=pprof.sample_types(msg))

    # -- perf -----------------------------------------------------------------------------
    def _start_perf(self, svc: ServiceInfo, phase: PhaseWindow) -> None:
        if not svc.pid:
            self._failed(svc.name, phase.name, "perf", "no host PID known for the service")
            return
        out = self.rc.run_dir / "perf" / phase.name / svc.name / "perf.data"
        rec = PerfRecording(svc.pid, out, self.spec.perf.frequency, self.rc.clock)
        try:
            rec.start()
            wait_started(rec)
        except OSError as e:
            self._failed(svc.name, phase.name, "perf", f"cannot start perf record: {e}")
            return
        self._perf[(phase.name, svc.name)] = rec

    def _prepare_perf(self) -> None:
        """Build the perf symbolizer's inline helper from the run's start (conversions wait for it):
        built within the first conversion instead, on a cold Go build cache and a busy machine, it
        took longer than the conversion allowed, and the profile fell back without expansion."""
        try:
            build_inlines(self.go)
        except HarnessError as e:
            self.rc.events.add("capture-note", "perf profiles will not expand inlined calls (the inline "
                               f"helper could not be built: {failure_reason(e)}); {INLINES_NOT_EXPANDED}")

    def _stop_perf(self, svc: ServiceInfo, phase: PhaseWindow) -> None:
        """End the window now (SIGINT); perf's flush and the conversion run in the background."""
        rec = self._perf.pop((phase.name, svc.name), None)
        if rec is not None:
            rec.interrupt()
            self._background.append(_spawn(self._convert_perf, svc, phase, rec))

    def _convert_perf(self, svc: ServiceInfo, phase: PhaseWindow, rec: PerfRecording) -> None:
        out = rec.out.parent / "perf.pb.gz"
        if self._inlines is not None:
            _wait(self._inlines, BUILD_TIMEOUT_S)
        try:
            rec.stop()
            info = convert(rec.out, out, pid=rec.pid, exe=rec.exe, clock=self.rc.clock,
                           frequency=rec.frequency, go=self.go, window=(rec.start_s, rec.end_s))
        except HarnessError as e:
            self._failed(svc.name, phase.name, "perf", e.render())
            return
        self.rc.artifacts.add("perf", out, service=svc.name, phase=phase.name, start_s=rec.start_s,
                              end_s=rec.end_s, sample_types=["samples/count", "cpu/nanoseconds"], **info)
        if info.get("inlines") == NOT_EXPANDED:
            self.rc.events.add("capture-note", f"perf profile of {svc.name} in phase {phase.name}: inlined calls "
                               f"not expanded ({info.get('inlines_reason')}); {INLINES_NOT_EXPANDED}",
                               service=svc.name, phase=phase.name, capture="perf")

    # -- failures -------------------------------------------------------------------------
    def _failed(self, service: str, phase: str | None, kind: str, reason: str) -> None:
        self.rc.events.add("capture-failed", f"{kind} of {service}"
                           + (f" in phase {phase}" if phase else "") + f": {reason}",
                           service=service, phase=phase, capture=kind)


def _origin(pprof_url: str) -> str:
    """http://127.0.0.1:6060/debug/pprof -> http://127.0.0.1:6060"""
    base = pprof_url.rstrip("/")
    for suffix in ("/debug/pprof",):
        if base.endswith(suffix):
            return base[: -len(suffix)]
    return base


def _spawn(fn, *args) -> Future:
    """Run fn(*args) in a daemon thread: a CPU or trace request still in flight when the run is
    interrupted must not keep the harness from exiting."""
    fut: Future = Future()

    def body():
        try:
            fut.set_result(fn(*args))
        except BaseException as e:  # noqa: BLE001 - handed to whoever waits on the future
            fut.set_exception(e)

    threading.Thread(target=body, name=f"capture-{getattr(fn, '__name__', 'job')}", daemon=True).start()
    return fut


def _wait(job: Future, timeout: float) -> None:
    try:
        job.result(timeout=timeout)
    except FutureTimeout:
        pass
    except Exception:  # a bug in a capture thread must not end the run; the job logs nothing else
        import logging

        logging.getLogger("harness.capture").exception("capture job failed")
