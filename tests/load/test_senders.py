"""The open model's sender pool (harness.load.driver.Senders) with a stand-in HTTP client.

Runs in a child process: the driver imports gevent and Locust, which patch the process.
The stand-in client either waits (a slow service: the pool must grow, on time, up to the
cap) or burns CPU (a generator that cannot keep up: the pool must not grow per late arrival,
which would only open connections).
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(r"""
    import json, sys, time
    import gevent
    from harness.load import driver
    from harness.load.recorder import Recorder
    from harness.load.schedule import Phase, PhaseTable
    from harness.load.spec import LoadSpec, RateSegment, RequestSpec

    mode, rate, seconds, cap = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
    REQ = RequestSpec("r", "GET", "/r")

    class Client:
        def request(self, *a, **kw):
            if mode == "slow":
                gevent.sleep(0.2)                      # the service answers in 200 ms
            else:                                      # 1.5 ms to send, 1 ms away, 1.5 ms to read:
                burn(1.5 / rate)                       # each request costs three times its share of CPU
                gevent.sleep(0.001)
                burn(1.5 / rate)

    def burn(s):
        end = time.perf_counter() + s
        while time.perf_counter() < end:
            pass

    class W:                                           # the parts of driver.Worker the pool uses
        spec = LoadSpec(model="open", url="http://127.0.0.1:1", rates=(("default", RateSegment(rate, rate)),),
                        requests=(REQ,), max_inflight=cap)
        t0 = time.monotonic()
        stopping = gevent.event.Event()
        skipped_late_start = 0
        spin_s = 0.0
        rec = Recorder(PhaseTable([Phase("main", 0.0, 100.0)]), basis="intended")
        now = lambda self: time.monotonic() - self.t0
        sleep_until = driver.Worker.sleep_until

    w = W()
    start = w.now() + 0.05
    arrivals = [(start + i / rate, REQ) for i in range(int(rate * seconds))]
    pool = driver.Senders(w, Client(), arrivals)
    probe = gevent.spawn(lambda: [(gevent.sleep(driver.PROBE_S), pool.grow()) for _ in iter(int, 1)])
    pool.start()
    pool.wait()
    probe.kill()
    fin = w.rec.final()
    print(json.dumps({"senders": len(pool.greenlets), "phase": fin["phase_counts"]["main"]}))
""")


def run_pool(mode: str, rate: float, seconds: float, cap: int) -> dict:
    out = subprocess.run([sys.executable, "-c", SCRIPT, mode, str(rate), str(seconds), str(cap)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_slow_service_grows_the_pool_to_the_cap_and_the_rest_wait_for_it():
    # 200 arrivals/s, each answered in 200 ms: 40 in flight would keep time; the cap is 20
    r = run_pool("slow", rate=200, seconds=1.5, cap=20)
    assert r["senders"] == 20
    assert r["phase"]["sent"] == 300
    # every arrival after the first ~20 waited for a sender: counted as delayed by the cap
    assert 200 <= r["phase"]["delayed"] <= 285, r


def test_a_generator_behind_schedule_does_not_open_a_sender_per_late_arrival():
    # each request burns 3 ms of CPU at 1000 arrivals/s: the worker is at 100% of a core at
    # once; a sender per late arrival grows the pool with the backlog (252 here, measured);
    # the pool stops growing once the worker's CPU is measured busy (the first 50 ms: 33-41)
    r = run_pool("cpu", rate=1000, seconds=1.0, cap=1000)
    assert r["phase"]["sent"] == 1000 and r["phase"]["delayed"] == 0
    assert r["senders"] <= 100, r


def test_closed_model_users_start_by_their_classes_weights_interleaved():
    script = textwrap.dedent("""
        import json
        from harness.load.driver import _by_weight
        A = type("A", (), {"weight": 3}); B = type("B", (), {"weight": 1}); Z = type("Z", (), {"weight": 0})
        print(json.dumps({"ab": [c.__name__ for c in _by_weight([A, B], 8)],
                          "odd": [c.__name__ for c in _by_weight([A, B], 3)],
                          "zero": [c.__name__ for c in _by_weight([Z, Z], 4)],
                          "with_zero": [c.__name__ for c in _by_weight([A, Z], 2)]}))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["ab"] == ["A", "B", "A", "B", "A", "A", "A", "A"]     # 6:2, interleaved
    assert sorted(got["odd"]) == ["A", "A", "B"]                     # 2.25:0.75, largest remainders
    assert got["zero"] == ["Z"] * 4 and got["with_zero"] == ["A", "A"]
