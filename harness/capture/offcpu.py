"""Off-CPU time: where a service's threads were while they were not running, from the scheduler.

Recording: `perf record -e sched:sched_switch -g --switch-events -k mono -p <host pid>`. The
sched_switch tracepoint fires in the context of the thread leaving the CPU, so its call chain
(kernel and user) is where the thread stopped. The PERF_RECORD_SWITCH records perf adds
(--switch-events) say when each thread of the process left the CPU (OUT; `preempt` when it was
still runnable: preempted, or its cgroup ran out of CPU quota) and when it came back (IN).

Conversion: one off-CPU interval per switch-out, from the OUT to the thread's next IN (a thread
still off the CPU when the window ends is charged until the end), charged to the call chain of
the sched_switch sample just before the OUT and labelled `state` = runnable (the thread wanted the
CPU: preemption, CPU quota throttling, a busy run queue) or sleeping (it waited: a blocking
syscall, a futex, the netpoller, page faults). The pprof profile has the values (switches/count,
off_cpu/nanoseconds), the labels state, tid and t_ms (the switch-out on the run clock) and Go
frames symbolized as perf profiles are (harness/capture/perf.py).

Go parks goroutines, not threads: a goroutine waiting on a channel or the network leaves no
thread off the CPU (the runtime trace sees those waits). Off-CPU time is the part of the wait
the kernel sees: syscalls that block (file I/O, cgo), page faults, idle Ms parked in futexes,
the netpoller's epoll_wait, and runnable threads the CPU quota or the run queue kept waiting.
"""
from __future__ import annotations

import functools
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness import proc
from harness.capture.perf import FRAME_RE, PerfSample, write_profile
from harness.errors import HarnessError

EVENTS = ["-e", "sched:sched_switch", "--switch-events"]
SCRIPT_FIELDS = "comm,pid,tid,time,event,ip,sym,symoff,dso"
LINE_RE = re.compile(r"^\s*(?P<comm>.*?)\s+(?P<pid>\d+)/(?P<tid>\d+)\s+(?P<time>\d+\.\d+):\s+(?P<what>.*?)\s*$")
SWITCH_RE = re.compile(r"^PERF_RECORD_SWITCH(?:_CPU_WIDE)?\s+(?P<dir>IN|OUT)\b(?P<rest>.*)$")
RUNNABLE, SLEEPING = "runnable", "sleeping"


@dataclass
class Interval:
    """One stretch a thread spent off the CPU (CLOCK_MONOTONIC seconds)."""
    tid: int
    start: float
    end: float
    state: str                                     # RUNNABLE or SLEEPING
    frames: list[tuple[str, int | None, str]]      # where it stopped: (symbol, offset, dso), leaf first


def intervals(text: str, until: float | None = None) -> tuple[list[Interval], int]:
    """Off-CPU intervals from `perf script --show-switch-events -F SCRIPT_FIELDS --ns` (pure).

    Returns (intervals in switch-out order, switch-outs without a sched_switch call chain). A
    thread still out when the text ends is charged until `until` (left out without it)."""
    stack: dict[int, list] = {}          # tid -> call chain of its last sched_switch sample
    out: dict[int, Interval] = {}        # tid -> the interval it is in
    done: list[Interval] = []
    unstacked = 0
    frames: list | None = None
    for line in text.splitlines():
        if not line.strip():
            frames = None
            continue
        if line[0].isspace() and frames is not None:
            m = FRAME_RE.match(line)
            if m:
                frames.append((m["sym"] or "[unknown]", int(m["off"], 16) if m["off"] else None, m["dso"]))
            continue
        m = LINE_RE.match(line)
        if not m:
            frames = None
            continue
        tid, t = int(m["tid"]), float(m["time"])
        sw = SWITCH_RE.match(m["what"])
        if sw is None:
            frames = None
            if m["what"].startswith("sched:sched_switch"):
                frames = stack[tid] = []
            continue
        frames = None
        if sw["dir"] == "OUT":
            chain = stack.pop(tid, None)
            if not chain:
                unstacked += 1
                continue
            out[tid] = Interval(tid, t, t, RUNNABLE if "preempt" in sw["rest"] else SLEEPING, chain)
        else:
            iv = out.pop(tid, None)
            if iv is not None and t >= iv.start:
                iv.end = t
                done.append(iv)
    if until is not None:
        for iv in out.values():
            if until > iv.start:
                iv.end = until
                done.append(iv)
    done.sort(key=lambda iv: iv.start)
    return done, unstacked


def to_samples(ivs: list[Interval]) -> list[PerfSample]:
    return [PerfSample(iv.start, iv.tid, max(1, round((iv.end - iv.start) * 1e9)), iv.frames,
                       labels={"state": iv.state}) for iv in ivs]


def convert(data: Path, out: Path, *, pid: int, exe: str, clock, go: str = "go", timeout: float = 120.0,
            window: tuple[float, float], join=None) -> dict:
    """perf.data of sched switches -> an off-CPU pprof profile at `out`; returns {switches,
    unstacked, runnable_s, sleeping_s, symbolized, inlines, on_goroutines (with `join`)}. `window`
    (run clock) bounds the intervals: perf keeps recording for a moment after SIGINT. `join`
    labels each interval with the goroutine its thread ran when it left the CPU."""
    res = proc.run(["perf", "script", "-i", str(data), "--show-switch-events", "-F", SCRIPT_FIELDS, "--ns"],
                   timeout=timeout, what="perf script could not read the off-CPU recording")
    lo, hi = clock.mono_t0 + window[0], clock.mono_t0 + window[1]
    ivs, unstacked = intervals(res.stdout, until=hi)
    ivs = [iv for iv in ivs if lo <= iv.start < hi]
    for iv in ivs:
        iv.end = min(iv.end, hi)
    by_state = {RUNNABLE: 0.0, SLEEPING: 0.0}
    for iv in ivs:
        by_state[iv.state] += iv.end - iv.start
    info = {"switches": len(ivs), "unstacked": unstacked,
            "runnable_s": round(by_state[RUNNABLE], 3), "sleeping_s": round(by_state[SLEEPING], 3)}
    info.update(write_profile(to_samples(ivs), out, pid=pid, exe=exe, clock=clock, go=go, join=join,
                              count_type=("switches", "count"), value_type=("off_cpu", "nanoseconds"),
                              window=(lo, hi)))
    return info


@functools.lru_cache(maxsize=1)
def probe(timeout: float = 30.0) -> tuple[bool, str]:
    """Whether perf can record sched_switch with call chains and switch records here (`harness
    doctor`'s "sched-switch"; the off-CPU capture asks once per process)."""
    try:
        with tempfile.TemporaryDirectory() as tmp:
            data = f"{tmp}/perf.data"
            proc.run(["perf", "record", "-q", *EVENTS, "-g", "-k", "mono", "-o", data, "--", "sleep", "0.01"],
                     timeout=timeout, what="perf record -e sched:sched_switch failed")
            res = proc.run(["perf", "script", "-i", data, "--show-switch-events", "-F", SCRIPT_FIELDS, "--ns"],
                           timeout=timeout, what="perf script could not read the recording")
    except HarnessError as e:
        return False, e.what + (f": {(e.seen or '').strip()[-200:]}" if e.seen else "")
    ivs, _ = intervals(res.stdout)
    if not ivs:
        return False, "perf recorded no off-CPU interval of `sleep 0.01` (no sched_switch samples or switch records)"
    return True, f"perf sched:sched_switch + switch records: `sleep 0.01` was off the CPU for " \
                 f"{sum(iv.end - iv.start for iv in ivs) * 1000:.0f} ms"
