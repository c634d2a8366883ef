"""perf samples joined to the goroutines the runtime trace saw on the same threads, on one clock.

perf names a sample's thread by its host TID and stamps it with CLOCK_MONOTONIC (`-k mono`). The
runtime trace names threads by their id in the service's own PID namespace (`M=`, what gettid()
returns inside the container) and maps its clock to CLOCK_MONOTONIC through its Sync events. So:
host TID -> the container's TID (the last field of NSpid in /proc/<pid>/task/<tid>/status, read
while the process lives), then the goroutine on that thread at that time
(`trace/<phase>/<service>/threads.json`, written by harness/capture/trace.py). A joined sample gets
the numeric label `goroutine` and, for goroutines created during the trace, the string label
`goroutine_start` (the function the goroutine started in). Samples outside the trace's window, or
on a thread running no goroutine (an idle M, sysmon), stay as they were.
"""
from __future__ import annotations

import bisect
import json
import os
from pathlib import Path

from harness.capture.perf import PerfSample


def ns_tids(pid: int) -> dict[int, int]:
    """host TID -> TID in the process's own PID namespace, for every thread of `pid` now."""
    out: dict[int, int] = {}
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith("NSpid:"):
                        out[int(tid)] = int(line.split()[-1])
                        break
        except (OSError, ValueError):
            continue
    return out


class GoroutineMap:
    """The goroutine on a thread (the service's own TID) at a CLOCK_MONOTONIC time."""

    def __init__(self, threads: dict[int, list[list[int]]], starts: dict[int, str]):
        self.starts = starts
        self._runs = {th: (runs, [r[0] for r in runs]) for th, runs in
                      ((th, sorted(runs)) for th, runs in threads.items())}

    @classmethod
    def load(cls, path: Path) -> GoroutineMap | None:
        """The map of a threads.json, or None when there is none (or it cannot be read)."""
        try:
            data = json.loads(path.read_text())
            return cls({int(k): v for k, v in data["threads"].items()},
                       {int(k): v for k, v in data.get("starts", {}).items()})
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def at(self, thread: int, t_ns: int) -> int | None:
        runs = self._runs.get(thread)
        if runs is None:
            return None
        i = bisect.bisect_right(runs[1], t_ns) - 1
        if i >= 0 and runs[0][i][0] <= t_ns < runs[0][i][1]:
            return runs[0][i][2]
        return None


def label(samples: list[PerfSample], tids: dict[int, int], gmap: GoroutineMap) -> int:
    """Give every sample the goroutine its thread ran at its time; returns how many got one."""
    joined = 0
    for smp in samples:
        thread = tids.get(smp.tid)
        goid = gmap.at(thread, round(smp.t_mono * 1e9)) if thread is not None else None
        if goid is None:
            continue
        smp.nums["goroutine"] = goid
        start = gmap.starts.get(goid)
        if start:
            smp.labels["goroutine_start"] = start
        joined += 1
    return joined
