"""perf and pprof name the same hot function and line, whether the hot function is inlined into
its caller or not, with the perf symbolizer's inline helper not yet built (a fresh cache): a real
Go process writing its own CPU profile while perf records it. Where the helper cannot run, the
conversion says so instead of charging callers silently.

The helper once fell back silently on a loaded machine (it was built lazily, at a phase end,
within the conversion's timeout): a caller of inlined code then read as (caller, callee's
file:line), not an own line, and perf put 56% on the caller's call site where pprof had the hot
line (issue "Truth first")."""
from __future__ import annotations

import contextlib
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from harness import proc
from harness.capture import perf
from harness.capture.manager import CaptureManager
from harness.capture.perf import EXPANDED, NOT_EXPANDED, PerfRecording, convert, wait_started
from harness.capture.spec import CaptureSpec, WindowSpec
from harness.runctx import Clock, PhaseWindow, RunContext, ServiceInfo
from rundir.gosource import go_binary
from tests.hotspots import OwnLines, assert_agree, own_lines
from tests.images import build_go_binary

pytestmark = pytest.mark.skipif(shutil.which("perf") is None, reason="perf is not installed")

SRC = Path(__file__).parent / "perfagree"
CPU_SECONDS = 4.0       # pprof samples at 100 Hz: about 400 samples
PERF_HZ = 199


def marker(text: str) -> int:
    return next(i for i, line in enumerate((SRC / "main.go").read_text().splitlines(), 1) if text in line)


@pytest.fixture(scope="module")
def binary(tmp_path_factory) -> Path:
    exe = build_go_binary(SRC, tmp_path_factory.mktemp("perfagree") / "perfagree")
    names = proc.run([go_binary(), "tool", "nm", str(exe)], timeout=60).stdout
    # the build is what the tests say it is: one hot function inlined, the other not
    assert " main.hotCalled" in names and " main.hotInlined" not in names, names
    return exe


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch) -> Path:
    """An empty XDG cache: the inline helper is not built yet (the Go build cache stays where
    it is, or every test would compile the standard library again)."""
    gocache = proc.run([go_binary(), "env", "GOCACHE"], timeout=60).stdout.strip()
    monkeypatch.setenv("GOCACHE", gocache)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert not perf.inlines_path().exists()
    return tmp_path / "cache"


@contextlib.contextmanager
def burning(binary: Path, mode: str, cpu: Path):
    """The program in `mode`, profiling itself to `cpu`; yields (child, go) where go() starts
    the burn and waits for its end. The child stays alive until the block ends."""
    child = subprocess.Popen([str(binary), mode, str(cpu), str(CPU_SECONDS)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)

    def go() -> None:
        child.stdin.write("go\n")
        child.stdin.flush()
        done = child.stdout.readline().strip()       # after CPU_SECONDS of CPU time; bounded below
        assert done == "done", done
    try:
        assert child.stdout.readline().strip() == "ready"
        yield child, go
    finally:
        child.stdin.close()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()


def own(binary: Path, path: Path) -> OwnLines:
    main = str(binary.parent / "src" / "main.go")      # build_go_binary builds from a copy
    return own_lines(path, "cpu", lambda f: f == main)


def record(binary: Path, mode: str, tmp: Path, go: str) -> tuple[dict, OwnLines, OwnLines]:
    """Run the program in `mode` under perf; (conversion info, perf's own lines, pprof's)."""
    clock = Clock.start()
    cpu, out = tmp / f"{mode}.cpu.pb.gz", tmp / f"{mode}.perf.pb.gz"
    with burning(binary, mode, cpu) as (child, burn):
        rec = PerfRecording(child.pid, tmp / f"{mode}.perf.data", PERF_HZ, clock)
        rec.start()
        wait_started(rec)
        burn()
        rec.stop()
        info = convert(rec.out, out, pid=child.pid, exe=rec.exe, clock=clock, frequency=PERF_HZ, go=go)
    return info, own(binary, out), own(binary, cpu)


@pytest.fixture(autouse=True)
def bounded():
    """The child burns CPU time, not wall time: on a busy machine it takes longer, never forever."""
    import signal

    def expired(*_):
        raise TimeoutError("the perf agreement test took over 5 minutes")
    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(300)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


@pytest.mark.parametrize("mode,function,line", [
    ("inlined", "main.hotInlined", marker("// HOT INLINED")),
    ("called", "main.hotCalled", marker("// HOT CALLED")),
])
def test_perf_and_pprof_agree_on_a_fresh_cache(binary, fresh_cache, tmp_path, mode, function, line):
    info, by_perf, by_pprof = record(binary, mode, tmp_path, go_binary())
    print("perf:", by_perf.table(), "\npprof:", by_pprof.table())
    assert info["symbolized"] and info["inlines"] == EXPANDED, info
    assert perf.inlines_path().exists()         # built by the conversion itself
    assert by_perf.samples >= 300 and by_pprof.samples >= 200, (by_perf.table(), by_pprof.table())
    assert by_pprof.top_function() == function, by_pprof.table()
    assert_agree(by_perf, by_pprof, line)
    top = by_perf.lines[0]
    assert (top.function, top.line) == (function, line) and top.share >= 0.5, by_perf.table()


def failing_go(tmp: Path) -> str:
    """A `go` whose `build` fails (the helper cannot be built) and which runs every other
    subcommand (nm, addr2line) with the real toolchain."""
    script = tmp / "go"
    script.write_text(f"#!/bin/sh\n[ \"$1\" = build ] && {{ echo 'build refused for the test' >&2; exit 1; }}\n"
                      f"exec {go_binary()} \"$@\"\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def test_without_the_helper_the_conversion_says_so(binary, fresh_cache, tmp_path):
    info, by_perf, by_pprof = record(binary, "inlined", tmp_path, failing_go(tmp_path))
    print("perf:", by_perf.table(), "\npprof:", by_pprof.table())
    assert info["symbolized"] and info["inlines"] == NOT_EXPANDED, info
    assert "build refused for the test" in info["inlines_reason"], info
    assert not perf.inlines_path().exists()
    # what the note warns of: one frame per address, the inlined callee's own line is gone
    assert "main.hotInlined" not in {ln.function for ln in by_perf.lines}, by_perf.table()
    assert by_pprof.top_function() == "main.hotInlined", by_pprof.table()


def test_a_stripped_binary_says_so(tmp_path, fresh_cache):
    """Without DWARF the helper exits 3: one frame per address, and the reason names it."""
    stripped = tmp_path / "stripped"
    proc.run([go_binary(), "build", "-ldflags=-w", "-o", str(stripped), "."], cwd=str(SRC),
             env={**os.environ, "CGO_ENABLED": "0", "GOTOOLCHAIN": "local", "GOPROXY": "off",
                  "GOFLAGS": "-mod=mod"}, timeout=300)
    sym = perf.Symbolizer(str(stripped), go=go_binary())
    sym.load_symbols()
    pc = sym.address("main.loopCalled", 0)
    frames = sym.frames([pc])
    assert sym.mode == NOT_EXPANDED and "no DWARF" in sym.why, (sym.mode, sym.why)
    assert frames[pc][0][0] == "main.loopCalled", frames


def test_the_run_says_so_when_inlined_calls_are_not_expanded(binary, fresh_cache, tmp_path, monkeypatch):
    """The capture manager builds the helper from the run's start and tells the run when it cannot:
    once for the run, and for each perf profile converted without it (report notes)."""
    monkeypatch.setenv("HARNESS_GO", failing_go(tmp_path))
    clock = Clock.start()
    with burning(binary, "called", tmp_path / "cpu.pb.gz") as (child, burn):
        svc = ServiceInfo("api", "", "api", child.pid, {}, {}, "http://127.0.0.1:9/debug/pprof")
        rc = RunContext.of("t", tmp_path / "run", clock, {"api": svc})
        m = CaptureManager(CaptureSpec(perf=WindowSpec(("baseline",)), stats_interval=0), rc)
        m.start()
        phase = PhaseWindow("baseline", clock.now(), clock.now() + CPU_SECONDS)
        m.phase_start(phase)
        burn()
        m.phase_end(phase)
        m.stop()
    notes = [e["detail"] for e in rc.events.all() if e["kind"] == "capture-note"]
    assert any("will not expand inlined calls" in n and "build refused" in n for n in notes), notes
    (a,) = [a for a in rc.artifacts.all() if a["kind"] == "perf"]
    assert a["inlines"] == NOT_EXPANDED and a["samples"] > 100, a
    (note,) = [e for e in rc.events.all() if e["kind"] == "capture-note" and e.get("capture") == "perf"]
    assert note["phase"] == "baseline" and "inlined calls not expanded" in note["detail"], note
    assert "trust pprof's cpu profile" in note["detail"]
