"""LoadRunner end to end: real Locust workers in child processes against the Go test server.

Loads stay at 100-300 requests/s for a few seconds; assertions on time carry tolerances a
loaded 2-core machine keeps, and every one of them fails if the measurement is wrong
(e.g. a closed-loop generator, latency from the actual send time, a lost stall).
"""
from __future__ import annotations

import itertools
import json
import math
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from harness.errors import HarnessError, TargetRefused
from harness.load.runner import LoadRunner, read_raw_log
from harness.load.spec import LoadSpec, RateSegment, RequestSpec
from harness.runctx import PhaseWindow, ServiceInfo

from .helpers import exact_percentile, run_context

OK = (RequestSpec("ok", "GET", "/ok"),)


def open_spec(url, rate, **kw) -> LoadSpec:
    rates = tuple(rate.items()) if isinstance(rate, dict) else (("default", rate),)
    rates = tuple((k, RateSegment(v, v)) for k, v in rates)
    return LoadSpec(model="open", url=url, rates=rates, **{"requests": OK, **kw})


def launch(runner: LoadRunner, rc, phases) -> float:
    """Load Locust in the workers first, then put the phases (given relative to 0) on the next
    whole second of the run clock and start: returns that second."""
    runner.prepare()
    base = float(math.ceil(rc.clock.now()))
    runner.start([PhaseWindow(p.name, p.start_s + base, p.end_s + base) for p in phases])
    return base


def run_to_end(runner: LoadRunner, rc, phases) -> dict:
    """Launch, wait for the load's end and its stats; the workers are stopped either way."""
    try:
        launch(runner, rc, phases)
        return runner.wait()
    finally:
        runner.stop()


def wait_until(rc, t_s: float) -> None:
    while rc.clock.now() < t_s:
        time.sleep(0.02)


def run_with_freeze(runner: LoadRunner, rc, phases, server, after: float, seconds: float):
    """Run the load, SIGSTOP the server `after` seconds into it for `seconds`; returns
    (base, frozen, thawed, stats): the load start and the freeze, on the run clock."""
    try:
        base = launch(runner, rc, phases)
        wait_until(rc, base + after)
        os.kill(server.pid, signal.SIGSTOP)
        frozen = rc.clock.now()
        wait_until(rc, frozen + seconds)
        os.kill(server.pid, signal.SIGCONT)
        thawed = rc.clock.now()
        stats = runner.wait()
    finally:
        os.kill(server.pid, signal.SIGCONT)
        runner.stop()
    return base, frozen, thawed, stats


def test_freeze_shows_in_p99_and_requests_keep_going_up_to_the_cap(server, tmp_path):
    """The load-truth acceptance test: SIGSTOP the service for 3 s under 300 requests/s."""
    cap, rate = 200, 300.0
    rc, phases = run_context(tmp_path, [("baseline", 0.0, 2.0), ("fault", 2.0, 6.5), ("after", 6.5, 8.0)])
    runner = LoadRunner(open_spec(server.url, rate, max_inflight=cap, raw_log=True), rc, server.url)
    base, frozen, thawed, stats = run_with_freeze(runner, rc, phases, server, after=2.5, seconds=3.0)
    raw = read_raw_log(tmp_path / "load" / "requests.jsonl.gz")
    fault = stats["phases"]["fault"]
    # 1. the reported p99 over the fault window matches the raw log's intended-time latencies
    lat = sorted(r["end_s"] - r["intended_s"] for r in raw if base + 2.0 <= r["intended_s"] < base + 6.5)
    from_log = exact_percentile(lat, 99) * 1000
    assert fault["latency_ms"]["p99"] == pytest.approx(from_log, rel=0.10)
    # ... and an independent computation from the schedule alone: a request intended at t
    # during the freeze cannot finish before the thaw, so its latency is at least thawed - t
    schedule = [base + 2.0 + k / rate for k in range(round(rate * 4.5))]
    bound = sorted(thawed - t if frozen <= t < thawed else 0.0 for t in schedule)
    expected = exact_percentile(bound, 99) * 1000
    assert expected > 2500
    assert expected * 0.97 <= fault["latency_ms"]["p99"] <= expected * 1.2 + 200
    # closed-loop measurement (from the actual send) would have hidden most of it
    assert fault["actual_ms"]["p50"] < fault["latency_ms"]["p50"]
    # 2. requests kept being issued during the freeze, up to the cap, and the rest were delayed
    sent_frozen = sum(1 for r in raw if frozen + 0.05 < r["sent_s"] < thawed - 0.05)
    assert cap * 0.8 <= sent_frozen <= cap
    assert fault["delayed"] >= rate * 3.0 - cap - 60
    assert fault["sent"] == fault["requests"] and fault["failures"] == 0
    # 3. history: one line per second, the freeze visible while it happened
    hist = [json.loads(x) for x in (tmp_path / "load" / "history.jsonl").read_text().splitlines()]
    assert [h["t_s"] - base for h in hist][:8] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    assert [h["phase"] for h in hist][:3] == ["baseline", "baseline", "fault"]
    during = next(h for h in hist if h["t_s"] == base + 4.0)
    assert during["rps"] == 0 and during["inflight"] == cap and during["backlog"] > 100
    assert max(h["p99_ms"] or 0 for h in hist) > 2500
    kinds = [a["kind"] for a in rc.artifacts.all()]
    assert kinds[:2] == ["load-history", "load-stats"] and "load-requests" in kinds


def test_known_latencies_are_reported_within_precision(server, tmp_path):
    """The server sleeps a known time per endpoint; the percentiles agree with the raw log to
    the stated precision and never fall below the known time."""
    sleeps_us = {"s2": 2000, "s10": 10000, "s40": 40000}
    reqs = tuple(RequestSpec(n, "GET", f"/sleep?us={us}") for n, us in sleeps_us.items())
    rc, phases = run_context(tmp_path, [("main", 0.0, 3.0)])
    runner = LoadRunner(open_spec(server.url, 150.0, requests=reqs, raw_log=True, seed=1), rc, server.url)
    stats = run_to_end(runner, rc, phases)
    raw = read_raw_log(tmp_path / "load" / "requests.jsonl.gz")
    rel = stats["precision"]["relative_error"]
    assert rel == 0.001
    for ep in stats["endpoints"]:
        known_ms = sleeps_us[ep["name"]] / 1000
        rows = [r for r in raw if r["name"] == ep["name"]]
        assert ep["requests"] == len(rows) > 60
        for basis, start in (("intended_ms", "intended_s"), ("actual_ms", "sent_s")):
            values = sorted(r["end_s"] - r[start] for r in rows)
            for key, pct in (("p50", 50), ("p90", 90), ("p99", 99)):
                true_ms = exact_percentile(values, pct) * 1000
                assert abs(ep[basis][key] - true_ms) <= true_ms * rel + 0.002, (ep["name"], basis, key)
        assert ep["actual_ms"]["min"] >= known_ms * (1 - rel)
        assert known_ms <= ep["actual_ms"]["p50"] <= known_ms + 5.0


def test_closed_model_keeps_locust_users_and_labels_its_latency(server, tmp_path):
    rc, phases = run_context(tmp_path, [("main", 0.0, 2.5)])
    spec = LoadSpec(model="closed", url=server.url, users=4, spawn_rate=100, think_time=0.02,
                    requests=(RequestSpec("s5", "GET", "/sleep?us=5000"),))
    runner = LoadRunner(spec, rc, server.url)
    stats = run_to_end(runner, rc, phases)
    assert stats["model"] == "closed" and stats["latency_basis"] == "actual"
    assert "intended_ms" not in stats["totals"] and stats["totals"]["latency_ms"]["p50"] >= 5.0
    # 4 users, each ~25 ms per iteration: about 160 requests/s, far from any open-model rate
    assert 50 <= stats["totals"]["achieved_rps"] <= 200
    locust = {e["name"]: e for e in stats["locust"]}
    assert locust["s5"]["requests"] == stats["totals"]["requests"]
    hist = [json.loads(x) for x in (tmp_path / "load" / "history.jsonl").read_text().splitlines()]
    assert max(h["users"] for h in hist) == 4 and all(h["target_rps"] is None for h in hist)


def test_locustfile_users_run_in_the_closed_model(server, tmp_path):
    lf = tmp_path / "lf.py"
    lf.write_text("from locust import FastHttpUser, constant, task\n\n"
                  "class Api(FastHttpUser):\n    wait_time = constant(0.05)\n\n"
                  "    @task\n    def ok(self):\n        self.client.get('/ok', name='lf-ok')\n")
    rc, phases = run_context(tmp_path, [("main", 0.0, 2.0)])
    spec = LoadSpec(model="closed", url=server.url, users=2, spawn_rate=100, locustfile=str(lf))
    runner = LoadRunner(spec, rc, server.url)
    stats = run_to_end(runner, rc, phases)
    (ep,) = stats["endpoints"]
    assert ep["name"] == "lf-ok" and ep["requests"] >= 30 and ep["failures"] == 0


def test_drop_overflow_counts_what_the_cap_refused(server, tmp_path):
    rc, phases = run_context(tmp_path, [("main", 0.0, 2.5)])
    runner = LoadRunner(open_spec(server.url, 200.0, max_inflight=20, overflow="drop"), rc, server.url)
    _base, frozen, thawed, stats = run_with_freeze(runner, rc, phases, server, after=0.3, seconds=1.0)
    main = stats["phases"]["main"]
    due = 200 * (thawed - frozen)
    assert due - 20 - 40 <= main["dropped"] <= due
    assert main["delayed"] == 0 and main["requests"] == main["sent"]
    assert main["sent"] + main["dropped"] == pytest.approx(500, abs=3) and stats["skipped_late_start"] == 0


def test_stop_mid_run_is_quick_idempotent_and_leaves_no_worker(server, tmp_path):
    rc, phases = run_context(tmp_path, [("main", 0.5, 60.0)])
    runner = LoadRunner(open_spec(server.url, 100.0), rc, server.url)
    runner.start(phases)
    pid = runner._procs[0].pid
    began = time.monotonic()

    def served() -> float:
        with runner._lock:
            return sum(line["rps"] for line in runner._history)

    while served() < 120 and time.monotonic() - began < 15:   # well into the load
        time.sleep(0.05)
    assert runner.latest()["rps"] >= 50
    began = time.monotonic()
    stats = runner.stop(timeout=10)
    assert time.monotonic() - began < 30       # the load was planned for 60 s: stop did not wait for it
    assert runner.stop() is stats
    assert not psutil.pid_exists(pid)
    assert stats["totals"]["requests"] > 100 and stats["incomplete"] is False
    assert [e["kind"] for e in rc.events.all()][-2:] == ["load-stopped", "load-end"]


def test_worker_exits_when_the_harness_dies(server, tmp_path):
    """A harness killed with SIGKILL cannot call stop(); its load worker must end by itself."""
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from harness.load.runner import LoadRunner\n"
        "from tests.load.helpers import run_context\n"
        "from tests.load.test_runner_live import open_spec\n"
        "rc, phases = run_context(Path(sys.argv[1]), [('main', 0.5, 120.0)])\n"
        "r = LoadRunner(open_spec(sys.argv[2], 50.0), rc, sys.argv[2]); r.start(phases)\n"
        "print(r._procs[0].pid, flush=True)\n"
        "time.sleep(120)\n")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    harness = subprocess.Popen([sys.executable, "-c", script, str(tmp_path), server.url], cwd=root,
                               stdout=subprocess.PIPE, text=True)
    try:
        worker = int(harness.stdout.readline())
        assert psutil.pid_exists(worker)
        harness.kill()
        harness.wait(timeout=10)
        deadline = time.monotonic() + 10
        while psutil.pid_exists(worker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not psutil.pid_exists(worker)
    finally:
        harness.kill()
        harness.wait(timeout=10)
        harness.stdout.close()


def test_bad_locustfile_is_a_clear_error_at_start(server, tmp_path):
    lf = tmp_path / "empty.py"
    lf.write_text("X = 1\n")
    rc, phases = run_context(tmp_path, [("main", 0.5, 2.0)])
    runner = LoadRunner(LoadSpec(model="closed", url=server.url, locustfile=str(lf)), rc, server.url)
    with pytest.raises(HarnessError) as info:
        runner.start(phases)
    assert "no User class" in info.value.what and info.value.where == str(lf)
    assert all(p.poll() is not None for p in runner._procs)


def test_runner_refuses_targets_outside_the_environment(tmp_path):
    svc = ServiceInfo("api", "c1", "api-1", 1, {"net": "172.18.0.5"}, {80: 8080}, None)
    rc, phases = run_context(tmp_path, [("main", 0.0, 1.0)], services={"api": svc})
    spec = open_spec("http://127.0.0.1:1", 1.0)
    LoadRunner(spec, rc, "http://172.18.0.5:80")  # the environment's own container
    with pytest.raises(TargetRefused) as info:
        LoadRunner(spec, rc, "http://10.9.9.9:80")
    assert "allow_external_targets" in info.value.hint
    LoadRunner(LoadSpec(**{**spec.__dict__, "allow_external": True}), rc, "http://10.9.9.9:80")


def test_two_worker_processes_share_the_rate_and_merge_exactly(server, tmp_path):
    rc, phases = run_context(tmp_path, [("main", 0.0, 2.0)])
    runner = LoadRunner(open_spec(server.url, 200.0, processes=2, raw_log=True), rc, server.url)
    stats = run_to_end(runner, rc, phases)
    raw = read_raw_log(tmp_path / "load" / "requests.jsonl.gz")
    main = stats["phases"]["main"]
    assert stats["workers"] == 2 and sum(e["requests"] for e in stats["locust"]) == stats["totals"]["requests"]
    assert main["requests"] == len(raw) == main["sent"]
    assert main["requests"] == pytest.approx(400, abs=2) and stats["skipped_late_start"] == 0
    # the two schedules interleave: one arrival every 5 ms, alternating between workers
    intended = sorted(r["intended_s"] for r in raw)
    gaps = [b - a for a, b in itertools.pairwise(intended)]
    assert max(gaps) == pytest.approx(0.005, abs=1e-5) and min(gaps) == pytest.approx(0.005, abs=1e-5)
    values = sorted(r["end_s"] - r["intended_s"] for r in raw)
    true_p90 = exact_percentile(values, 90) * 1000
    assert abs(main["latency_ms"]["p90"] - true_p90) <= true_p90 * 0.001 + 0.002
    hist = [json.loads(x) for x in (tmp_path / "load" / "history.jsonl").read_text().splitlines()]
    assert sum(h["rps"] for h in hist) == main["requests"]


def test_a_worker_that_dies_mid_run_fails_the_run_with_its_log(server, tmp_path):
    rc, phases = run_context(tmp_path, [("main", 0.0, 3.0)])
    runner = LoadRunner(open_spec(server.url, 100.0, processes=2), rc, server.url)
    try:
        base = launch(runner, rc, phases)
        wait_until(rc, base + 1.0)
        victim = runner._procs[1]
        victim.kill()
        with pytest.raises(HarnessError) as err:
            runner.wait()
    finally:
        runner.stop()
    e = err.value
    assert "a load worker died during the run" in str(e)
    assert e.where == "load worker 1" and "was killed by SIGKILL" in e.seen and "log:" in e.seen
    died = [ev for ev in rc.events.all() if ev["kind"] == "load-worker-died"]
    assert len(died) == 1 and died[0]["worker"] == 1 and base + 0.9 <= died[0]["t_s"] <= base + 3.0
    stats = json.loads((tmp_path / "load" / "stats.json").read_text())
    assert stats["incomplete"] is True and stats["workers"] == 1
    # the surviving worker ran to the end and stopped
    assert all(p.poll() is not None for p in runner._procs)
    assert stats["phases"]["main"]["requests"] >= 140       # worker 0's 150 and worker 1's first ~50


def _stranger(port: int, token: str, pythonpath: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, HARNESS_LOAD_TOKEN=token)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    return subprocess.run([sys.executable, "-m", "harness.load.worker", "--master", f"127.0.0.1:{port}"],
                          cwd=pythonpath or None, env=env, capture_output=True, text=True, timeout=60)


def test_the_master_refuses_a_worker_without_the_token_or_of_another_version(server, tmp_path):
    import shutil
    rc, phases = run_context(tmp_path, [("main", 0.0, 1.0)])
    runner = LoadRunner(open_spec(server.url, 50.0), rc, server.url)
    other = tmp_path / "other"
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    shutil.copytree(os.path.join(root, "harness"), other / "harness", ignore=shutil.ignore_patterns("__pycache__"))
    init = other / "harness" / "__init__.py"
    init.write_text(init.read_text().replace('__version__ = "', '__version__ = "9.9-'))
    try:
        runner.prepare()
        wrong = _stranger(runner.port, "not-the-token")
        skew = _stranger(runner.port, runner.token, pythonpath=str(other))
        stats = run_to_end(runner, rc, phases)
    finally:
        runner.stop()
    assert wrong.returncode == 4 and "wrong token" in wrong.stderr
    assert skew.returncode == 4 and "version skew: the worker runs harness 9.9-" in skew.stderr
    refused = [e for e in rc.events.all() if e["kind"] == "load-worker-refused"]
    assert len(refused) == 2
    assert stats["workers"] == 1 and stats["phases"]["main"]["requests"] == pytest.approx(50, abs=2)


def test_a_master_that_dies_mid_run_fails_the_run(server, tmp_path):
    rc, phases = run_context(tmp_path, [("main", 0.0, 3.0)])
    runner = LoadRunner(open_spec(server.url, 50.0), rc, server.url)
    try:
        base = launch(runner, rc, phases)
        wait_until(rc, base + 1.0)
        runner._master.kill()
        with pytest.raises(HarnessError) as err:
            runner.wait()
    finally:
        runner.stop()
    assert "the load master exited during the run" in str(err.value) and "exit code -9" in err.value.seen
    assert json.loads((tmp_path / "load" / "stats.json").read_text())["incomplete"] is True
    assert all(p.poll() is not None for p in runner._procs)
