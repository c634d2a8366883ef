"""CaptureManager: drives every capture kind the scenario asks for through one run.

The engine calls start(), then phase_start(p)/phase_end(p) for every phase, then stop(). The
kinds (harness/capture/kinds) do the work; harness/capture/kind.py is their interface. A failed
capture never raises: it becomes a `capture-failed` event and the run goes on.
"""
from __future__ import annotations

import threading
import time

from harness import docker_engine as engine
from harness.capture.kind import Capture, CaptureRun, wait_all
from harness.capture.kinds import KINDS
from harness.capture.spec import CaptureSpec
from harness.errors import HarnessError
from harness.runctx import PhaseWindow, RunContext

STOP_WAIT_S = 120.0   # stop() waits at most this long, in all, for trace and perf conversions


def preflight(spec: CaptureSpec | None, where: str = "captures", eng: engine.Engine | None = None) -> None:
    """Refuse, before anything starts, a capture this engine cannot serve: those that need the
    containers' processes on this host (perf, off-CPU time, function latency) on a remote engine."""
    eng = eng or engine.current()
    if spec is None or eng.local:
        return
    for k in KINDS:
        if "local-engine" in k.needs and k.asked(spec):
            raise HarnessError(f"captures: {k.name} needs the Docker engine on this host", where=where,
                               seen=f"the engine is {eng.describe()}",
                               hint="remove it for this engine (pprof, trace and runtime captures work on a "
                                    "remote engine), or run against the local engine")


class CaptureManager:
    def __init__(self, spec: CaptureSpec | None, rc: RunContext, kinds=KINDS):
        self.run = CaptureRun(spec or CaptureSpec(), rc)
        self.spec, self.rc = self.run.spec, rc
        self.captures: list[Capture] = [k(self.run) for k in kinds if k.wanted(self.run)]
        self._lock = threading.Lock()
        self._stopped = False

    def start(self) -> None:
        """May raise HarnessError (a function captures.functions names is not in the binary):
        before any load; stop() still tears down what started."""
        for c in self.captures:
            c.start()

    def phase_start(self, phase: PhaseWindow) -> None:
        if self._stopped:
            return
        for c in self.captures:
            c.phase_start(phase)

    def phase_end(self, phase: PhaseWindow) -> None:
        """Every kind ends its windows, then the phase end waits for their fetches."""
        if self._stopped:
            return
        jobs = [job for c in self.captures for job in c.phase_end(phase)]
        wait_all(jobs, time.monotonic() + self.spec.fetch_timeout + self.spec.cpu_margin + 5)

    def latest_stats(self) -> dict[str, dict]:
        """The newest container-stats line per service (for the engine's progress display)."""
        out: dict[str, dict] = {}
        for c in self.captures:
            for service, line in c.progress().items():
                out.setdefault(service, {}).update(line)
        return out

    def stop(self) -> None:
        """Idempotent: every kind stops recording, then waits for its conversions (STOP_WAIT_S
        in all) and registers what is left."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        deadline = time.monotonic() + STOP_WAIT_S
        errors = [e for e in (_call(c.stop) for c in self.captures) if e]
        errors += [e for e in (_call(c.finish, deadline) for c in self.captures) if e]
        if errors:       # every kind stopped and finished; the first failure is the one to tell
            raise errors[0]


def _call(fn, *args) -> BaseException | None:
    try:
        fn(*args)
    except Exception as e:  # noqa: BLE001 - raised by stop() once every kind had its turn
        return e
    return None
