"""Waits from the runtime trace's derived profiles, classed by stack (harness/report/waits.py):
a wait counts at the innermost own line of its stack, its class comes from the library frames
below that line, not from the view it was found in. A real service's trace: tests/e2e/test_waiting.py."""
from __future__ import annotations

from harness.report import waits
from rundir.pprof import load_profile
from tests.flame.test_flame_synthetic import make_profile

TYPES = (("contentions", "count"), ("delay", "nanoseconds"))
HANDLER = [[("net/http.HandlerFunc.ServeHTTP", 2136)], [("net/http.(*conn).serve", 2092)]]
CLIENT_GET = [[("runtime.selectgo", 351)], [("net/http.(*persistConn).roundTrip", 2700)],
              [("net/http.(*Transport).roundTrip", 700)], [("net/http.(*Client).Get", 491)]]
READ_LOOP = [[("internal/poll.(*FD).Read", 170)], [("net.(*conn).Read", 196)],
             [("net/http.(*persistConn).readLoop", 2493)]]
ACCEPT = [[("internal/poll.(*FD).Accept", 618)], [("net.(*TCPListener).Accept", 387)],
          [("net/http.(*Server).Serve", 3574)], [("main.main", 31)]]


def own(file: str) -> bool:
    return file == "pkg/main.go"


def view(samples) -> object:
    return load_profile(make_profile(samples, TYPES))


def test_a_client_call_is_a_network_wait_though_the_sync_view_holds_it():
    prof = view([(CLIENT_GET + [[("main.fetch", 119)]] + HANDLER, (12, 3_000_000_000)),
                 ([[("sync.(*Mutex).Lock", 80)], [("main.store", 40)]] + HANDLER, (3, 500_000_000))])
    got = waits.own_waits(prof, "sync", own)
    assert dict(got[("pkg/main.go", 119, "main.fetch")]) == {"network": 3_000_000_000}
    assert dict(got[("pkg/main.go", 40, "main.store")]) == {"sync": 500_000_000}


def test_library_goroutines_and_idle_listeners_are_not_own_waits():
    prof = view([(READ_LOOP, (30, 9_000_000_000)), (ACCEPT, (26, 3_700_000_000))])
    got = waits.own_waits(prof, "net", own)
    assert set(got) == {("pkg/main.go", 31, "main.main")}
    assert dict(got[("pkg/main.go", 31, "main.main")]) == {"idle": 3_700_000_000}


def test_inlined_own_frames_count_at_the_inlined_line():
    """A location with an inlined own frame inside a library one: the own frame is the line."""
    prof = view([([[("syscall.read", 736)], [("main.readAll", 12), ("main.handle", 50)]] + HANDLER,
                  (4, 2_000_000_000))])
    got = waits.own_waits(prof, "syscall", own)
    assert dict(got[("pkg/main.go", 12, "main.readAll")]) == {"syscall": 2_000_000_000}


def test_the_table_is_seconds_per_second_by_class_and_line(tmp_path, monkeypatch):
    monkeypatch.setattr(waits.profiles, "own_matcher", lambda service: own)
    files = {}
    for name, samples in {
        "sync": [(CLIENT_GET + [[("main.fetch", 119)]] + HANDLER, (12, 6_000_000_000))],
        "net": [(READ_LOOP, (30, 9_000_000_000)), (ACCEPT, (26, 10_000_000_000))],
        "sched": [([[("main.fetch", 119)]] + HANDLER, (40, 400_000_000))],
        "syscall": [([[("syscall.write", 964)], [("main.fetch", 122)]] + HANDLER, (5, 10_000_000))],
    }.items():
        files[name] = tmp_path / f"{name}.pb.gz"
        files[name].write_bytes(make_profile(samples, TYPES))
    problems: list[str] = []
    t = waits.table({k: str(v) for k, v in files.items()}, {"source_root": "pkg"}, 10.0, problems)
    assert problems == []
    assert t["by_class"] == {"network": 0.6, "sync": 0.0, "syscall": 0.001, "runnable": 0.04}
    top = t["lines"][0]
    assert (top["file"], top["line"], top["class"], top["per_s"], top["runnable_per_s"]) == \
        ("main.go", 119, "network", 0.6, 0.04)
    assert [r["line"] for r in t["lines"]] == [119, 122]    # the idle listener is not waiting


def test_an_unreadable_view_is_a_problem_not_a_failure(tmp_path):
    bad = tmp_path / "net.pb.gz"
    bad.write_bytes(b"not a profile")
    problems: list[str] = []
    assert waits.table({"net": str(bad)}, {}, 10.0, problems) is None
    assert len(problems) == 1 and "net.pb.gz" in problems[0]
