"""perf timestamps land on the run clock: a marker burst of CPU at a known time must show up
in the converted profile within 50 ms of that time (real perf, real process)."""
from __future__ import annotations

import shutil
import subprocess
import sys
import time

import pytest

from harness.capture.perf import PerfRecording, convert, wait_started
from harness.runctx import Clock
from rundir.pprof.proto import Profile

MARKER = """
import sys, time
start, stop = float(sys.argv[1]), float(sys.argv[2])
print("ready", flush=True)          # initialised: from here on it only sleeps until `start`
time.sleep(max(0.0, start - time.monotonic()))
began = time.monotonic()             # when the burst really began (the scheduler may wake us late)
print(repr(began), flush=True)
while time.monotonic() < began + (stop - start):
    pass
"""


@pytest.mark.skipif(shutil.which("perf") is None, reason="perf is not installed")
def test_marker_lands_within_50ms(tmp_path):
    clock = Clock.start()
    start = time.monotonic() + 1.5
    child = subprocess.Popen([sys.executable, "-c", MARKER, repr(start), repr(start + 0.3)],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        rec = PerfRecording(child.pid, tmp_path / "perf.data", 999, clock)
        rec.start()
        wait_started(rec)
        began = float(child.stdout.readline())
        child.wait(timeout=30)
        rec.stop()
    finally:
        child.kill()
    out = tmp_path / "perf.pb.gz"
    info = convert(rec.out, out, pid=child.pid, exe="", clock=clock, frequency=999)
    assert info["samples"] > 50, info
    msg = Profile()
    import gzip

    msg.ParseFromString(gzip.decompress(out.read_bytes()))
    t_ms = sorted(lb.num for s in msg.sample for lb in s.label if msg.string_table[lb.key] == "t_ms")
    marker_ms = clock.at(began) * 1000
    assert abs(t_ms[0] - marker_ms) < 50, (t_ms[0], marker_ms)
    in_burst = [t for t in t_ms if marker_ms - 50 <= t <= marker_ms + 350]
    assert len(in_burst) >= 0.9 * len(t_ms), (len(in_burst), len(t_ms))   # the rest: interpreter exit
    assert abs(info["first_s"] - clock.at(began)) < 0.05
