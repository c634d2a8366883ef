"""A service whose pprof listener does not answer: every capture fails as an event, nothing raises."""
from __future__ import annotations

import socket

from harness.capture.manager import CaptureManager
from harness.capture.spec import CaptureSpec, WindowSpec
from harness.runctx import Clock, PhaseWindow, RunContext, ServiceInfo


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_failed_fetches_become_events(tmp_path):
    clock = Clock.start()
    svc = ServiceInfo("api", "", "api", 0, {}, {}, f"http://127.0.0.1:{_closed_port()}/debug/pprof")
    phase = PhaseWindow("baseline", 0.0, 2.5)
    rc = RunContext.of("t", tmp_path, clock, {"api": svc})
    spec = CaptureSpec(pprof=("cpu", "heap", "block"), trace=WindowSpec(("baseline",)),
                       perf=WindowSpec(("baseline",)), fetch_timeout=2)
    m = CaptureManager(spec, rc)
    m.start()
    m.phase_start(phase)
    m.phase_end(phase)
    m.stop()
    m.stop()                                          # idempotent
    failed = [e["capture"] for e in rc.events.all() if e["kind"] == "capture-failed"]
    assert set(failed) == {"cpu", "heap", "block", "trace", "perf", "runtime"}
    assert failed.count("runtime") == 1               # the runtime sampler reports its service once
    notes = [e["detail"] for e in rc.events.all() if e["kind"] == "capture-note"]
    assert notes == ["block profiles hold only what api enables itself (no captures.rates endpoint)"]
    assert rc.artifacts.all() == []
    cpu = next(e for e in rc.events.all() if e.get("capture") == "cpu")
    assert "Connection refused" in cpu["detail"] and cpu["phase"] == "baseline"


def test_phase_too_short_for_a_cpu_window(tmp_path):
    clock = Clock.start()
    svc = ServiceInfo("api", "", "api", 0, {}, {}, f"http://127.0.0.1:{_closed_port()}/debug/pprof")
    phase = PhaseWindow("blip", 0.0, 1.5)
    rc = RunContext.of("t", tmp_path, clock, {"api": svc})
    m = CaptureManager(CaptureSpec(pprof=("cpu",), stats_interval=0), rc)
    m.phase_start(phase)
    m.phase_end(phase)
    m.stop()
    (ev,) = rc.events.all()
    assert "a CPU window needs at least 1s" in ev["detail"]
