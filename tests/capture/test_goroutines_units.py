"""Which goroutine ran on which thread, from the runtime trace's parsed events, and perf samples
joined to it on one clock (pure)."""
from __future__ import annotations

import json
import os

from harness.capture.goroutines import GoroutineMap, label, ns_tids
from harness.capture.perf import PerfSample
from harness.capture.trace import goroutine_threads

# `go tool trace -d=parsed` lines: the trace's clock is CLOCK_MONOTONIC + 1000 ns here. Goroutine 7
# is created (it starts in main.worker), runs on thread 12, enters a syscall and comes back on the
# same thread, then waits; goroutine 3 runs on thread 12 after it, then moves to thread 13.
PARSED = """\
M=-1 P=-1 G=-1 Sync Time=100 N=1 Trace=100 Mono=1100 Wall=2026-12-07T09:12:09Z
M=12 P=0 G=1 StateTransition Time=200 GoID=7 NotExist->Runnable Reason=""
TransitionStack=
\tmain.worker @ 0x4a1b20
\t\t/src/main.go:40

Stack=
\tmain.main @ 0x4a0000
\t\t/src/main.go:12

M=12 P=0 G=-1 StateTransition Time=300 GoID=7 Runnable->Running Reason=""
M=12 P=0 G=7 StateTransition Time=400 GoID=7 Running->Syscall Reason=""
M=12 P=0 G=7 StateTransition Time=500 GoID=7 Syscall->Running Reason=""
M=12 P=0 G=7 StateTransition Time=600 GoID=7 Running->Waiting Reason="chan receive"
M=12 P=0 G=-1 StateTransition Time=650 GoID=3 Runnable->Running Reason=""
M=13 P=1 G=-1 StateTransition Time=800 GoID=3 Runnable->Running Reason=""
M=13 P=1 G=3 StateTransition Time=900 GoID=3 Running->Runnable Reason="preempted"
"""


def test_goroutines_on_threads_on_the_monotonic_clock():
    t = goroutine_threads(PARSED)
    # 7 stays on thread 12 through its syscall; 3 is on 12 until it shows up running on 13
    assert t["threads"] == {"12": [[1300, 1600, 7], [1650, 1800, 3]], "13": [[1800, 1900, 3]]}
    assert t["starts"] == {"7": "main.worker"}
    assert json.loads(json.dumps(t)) == t
    assert goroutine_threads(PARSED.split("\n", 1)[1]) is None       # no Sync event: no clock


def test_samples_get_the_goroutine_their_thread_ran():
    t = goroutine_threads(PARSED)
    gmap = GoroutineMap({int(k): v for k, v in t["threads"].items()}, {int(k): v for k, v in t["starts"].items()})
    # host TIDs 5012 and 5013 are the service's threads 12 and 13; 5099 is no thread of it
    tids = {5012: 12, 5013: 13}
    samples = [PerfSample(t_ns / 1e9, tid, 1, []) for tid, t_ns in
               [(5012, 1450), (5012, 1600), (5012, 1700), (5013, 1850), (5013, 1950), (5099, 1450), (5012, 1299)]]
    assert label(samples, tids, gmap) == 3
    assert [s.nums.get("goroutine") for s in samples] == [7, None, 3, 3, None, None, None]
    assert samples[0].labels == {"goroutine_start": "main.worker"} and samples[2].labels == {}


def test_host_tids_map_to_the_process_own_namespace():
    mine = ns_tids(os.getpid())
    assert mine.get(os.getpid()) == os.getpid()        # the test runs in the host's PID namespace
    assert ns_tids(2 ** 22 + 7) == {}                  # no such process
