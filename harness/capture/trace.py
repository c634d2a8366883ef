"""Runtime execution traces: the blocking views as pprof files, and a summary without a browser.

`go tool trace -pprof=sched|sync|net|syscall trace.out` gives the derived profiles.
`go tool trace -d=parsed trace.out` prints every event as text; `summarize` reads it:

- the trace's window on the run clock: Sync events carry `Trace=<trace ns> Mono=<CLOCK_MONOTONIC ns>`,
  so an event at trace time T happened at mono T + (Mono - Trace);
- GC: cycles (ranges "GC concurrent mark phase"), stop-the-world pauses of the GC
  (ranges "stop-the-world (GC ...)"): count, total, max;
- goroutines created (NotExist->Runnable);
- time goroutines spent waiting, by the reason the runtime gives (Running->Waiting until
  Waiting->Runnable), in syscalls, and runnable but not running;
- scheduler latency: every Runnable->Running transition's wait, in an HdrHistogram (1 µs to
  60 s, 2 significant digits): count, percentiles, the curve the report plots.

With `threads_out`, the reader also writes which goroutine ran on which OS thread, when (the
events' `M=` is the thread's id in the service's own PID namespace): a goroutine is on the thread
of the event that made it Running or Syscall until it leaves both; and each goroutine created
during the trace with its start function (the TransitionStack of NotExist->Runnable). perf
samples are joined to goroutines through it (harness/capture/goroutines.py).
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from collections import defaultdict
from pathlib import Path

from hdrh.histogram import HdrHistogram

from harness import proc
from harness.errors import HarnessError

PPROF_VIEWS = ("sched", "sync", "net", "syscall")
EVENT_RE = re.compile(r"^M=\S+ P=\S+ G=\S+ (\w+) Time=(\d+)(.*)$")
TRANS_RE = re.compile(r"GoID=(\d+) (\w+)->(\w+) Reason=\"([^\"]*)\"")
NAME_RE = re.compile(r"Name=\"([^\"]*)\" Scope=(\S+)")
SYNC_RE = re.compile(r"Trace=(\d+) Mono=(\d+)")
THREAD_RE = re.compile(r"^M=(-?\d+) P=\S+ G=\S+ StateTransition Time=(\d+) GoID=(\d+) (\w+)->(\w+)")
FRAME_FN_RE = re.compile(r"^\t(\S.*?) @ 0x[0-9a-f]+$")
ON_THREAD = ("Running", "Syscall")


def _background(cmd: list[str]) -> list[str]:
    """Reading a trace runs at a lower priority (nice 10) than the harness's other work: the
    capture kind reads traces when the run stops, while perf conversions and the teardown may
    still be going on."""
    nice = shutil.which("nice")
    return [nice, "-n", "10", *cmd] if nice else cmd


def derive_pprof(go: str, trace: Path, view: str, out: Path, timeout: float = 60.0) -> None:
    """Write `go tool trace -pprof=<view>` (gzip protobuf on stdout) to `out`."""
    proc.run(_background([go, "tool", "trace", f"-pprof={view}", str(trace)]), timeout=timeout,
             stdout_path=str(out), what=f"go tool trace -pprof={view} failed")


def parsed_events(go: str, trace: Path, timeout: float = 120.0) -> str:
    return proc.run(_background([go, "tool", "trace", "-d=parsed", str(trace)]), timeout=timeout,
                    what="go tool trace could not parse the runtime trace").stdout


class _Summary:
    def __init__(self):
        self.first = self.last = None
        self.offset = None                      # mono ns - trace ns
        self.gc_cycles = 0
        self.stw: list[int] = []
        self.created = 0
        self.blocked = defaultdict(int)         # reason -> ns
        self.syscall_ns = 0
        self.runnable_ns = 0
        self.sched = HdrHistogram(1, SCHED_MAX_US, 2)   # runnable -> running, in microseconds
        self.since: dict[str, tuple[str, str, int]] = {}   # goid -> (state, reason, t)
        self.open_ranges: dict[tuple[str, str], int] = {}

    def event(self, kind: str, t: int, rest: str) -> None:
        self.first = t if self.first is None else min(self.first, t)
        self.last = t if self.last is None else max(self.last, t)
        if kind == "StateTransition":
            m = TRANS_RE.search(rest)
            if m:
                self.transition(m[1], m[2], m[3], m[4], t)
        elif kind in ("RangeBegin", "RangeEnd"):
            m = NAME_RE.search(rest)
            if m:
                self.range(kind, m[1], m[2], t)
        elif kind == "Sync" and self.offset is None:
            m = SYNC_RE.search(rest)
            if m:
                self.offset = int(m[2]) - int(m[1])

    def transition(self, goid: str, old: str, new: str, reason: str, t: int) -> None:
        if old == "NotExist" and new == "Runnable":
            self.created += 1
        prev = self.since.get(goid)
        if prev is not None and prev[0] == old:
            dt = t - prev[2]
            if old == "Waiting":
                self.blocked[prev[1] or "unknown"] += dt
            elif old == "Syscall":
                self.syscall_ns += dt
            elif old == "Runnable":
                self.runnable_ns += dt
                if new == "Running":
                    self.sched.record_value(min(SCHED_MAX_US, max(1, round(dt / 1000))))
        self.since[goid] = (new, reason, t)

    def range(self, kind: str, name: str, scope: str, t: int) -> None:
        key = (name, scope)
        if kind == "RangeBegin":
            self.open_ranges[key] = t
            if name == "GC concurrent mark phase":
                self.gc_cycles += 1
            return
        start = self.open_ranges.pop(key, None)
        if start is not None and name.startswith("stop-the-world (GC"):
            self.stw.append(t - start)

    def result(self, mono_t0: float | None) -> dict:
        def run_s(t):
            if t is None or self.offset is None or mono_t0 is None:
                return None
            return round((t + self.offset) / 1e9 - mono_t0, 6)

        ms = lambda ns: round(ns / 1e6, 3)
        return {
            "schema_version": 1,
            "start_s": run_s(self.first), "end_s": run_s(self.last),
            "duration_ms": ms((self.last or 0) - (self.first or 0)),
            "gc": {"cycles": self.gc_cycles, "stw_pauses": len(self.stw), "stw_total_ms": ms(sum(self.stw)),
                   "stw_max_ms": ms(max(self.stw, default=0))},
            "goroutines_created": self.created,
            "blocked_ms": {k: ms(v) for k, v in sorted(self.blocked.items(), key=lambda kv: -kv[1])},
            "syscall_ms": ms(self.syscall_ns),
            "runnable_ms": ms(self.runnable_ns),
            "sched_latency": sched_latency(self.sched),
        }


SCHED_MAX_US = 60_000_000
SCHED_PERCENTILES = (0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 100)


def sched_latency(h: HdrHistogram) -> dict:
    """Scheduler latency (each runnable -> running transition of a goroutine) as milliseconds:
    count, p50, p90, p99, p99.9, max, mean, and the percentile curve the report plots."""
    n = h.get_total_count()
    ms = lambda us: round(us / 1000, 3)
    if not n:
        return {"count": 0, "p50_ms": None, "p90_ms": None, "p99_ms": None, "p999_ms": None,
                "max_ms": None, "mean_ms": None, "percentiles": []}
    return {"count": n, "p50_ms": ms(h.get_value_at_percentile(50)), "p90_ms": ms(h.get_value_at_percentile(90)),
            "p99_ms": ms(h.get_value_at_percentile(99)), "p999_ms": ms(h.get_value_at_percentile(99.9)),
            "max_ms": ms(h.get_max_value()), "mean_ms": ms(h.get_mean_value()),
            "percentiles": [[p, ms(h.get_value_at_percentile(p) if p < 100 else h.get_max_value())]
                            for p in SCHED_PERCENTILES]}


class _Threads:
    """Which goroutine ran on which OS thread, when (trace ns), and where goroutines started."""

    def __init__(self):
        self.on: dict[int, tuple[int, int]] = {}              # goid -> (thread, since)
        self.runs: dict[int, list[list[int]]] = defaultdict(list)   # thread -> [[start, end, goid]]
        self.starts: dict[int, str] = {}                      # goid -> its start function
        self.created: int | None = None                       # goid whose TransitionStack comes next

    def line(self, line: str) -> None:
        if line.startswith("M="):
            self.created = None
            m = THREAD_RE.match(line)
            if m:
                self.transition(int(m[1]), int(m[3]), m[4], m[5], int(m[2]))
            return
        if self.created is not None and line != "TransitionStack=":
            f = FRAME_FN_RE.match(line)
            if f:
                self.starts[self.created] = f[1]
            self.created = None

    def transition(self, thread: int, goid: int, old: str, new: str, t: int) -> None:
        if old == "NotExist":
            self.created = goid
        cur = self.on.get(goid)
        if new in ON_THREAD:
            if cur is not None and cur[0] == thread:
                return                                  # Running <-> Syscall on its thread
            if cur is not None:
                self._close(goid, t)
            if thread >= 0:
                self.on[goid] = (thread, t)
        elif cur is not None:
            self._close(goid, t)

    def _close(self, goid: int, t: int) -> None:
        thread, since = self.on.pop(goid)
        if t > since:
            self.runs[thread].append([since, t, goid])

    def result(self, offset: int, last: int) -> dict:
        """On CLOCK_MONOTONIC ns (trace ns + offset); goroutines still on a thread end at `last`."""
        for goid in list(self.on):
            self._close(goid, last)
        return {"schema_version": 1, "clock": "CLOCK_MONOTONIC ns",
                "threads": {str(th): sorted([s + offset, e + offset, g] for s, e, g in runs)
                            for th, runs in sorted(self.runs.items())},
                "starts": {str(g): fn for g, fn in sorted(self.starts.items())}}


def _read(parsed: str, threads: _Threads | None = None) -> _Summary:
    """One pass over `go tool trace -d=parsed` output; `threads` (when given) reads the
    goroutines' threads from the same lines."""
    s = _Summary()
    for line in parsed.splitlines():
        if threads is not None:
            threads.line(line)
        m = EVENT_RE.match(line) if line.startswith("M=") else None
        if m:
            s.event(m[1], int(m[2]), m[3])
    return s


def summarize(parsed: str, mono_t0: float | None = None) -> dict:
    """The summary of a trace from `go tool trace -d=parsed` output (pure)."""
    return _read(parsed).result(mono_t0)


def _on_clock(threads: _Threads, s: _Summary) -> dict | None:
    """The threads read with summary `s`, on CLOCK_MONOTONIC; None without a Sync event (no clock)."""
    return None if s.offset is None else threads.result(s.offset, s.last or 0)


def goroutine_threads(parsed: str) -> dict | None:
    """Which goroutine ran on which thread (CLOCK_MONOTONIC ns), from parsed events (pure); None
    without a Sync event (no clock to put it on)."""
    threads = _Threads()
    return _on_clock(threads, _read(parsed, threads))


def summary_of(go: str, trace: Path, mono_t0: float | None, timeout: float = 180.0,
               threads_out: Path | None = None) -> dict:
    """The summary of a trace file, made in a child process at background priority: the parsed
    events of a busy service's 15 s trace are some 30 MB of text, kept out of the harness's own
    memory and off the interpreter its other threads share. With `threads_out`, the child also
    writes the goroutines' threads there (JSON; nothing without a clock)."""
    argv = [sys.executable, "-m", "harness.capture.trace", "--go", go, "--trace", str(trace)]
    if mono_t0 is not None:
        argv += ["--mono-t0", repr(mono_t0)]
    if threads_out is not None:
        argv += ["--threads-out", str(threads_out)]
    out = proc.run(_background(argv), timeout=timeout, what="the runtime trace could not be summarized").stdout
    try:
        return json.loads(out)
    except ValueError as e:
        raise HarnessError(f"the runtime trace's summary is not JSON ({e}): {out[:200]!r}") from None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Summarize a Go runtime trace (harness/capture/trace.py).")
    ap.add_argument("--go", required=True)
    ap.add_argument("--trace", required=True)
    ap.add_argument("--mono-t0", type=float, default=None)
    ap.add_argument("--threads-out", default=None)
    args = ap.parse_args(argv)
    threads = _Threads() if args.threads_out else None
    try:
        s = _read(parsed_events(args.go, Path(args.trace)), threads)
    except HarnessError as e:
        print(str(e), file=sys.stderr)
        return 1
    placed = _on_clock(threads, s) if threads is not None else None
    if placed is not None:
        Path(args.threads_out).write_text(json.dumps(placed, separators=(",", ":")))
    print(json.dumps(s.result(args.mono_t0)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
