"""A Docker engine that is not on this host, as the harness sees it: this machine's own daemon
reached over tcp://127.0.0.2:PORT through a relay the test starts (TCP -> the daemon's unix
socket). On that path the harness takes no local shortcut: ports are published on the engine's
address (127.0.0.2, not 127.0.0.1) and reached there, pprof included; container figures come
from the engine's API, not cgroup files; no host PID is used; faults that would enter the
containers' namespaces from this host, and perf, are refused before anything starts.
"""
from __future__ import annotations

import json
import math
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from harness.load.runner import read_raw_log
from tests.e2e.demo_scenario import BUSY_WORK_AND_FETCH, scenario
from tests.e2e.test_run import EMPTY, run_cli, wait_for_event
from tests.env.conftest import REPO, project_resources

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SOCKET = "/var/run/docker.sock"
ADDRESS = "127.0.0.2"


class Relay:
    """tcp://ADDRESS:port -> the daemon's unix socket, one pair of pumps per connection."""

    def __init__(self):
        self.server = socket.create_server((ADDRESS, 0))
        self.port = self.server.getsockname()[1]
        self.connections = 0
        self._open: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"tcp://{ADDRESS}:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            engine = socket.socket(socket.AF_UNIX)
            engine.connect(SOCKET)
            self._open += [client, engine]
            for a, b in ((client, engine), (engine, client)):
                threading.Thread(target=_pump, args=(a, b), daemon=True).start()

    def close(self) -> None:
        self.server.close()
        for s in self._open:
            try:
                s.close()
            except OSError:
                pass


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


@pytest.fixture
def relay():
    if not Path(SOCKET).exists():
        pytest.skip(f"no Docker socket at {SOCKET}")
    r = Relay()
    yield r
    r.close()


SQUEEZE_AND_CUT = """phases:
  - {name: baseline, duration: 4s}
  - name: squeezed
    duration: 5s
    faults:
      - {kind: cpu, target: api, cpus: 0.2}
  - name: cut
    duration: 4s
    faults:
      - {kind: partition, target: api, peer: store}
  - name: slow
    duration: 5s
    faults:
      - {kind: delay, target: store, direction: ingress, latency: 100ms}
  - {name: healed, duration: 4s}"""


def _fetch(stats: dict, phase: str) -> dict:
    return next(x for x in stats["phases"][phase]["endpoints"] if x["name"] == "fetch")


def _fetch_errors(stats: dict, phase: str) -> float:
    e = _fetch(stats, phase)
    return e["failures"] / max(1, e["requests"])


def test_a_run_on_a_remote_engine_reaches_everything_through_its_address(tmp_path, relay):
    sc = scenario(tmp_path, phases=SQUEEZE_AND_CUT, requests=BUSY_WORK_AND_FETCH, rate=20,
                  captures="  pprof: [cpu, goroutine]\n  stats_interval: 0.5s",
                  model="  model: open\n  rate: 20\n  timeout: 1s\n  raw_log: true\n  requests:\n" + BUSY_WORK_AND_FETCH)
    runs = tmp_path / "runs"
    res = run_cli("run", str(sc), "--runs-dir", str(runs), "--json", "--docker-host", relay.url)
    assert res.returncode == 0, res.stderr[-3000:] + res.stdout[-2000:]
    run_dir = Path(json.loads(res.stdout)["run_dir"])
    m = json.loads((run_dir / "manifest.json").read_text())
    assert m["tools"]["docker_engine"] == "remote" and m["tools"]["docker_host"] == relay.url
    # published on the engine's address only, and reached there: readiness, load, pprof
    override = yaml.safe_load((run_dir / "compose.override.yml").read_text())
    ports = override["services"]["api"]["ports"]
    assert ports and all(p.startswith(f"{ADDRESS}::") for p in ports), ports
    assert m["services"]["api"]["pprof"].startswith(f"http://{ADDRESS}:")
    stats = json.loads((run_dir / "load/stats.json").read_text())
    assert stats["target"].startswith(f"http://{ADDRESS}:") and stats["totals"]["requests"] >= 150
    kinds = {(a["kind"], a["phase"]) for a in m["artifacts"]}
    assert {("cpu", "baseline"), ("cpu", "squeezed")} <= kinds
    # container figures from the engine's API: the squeeze shows as throttling
    lines = [json.loads(x) for x in (run_dir / "stats/containers.jsonl").read_text().splitlines()]
    api = [x for x in lines if x["service"] == "api" and x["cpu_pct"] is not None]
    assert len(api) >= 8 and all(x["mem_bytes"] for x in api)
    squeeze = next(f for f in m["faults"] if f["kind"] == "cpu")
    during = [x for x in api if squeeze["applied_s"] + 1 <= x["t_s"] <= squeeze["reverted_s"]]
    assert during and max(x["cpu_pct"] for x in during) <= 0.2 * 100 * 1.5, during
    assert sum(x["throttled_periods"] or 0 for x in during) > 0
    # the partition went through the fault helper in the API's namespace (iptables there), and back
    cut = next(f for f in m["faults"] if f["kind"] == "partition")
    assert cut["backend"] == "iptables" and cut["reverted_s"] is not None
    assert _fetch_errors(stats, "baseline") == 0 and _fetch_errors(stats, "cut") >= 0.5
    # the delay went through the fault proxy, a container in the store's namespace, and back
    # (judged on the requests sent while it was on, and after: applying it through the engine
    # takes 0.5-2 s of the phase on a busy machine)
    slow = next(f for f in m["faults"] if f["kind"] == "delay")
    assert slow["backend"] == "proxy" and slow["reverted_s"] is not None
    fetches = [r for r in read_raw_log(run_dir / "load/requests.jsonl.gz") if r["name"] == "fetch" and r["ok"]]

    def p50_ms(a: float, b: float) -> float:
        got = sorted(r["end_s"] - r["intended_s"] for r in fetches if a <= r["intended_s"] < b)
        assert len(got) >= 3, (a, b, len(got))
        return got[len(got) // 2] * 1000
    base = _fetch(stats, "baseline")["p50_ms"]
    assert p50_ms(slow["applied_s"] + 0.2, slow["reverted_s"]) >= base + 80, base
    assert p50_ms(slow["reverted_s"] + 0.5, math.inf) <= base + 40, base
    assert _fetch(stats, "healed")["failures"] <= 2     # a call in flight through the proxy as it goes may fail
    assert relay.connections >= 10           # every engine call went through the relay
    assert project_resources(m["compose_project"]) == EMPTY
    import docker
    for label in ("io.harness.helper_for", "io.harness.proxy_for"):
        assert not docker.from_env().containers.list(all=True, filters={"label": label}), label


def test_sigkill_mid_fault_on_a_remote_engine_leaves_nothing(tmp_path, relay):
    """The watchdog reverts the partition and the delay through the helper and the proxy's
    container, and removes the environment, helper and proxy included, through the same engine.
    The test holds the targets' network namespaces open and reads them afterwards: no rule and
    no qdisc of the harness is left there."""
    sc = scenario(tmp_path, phases="phases:\n  - {name: baseline, duration: 3s}\n  - name: cut\n"
                                   "    duration: 60s\n    faults:\n      - {kind: partition, target: api, peer: store}\n"
                                   "      - {kind: delay, target: store, direction: ingress, latency: 50ms}")
    runs = tmp_path / "runs"
    p = subprocess.Popen([sys.executable, "-m", "harness.cli", "run", str(sc), "--runs-dir", str(runs), "--quiet",
                          "--docker-host", relay.url], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    namespaces: list[int] = []
    try:
        events = wait_for_event(p, runs, "fault-applied", count=2)
        import docker
        engine = docker.from_env()
        assert engine.containers.list(filters={"label": "io.harness.helper_for"})
        proxies = engine.containers.list(filters={"label": "io.harness.proxy_for"})
        assert len(proxies) == 1
        project = json.loads((events.parent / "manifest.json").read_text())["compose_project"]
        for c in engine.containers.list(filters={"label": f"com.docker.compose.project={project}"}):
            namespaces.append(os.open(f"/proc/{c.attrs['State']['Pid']}/ns/net", os.O_RDONLY))
        assert sum("REDIRECT" in _in_namespace(fd, ["iptables-save"]) for fd in namespaces) == 1
        assert sum(":HF" in _in_namespace(fd, ["iptables-save"]) for fd in namespaces) == 2
    finally:
        p.kill()
        p.wait(timeout=30)
    try:
        run_dir = events.parent
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and project_resources(project) != EMPTY:
            time.sleep(0.5)
        assert project_resources(project) == EMPTY
        from harness.undo import ledger
        states = {e["id"]: e["state"] for e in ledger.latest(ledger.read(run_dir / "faults.ledger")).values()}
        assert len(states) == 2 and set(states.values()) == {"reverted"}, states
        for label in ("io.harness.helper_for", "io.harness.proxy_for"):
            assert not engine.containers.list(all=True, filters={"label": label}), label
        for fd in namespaces:
            rules = _in_namespace(fd, ["iptables-save"])
            assert ":HF" not in rules and "REDIRECT" not in rules, rules
            qdiscs = _in_namespace(fd, ["tc", "qdisc", "show"])
            assert "htb" not in qdiscs and "tbf" not in qdiscs and "ingress" not in qdiscs, qdiscs
    finally:
        for fd in namespaces:
            os.close(fd)


def _in_namespace(fd: int, argv: list[str]) -> str:
    """argv's output inside the network namespace held open by `fd`."""
    res = subprocess.run(["nsenter", f"--net=/proc/self/fd/{fd}", "--", *argv], pass_fds=[fd],
                         capture_output=True, text=True, timeout=20, check=True)
    return res.stdout


def test_what_needs_the_engine_on_this_host_is_refused_before_anything_starts(tmp_path, relay):
    burn = scenario(tmp_path, name="remote-burn",
                    phases="phases:\n  - name: busy\n    duration: 3s\n    faults:\n"
                           "      - {kind: cpu_pressure, target: store}")
    runs = tmp_path / "runs"
    res = run_cli("run", str(burn), "--runs-dir", str(runs), "--docker-host", relay.url, timeout=120)
    out = res.stdout + res.stderr
    assert res.returncode == 2, out
    assert ": cpu_pressure needs the Docker engine on this host" in out and "remote-burn.yaml:" in out
    assert relay.url in out and "allow_skip" in out
    # `harness validate` says the same without running anything
    res = run_cli("validate", str(burn), "--docker-host", relay.url)
    assert res.returncode == 2 and "cpu_pressure needs the Docker engine on this host" in res.stdout, res.stdout
    perf = scenario(tmp_path, name="remote-perf", phases="phases:\n  - {name: one, duration: 3s}",
                    captures="  perf: {phases: [one]}")
    res = run_cli("run", str(perf), "--runs-dir", str(runs), "--docker-host", relay.url, timeout=120)
    out = res.stdout + res.stderr
    assert res.returncode == 2 and "captures: perf needs the Docker engine on this host" in out, out
    assert "Traceback" not in out
    # nothing was started for either
    for d in runs.iterdir():
        assert not (d / "compose.override.yml").exists(), d


def test_doctor_says_what_works_on_a_remote_engine(relay):
    res = subprocess.run([sys.executable, "-m", "harness.cli", "doctor", "--docker-host", relay.url],
                         capture_output=True, text=True, timeout=180, env=dict(os.environ, COLUMNS="250"))
    assert res.returncode == 0, res.stderr
    rows = [[c.strip() for c in re.split(r"[│|]", line)[1:-1]] for line in res.stdout.splitlines()]

    def row(label: str) -> list[str]:
        return next(r for r in rows if r and r[0] == label)
    assert f"Docker engine: {relay.url} (remote, from --docker-host)" in res.stdout
    assert row("Docker engine")[1] == "ok" and row("Docker engine on this host")[1] == "missing"
    assert "captures.perf" in res.stdout
    assert row("pause")[1] == row("cpu")[1] == row("partition")[1] == row("loss")[1] == "ok"
    assert row("timeout")[1] == row("delay")[1] == "ok" and row("root")[1] == "ok"
    assert row("cpu_pressure")[1] == "unavailable"
    # the kernel features are the engine host's, probed in a throw-away fault helper there
    assert row("qdisc tbf")[1] == row("u32 filter + mirred")[1] == row("iptables statistic match")[1] == "ok"
    netem = " ".join(r[2] for r in rows[rows.index(row("qdisc netem")):][:3])
    assert "on the engine:" in netem or row("qdisc netem")[1] == "ok"
