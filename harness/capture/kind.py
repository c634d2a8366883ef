"""The capture interface: every kind of capture is one class in harness/capture/kinds/ that the
manager drives through the same five calls, and a CaptureRun they all share.

The manager calls, in the order of harness/capture/kinds.KINDS:
  start()             once, before any load (may raise HarnessError: the run fails before load);
  phase_start(p)      at every phase's start;
  phase_end(p)        at every phase's end: quick, returns the jobs the phase end waits for;
  stop()              once, also after an interrupted run: end every recording now;
  finish(deadline)    once, after every kind stopped: wait for conversions (at most until the
                      monotonic `deadline`) and register what is left.
A failed capture never raises out of phase_start/phase_end/stop/finish: it becomes a
`capture-failed` event (CaptureRun.failed) and the run goes on.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import ClassVar

from harness.capture import pprof
from harness.capture.spec import CaptureSpec
from harness.runctx import PhaseWindow, RunContext, ServiceInfo
from rundir.gosource import go_binary


class CaptureRun:
    """What every capture kind of one run shares: the scenario's captures, the run, the Go
    toolchain, which services each kind covers, pprof fetches and failure events."""

    def __init__(self, spec: CaptureSpec, rc: RunContext):
        self.spec, self.rc = spec, rc
        self.go = go_binary()
        self.restarts: dict[str, int] = {}       # container restarts seen so far, by service

    def pprof_services(self) -> list[ServiceInfo]:
        return [s for s in self.rc.services.values() if s.pprof_url and self.spec.wants_service(s.name)]

    def perf_services(self) -> list[ServiceInfo]:
        """Services perf records: those with pprof, or the ones `captures.services` names."""
        if self.spec.services is None:
            return self.pprof_services()
        return [s for s in self.rc.services.values() if self.spec.wants_service(s.name)]

    def container_services(self) -> list[ServiceInfo]:
        return [s for s in self.rc.services.values() if s.container_id]

    def fetch(self, svc: ServiceInfo, kind: str, seconds: int | None = None) -> pprof.Snapshot:
        """One /debug/pprof request, stamped on the run clock when sent and when answered."""
        sent = self.rc.clock.now()
        timeout = self.spec.fetch_timeout + (seconds or 0)
        data = pprof.http_get(pprof.profile_url(svc.pprof_url, kind, seconds), timeout)
        return pprof.Snapshot(data, sent, self.rc.clock.now())

    def failed(self, service: str, phase: str | None, kind: str, reason: str) -> None:
        self.rc.events.add("capture-failed", f"{kind} of {service}"
                           + (f" in phase {phase}" if phase else "") + f": {reason}",
                           service=service, phase=phase, capture=kind)


class Capture:
    """One kind of capture. Subclasses name themselves, the host capabilities they need (names of
    `harness doctor`'s probes) and the artifact kinds they write, and override the calls they use.

    A kind with a `key` owns the scenario section `captures.<key>`: `schema` is its JSON-Schema
    fragment and `parse(node, ctx)` reads it (file:line errors through the node); what it returns
    is `run.spec.own[key]` (absent when the scenario has no such section)."""

    name: ClassVar[str] = ""
    needs: ClassVar[tuple[str, ...]] = ()
    writes: ClassVar[tuple[str, ...]] = ()
    key: ClassVar[str | None] = None
    schema: ClassVar[dict] = {}

    @classmethod
    def parse(cls, node, ctx) -> object:
        raise NotImplementedError

    def __init__(self, run: CaptureRun):
        self.run = run
        self.spec, self.rc = run.spec, run.rc

    @classmethod
    def wanted(cls, run: CaptureRun) -> bool:
        """Whether the scenario asks for this kind (and it has anything to capture)."""
        raise NotImplementedError

    @classmethod
    def asked(cls, spec) -> bool:
        """Whether the scenario's captures section asks for this kind at all (before anything
        runs: the preflight's question)."""
        return cls.key is not None and cls.key in spec.own

    def start(self) -> None:
        pass

    def phase_start(self, phase: PhaseWindow) -> None:
        pass

    def phase_end(self, phase: PhaseWindow) -> Iterable[Future]:
        return ()

    def stop(self) -> None:
        pass

    def finish(self, deadline: float) -> None:
        pass

    def progress(self) -> dict[str, dict]:
        """The newest figures per service for the engine's live display (container stats)."""
        return {}


def spawn(fn, *args) -> Future:
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


def wait(job: Future, timeout: float) -> None:
    """Wait for a capture job at most `timeout` seconds; its own errors are its business (each job
    turns them into events), a bug is logged and never ends the run."""
    try:
        job.result(timeout=timeout)
    except FutureTimeout:
        pass
    except Exception as e:  # noqa: BLE001
        log = logging.getLogger("harness.capture")
        log.error("a capture job failed (a harness bug; please report it): %s: %s", type(e).__name__, e)
        log.debug("the failed capture job", exc_info=e)


def wait_all(jobs, deadline: float) -> None:
    """wait() for every job, all of them by the same monotonic `deadline` (each gets at least 0.1 s)."""
    for job in jobs:
        wait(job, max(0.1, deadline - time.monotonic()))
