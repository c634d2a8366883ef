"""A Docker engine reached over ssh://: this machine's own daemon behind a real sshd (OpenSSH, in
a container on 127.0.0.1 with the daemon's socket mounted; tests/e2e/sshd.py). The harness opens
one ssh connection, reaches the engine's socket and every published port through it (the ports
are published on the engine host's loopback), runs faults there, and closes the connection at
the end; after a SIGKILL the watchdog tears the run down through it and then closes it.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml

from harness import ssh_tunnel
from tests.e2e.demo_scenario import scenario
from tests.e2e.sshd import Sshd
from tests.e2e.test_run import EMPTY, run_cli, wait_for_event
from tests.env.conftest import REPO, project_resources

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    if shutil.which("ssh") is None or shutil.which("ssh-keygen") is None:
        pytest.skip("no ssh client here (openssh-client)")
    import docker
    server = Sshd(docker.from_env(), tmp_path_factory.mktemp("sshd"))
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def via_ssh(sshd, monkeypatch):
    monkeypatch.setenv(ssh_tunnel.SSH_COMMAND_ENV, sshd.ssh_command)
    return sshd


def _tunnels() -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["cmdline"]) if ssh_tunnel.MARKER in " ".join(p.info["cmdline"] or [])]


SLOW = """phases:
  - {name: baseline, duration: 3s}
  - name: slow
    duration: 6s
    faults:
      - {kind: delay, target: store, direction: ingress, latency: 100ms}"""


def test_a_run_on_an_ssh_engine_goes_through_one_ssh_connection(tmp_path, via_ssh):
    before = {p.pid for p in _tunnels()}
    sc = scenario(tmp_path, phases=SLOW, rate=20, requests="    - {name: fetch, method: GET, path: /fetch}",
                  captures="  pprof: [goroutine]")
    res = run_cli("run", str(sc), "--runs-dir", str(tmp_path / "runs"), "--json", "--docker-host", via_ssh.url)
    assert res.returncode == 0, res.stderr[-3000:] + res.stdout[-2000:] + via_ssh.logs()[-2000:]
    run_dir = Path(json.loads(res.stdout)["run_dir"])
    m = json.loads((run_dir / "manifest.json").read_text())
    assert (m["tools"]["docker_host"], m["tools"]["docker_engine"]) == (via_ssh.url, "remote")
    # published on the engine host's loopback, reached here through forwards of the connection
    override = yaml.safe_load((run_dir / "compose.override.yml").read_text())
    assert all(p.startswith("127.0.0.1::") for p in override["services"]["api"]["ports"])
    stats = json.loads((run_dir / "load/stats.json").read_text())
    fetch = {ph: next(e for e in v["endpoints"] if e["name"] == "fetch") for ph, v in stats["phases"].items()}
    assert fetch["baseline"]["requests"] >= 40 and fetch["baseline"]["failures"] == 0
    # applying the fault takes some 30 engine calls through the connection (1.6 s here): the
    # phase is long enough for most of its requests to be delayed
    assert fetch["slow"]["p50_ms"] >= fetch["baseline"]["p50_ms"] + 80, fetch
    assert any(a["kind"] == "goroutine" for a in m["artifacts"])
    logs = via_ssh.logs()
    target = int(re.search(r"http://127\.0\.0\.1:(\d+)", stats["target"]).group(1))
    forwarded = {int(x) for x in re.findall(r"direct_tcpip: originator .*?target 127\.0\.0\.1 port (\d+)", logs)}
    assert forwarded and target not in forwarded, (target, forwarded)   # a forward's local end, not the engine's
    assert "/var/run/docker.sock" in logs                              # the engine's socket, forwarded
    assert len(re.findall(r"Accepted publickey for root", logs)) >= 1
    # the connection is closed and its control folder gone
    assert {p.pid for p in _tunnels()} <= before
    assert project_resources(m["compose_project"]) == EMPTY


def test_sigkill_on_an_ssh_engine_the_watchdog_tears_down_then_closes_the_connection(tmp_path, via_ssh):
    sc = scenario(tmp_path, phases="phases:\n  - {name: baseline, duration: 3s}\n  - name: slow\n    duration: 60s\n"
                                   "    faults:\n      - {kind: delay, target: store, direction: ingress, latency: 50ms}")
    runs = tmp_path / "runs"
    p = subprocess.Popen([sys.executable, "-m", "harness.cli", "run", str(sc), "--runs-dir", str(runs), "--quiet",
                          "--docker-host", via_ssh.url], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        events = wait_for_event(p, runs, "fault-applied")
        pid = int((events.parent / ssh_tunnel.PIDFILE).read_text().split()[0])
        assert psutil.pid_exists(pid)
    finally:
        p.kill()
        p.wait(timeout=30)
    project = json.loads((events.parent / "manifest.json").read_text())["compose_project"]
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and (project_resources(project) != EMPTY or psutil.pid_exists(pid)):
        time.sleep(0.5)
    assert project_resources(project) == EMPTY
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_an_ssh_engine_that_cannot_be_reached_is_a_clear_error(tmp_path, via_ssh, monkeypatch):
    sc = scenario(tmp_path, phases="duration: 3s")
    monkeypatch.setenv(ssh_tunnel.SSH_COMMAND_ENV, via_ssh.ssh_command.replace(str(via_ssh.key), str(tmp_path / "no-key")))
    res = run_cli("run", str(sc), "--runs-dir", str(tmp_path / "runs"), "--docker-host", via_ssh.url, timeout=120)
    out = res.stdout + res.stderr
    assert res.returncode == 2 and "could not reach the Docker engine over ssh at root@127.0.0.1" in out, out
    assert "Permission denied" in out and f"ssh -p {via_ssh.port} root@127.0.0.1 true" in out
    assert "Traceback" not in out
    monkeypatch.setenv(ssh_tunnel.SSH_COMMAND_ENV, via_ssh.ssh_command)
    wrong = via_ssh.url + "/no/such/docker.sock"
    res = run_cli("doctor", "--docker-host", wrong, timeout=120)
    out = res.stdout + res.stderr
    assert res.returncode != 0 and "did not answer through ssh" in out and "/no/such/docker.sock" in out, out
    assert not _tunnels()
