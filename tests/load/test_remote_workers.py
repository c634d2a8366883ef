"""Remote load workers as a user starts them on other machines: `harness worker --master
HOST:PORT` in a network namespace of the test's own, reaching the master over a veth pair with
addresses the test assigns, with a CLOCK_MONOTONIC of its own (a time namespace 5,000 s ahead:
another machine's clock). The master listens on the veth's address (load.master.interface);
the Go test server too (the target as published on that interface, for remote workers).

Needs root, `ip` and `unshare --time` (Linux 5.6+); skipped with the reason otherwise.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.load import hist as H
from harness.load.runner import LoadRunner, read_raw_log
from harness.runctx import PhaseWindow, ServiceInfo

from .helpers import Server, run_context
from .test_runner_live import open_spec

SKEW_S = 5000            # the remote workers' monotonic clock runs this far ahead of the master's
HARNESS = str(Path(sys.executable).with_name("harness"))


def _sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=20)


def _why_not() -> str | None:
    if os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("unshare"):
        return "needs root, ip and unshare"
    probe = subprocess.run(["unshare", "--time", "--monotonic=1", "true"], capture_output=True, timeout=20)
    return None if probe.returncode == 0 else f"no time namespaces: {probe.stderr.decode().strip()[:120]}"


class Link:
    """A network namespace and a veth pair into it: host side `host_if` (.1), namespace side (.2)."""

    def __init__(self):
        n = os.getpid() % 10000
        self.ns, self.host_if, self.ns_if = f"hlw{n}", f"hlw{n}h", f"hlw{n}w"
        self.host_ip, self.ns_ip = f"10.250.{n % 250}.1", f"10.250.{n % 250}.2"
        try:
            _sh("ip", "netns", "add", self.ns)
            _sh("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if, "netns", self.ns)
            _sh("ip", "addr", "add", f"{self.host_ip}/30", "dev", self.host_if)
            _sh("ip", "link", "set", self.host_if, "up")
            for cmd in (("addr", "add", f"{self.ns_ip}/30", "dev", self.ns_if), ("link", "set", self.ns_if, "up"),
                        ("link", "set", "lo", "up")):
                _sh("ip", "-n", self.ns, *cmd)
        except BaseException:
            self.close()
            raise

    def worker(self, master: str, token: str, log: Path) -> subprocess.Popen:
        """`harness worker` inside the namespace, on a clock of its own."""
        env = dict(os.environ, HARNESS_LOAD_TOKEN=token)
        with open(log, "wb") as out:
            return subprocess.Popen(["ip", "netns", "exec", self.ns, "unshare", "--time", f"--monotonic={SKEW_S}",
                                     HARNESS, "worker", "--master", master], env=env, stdout=out, stderr=out)

    def close(self) -> None:
        subprocess.run(["ip", "link", "del", self.host_if], capture_output=True, timeout=20)
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True, timeout=20)


@pytest.fixture
def link():
    why = _why_not()
    if why:
        pytest.skip(why)
    lk = Link()
    yield lk
    lk.close()


@pytest.fixture
def veth_server(server_binary, link):
    srv = Server(server_binary, addr=f"{link.host_ip}:0")
    yield srv
    srv.close()


def _free_port(address: str) -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        return s.getsockname()[1]


def _runner(tmp_path, link, server, remote: int, phases, **kw) -> tuple[LoadRunner, object]:
    """One local worker and `remote` remote ones; the server is this environment's service as
    published on the veth's interface."""
    host, port = server.url.removeprefix("http://").split(":")
    svc = ServiceInfo("api", "c1", "api-1", 1, {"net": host}, {}, None, exposed={80: (host, int(port))})
    rc, windows = run_context(tmp_path, phases, services={"api": svc})
    spec = open_spec(server.url, 150.0, processes=1, remote_workers=remote, master_interface=link.host_if,
                     master_port=_free_port(link.host_ip), **kw)
    return LoadRunner(spec, rc, server.url, remote_target_url=server.url), rc, windows


def _prepare_in_background(runner: LoadRunner) -> tuple[threading.Thread, dict]:
    out: dict = {}

    def go():
        try:
            runner.prepare()
            out["ready_at"] = time.monotonic()
        except HarnessError as e:
            out["error"], out["failed_at"] = e, time.monotonic()
    t = threading.Thread(target=go, daemon=True)
    t.start()
    return t, out


def test_remote_workers_join_over_the_network_and_merge_exactly(tmp_path, link, veth_server, monkeypatch):
    monkeypatch.setenv("HARNESS_LOAD_TOKEN", "the-run-token")
    runner, rc, windows = _runner(tmp_path, link, veth_server, 2, [("main", 0.0, 2.0)], raw_log=True)
    procs = []
    try:
        t, out = _prepare_in_background(runner)
        time.sleep(1.5)
        assert t.is_alive(), f"the run did not wait for its remote workers: {out}"
        master = f"{link.host_ip}:{runner.spec.master_port}"
        stranger = link.worker(master, "not-the-token", tmp_path / "stranger.log")
        procs = [link.worker(master, "the-run-token", tmp_path / f"remote-{k}.log") for k in range(2)]
        assert stranger.wait(timeout=60) == 4
        t.join(timeout=90)
        assert "ready_at" in out, out
        base = float(int(rc.clock.now()) + 1)
        runner.start([PhaseWindow(w.name, w.start_s + base, w.end_s + base) for w in windows])
        stats = runner.wait()
    finally:
        runner.stop()
        for p in procs:
            p.wait(timeout=30)
    assert all(p.returncode == 0 for p in procs), [(tmp_path / f"remote-{k}.log").read_text() for k in range(2)]
    assert "wrong token" in (tmp_path / "stranger.log").read_text()
    assert [e["kind"] for e in rc.events.all()].count("load-worker-refused") == 1
    joined = [e for e in rc.events.all() if e["kind"] == "load-worker-joined"]
    assert sorted(e["worker"] for e in joined) == [1, 2] and {e["addr"] for e in joined} == {link.ns_ip}

    main, per = stats["phases"]["main"], stats["generator"]["per_worker"]
    assert stats["workers"] == 3 and stats["skipped_late_start"] == 0 and not stats["incomplete"]
    assert main["requests"] == pytest.approx(300, abs=2)
    # merged counts are the sum of the workers' own; the raw logs of the remote ones came home
    assert sum(w["requests"] for w in per) == stats["totals"]["requests"] == main["requests"]
    assert all(w["requests"] == pytest.approx(100, abs=2) for w in per)
    raw = read_raw_log(tmp_path / "load" / "requests.jsonl.gz")
    assert len(raw) == main["requests"]
    # the remote workers measured their clock 5,000 s ahead and sent on the run's clock anyway
    remote = [w["remote"] for w in per if "remote" in w]
    assert len(remote) == 2 and all(r["addr"] == link.ns_ip for r in remote)
    for r in remote:
        assert abs(r["clock_offset_ms"] + SKEW_S * 1000) <= r["clock_error_ms"] + 1.0, r
    late = sorted(r["sent_s"] - r["intended_s"] for r in raw)
    assert late[len(late) // 2] < 0.05 and late[0] > -0.005
    assert all(base - 0.01 <= r["intended_s"] <= base + 2.0 for r in raw)
    # the merged quantiles are those of one HdrHistogram of the union of the raw latencies (the
    # raw log keeps whole microseconds: a value may round to the next one, never further)
    union = H.new_hist(3)
    for r in raw:
        H.record_s(union, r["end_s"] - r["intended_s"])
    want = H.summary_ms(union)
    for q in ("p50", "p90", "p99", "max"):
        assert main["latency_ms"][q] == pytest.approx(want[q], rel=0.001, abs=0.0015), q


def test_a_missing_remote_worker_fails_the_run_naming_who_joined(tmp_path, link, veth_server):
    runner, rc, windows = _runner(tmp_path, link, veth_server, 2, [("main", 0.0, 1.0)], join_timeout=6.0)
    proc = None
    try:
        t, out = _prepare_in_background(runner)
        started = time.monotonic()
        proc = link.worker(f"{link.host_ip}:{runner.spec.master_port}", runner.token, tmp_path / "remote.log")
        t.join(timeout=60)
    finally:
        runner.stop()
        if proc is not None:
            proc.wait(timeout=30)
    e = out["error"]
    assert "1 of 2 remote load workers ready within 6s" in str(e)
    assert f"from {socket.gethostname()} ({link.ns_ip})" in e.seen and runner.token not in e.render()
    assert 6.0 <= out["failed_at"] - started <= 30.0
    assert proc.returncode == 0, (tmp_path / "remote.log").read_text()     # told to stop, it ended
    assert [x["kind"] for x in rc.events.all()].count("load-waiting-for-workers") == 1
