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


def _cutting_server(body: bytes, *, terminator: bool):
    """A one-shot HTTP server that sends `body` as one chunk of a chunked response and closes the
    connection, with or without the chunked terminator (the CRLF and the last, empty chunk)."""
    import threading
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def serve():
        conn, _ = srv.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n" + b"%x\r\n" % len(body) + body
                         + (b"\r\n0\r\n\r\n" if terminator else b""))
        srv.close()

    threading.Thread(target=serve, daemon=True).start()
    return f"http://127.0.0.1:{srv.getsockname()[1]}/debug/pprof/profile?seconds=1"


def test_a_body_cut_before_its_terminator_is_kept_when_whole(tmp_path):
    import gzip

    import pytest

    from harness.capture import pprof
    whole = gzip.compress(b"profile bytes" * 100)
    assert pprof.http_get(_cutting_server(whole, terminator=True), 5) == whole
    assert pprof.http_get(_cutting_server(whole, terminator=False), 5) == whole
    # a gzip stream cut inside (its CRC and length trailer missing) is not a profile: an error
    # that says what arrived, never an exception of http.client
    with pytest.raises(pprof.FetchError, match="connection closed after"):
        pprof.http_get(_cutting_server(whole[:-6], terminator=False), 5)
    with pytest.raises(pprof.FetchError, match="connection closed after"):
        pprof.http_get(_cutting_server(b"not gzip", terminator=False), 5)
