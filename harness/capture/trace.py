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


def summarize(parsed: str, mono_t0: float | None = None) -> dict:
    """The summary of a trace from `go tool trace -d=parsed` output (pure)."""
    s = _Summary()
    for line in parsed.splitlines():
        if not line.startswith("M="):
            continue
        m = EVENT_RE.match(line)
        if m:
            s.event(m[1], int(m[2]), m[3])
    return s.result(mono_t0)


def summary_of(go: str, trace: Path, mono_t0: float | None, timeout: float = 180.0) -> dict:
    """The summary of a trace file, made in a child process at background priority: the parsed
    events of a busy service's 15 s trace are some 30 MB of text, kept out of the harness's own
    memory and off the interpreter its other threads share."""
    argv = [sys.executable, "-m", "harness.capture.trace", "--go", go, "--trace", str(trace)]
    if mono_t0 is not None:
        argv += ["--mono-t0", repr(mono_t0)]
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
    args = ap.parse_args(argv)
    try:
        summary = summarize(parsed_events(args.go, Path(args.trace)), args.mono_t0)
    except HarnessError as e:
        print(str(e), file=sys.stderr)
        return 1
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
