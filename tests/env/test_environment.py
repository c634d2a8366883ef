"""The compose environment against the real Docker engine: limits, loopback ports,
labels, readiness errors, and teardown that leaves nothing behind."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from harness.env.compose import Environment, build_override, detect_compose, run_labels
from harness.errors import ReadinessError
from harness.scenario import load_scenario

from .conftest import REPO, project_resources, write_scenario

pytestmark = pytest.mark.docker


def _env(tmp_path: Path, scenario_path: Path, project: str) -> Environment:
    sc = load_scenario(scenario_path)
    run_dir = tmp_path / "run"
    run_dir.mkdir(exist_ok=True)
    return Environment(sc, run_dir, f"{project}-run", project, detect_compose())


def test_override_is_pure_and_loopback_only(tmp_path):
    sc = load_scenario(write_scenario(tmp_path))
    labels = run_labels("r1", "p1")
    ov = build_override(sc, labels, [{"version": "3.7", "services": {"api": {"build": "."}, "store": {}}}])
    api = ov["services"]["api"]
    assert api["mem_limit"] == 96 << 20 and api["memswap_limit"] == 96 << 20
    assert api["cpus"] == 0.5 and api["pids_limit"] == 128
    assert api["ports"] == ["127.0.0.1::8080", "127.0.0.1::6060"]
    assert api["labels"]["io.harness.project"] == "p1"
    assert api["build"]["labels"]["io.harness.run"] == "r1"
    assert ov["services"]["store"]["memswap_limit"] == 48 << 20  # no swap unless asked
    assert "ports" not in ov["services"]["store"]
    assert ov["networks"]["default"]["labels"]["io.harness.run"] == "r1"
    assert ov["version"] == "3.7"
    also = build_override(sc, labels, [{"services": {"api": {}, "store": {}}}], also_on={"api": ("10.0.0.7", (8080,))})
    assert also["services"]["api"]["ports"] == ["127.0.0.1::8080", "127.0.0.1::6060", "10.0.0.7::8080"]
    assert "ports" not in also["services"]["store"]


@pytest.fixture
def dummy_if():
    """An interface of the test's own (one end of a veth pair, a /32 address), removed after:
    where load.target.publish publishes the load target for remote workers."""
    name, ip = f"hlt{os.getpid() % 10000}a", f"10.251.{os.getpid() % 250}.1"
    if os.geteuid() != 0:
        pytest.skip("needs root to make an interface")
    try:
        for cmd in (("link", "add", name, "type", "veth", "peer", "name", name[:-1] + "b"),
                    ("addr", "add", f"{ip}/32", "dev", name), ("link", "set", name, "up")):
            subprocess.run(["ip", *cmd], check=True, capture_output=True, timeout=20)
        yield name, ip
    finally:
        subprocess.run(["ip", "link", "del", name], capture_output=True, timeout=20)


def test_limits_ports_labels_and_teardown(tmp_path, demo_binary, dummy_if):
    project = f"htestenv{os.getpid()}"
    path = write_scenario(tmp_path)
    path.write_text(path.read_text().replace("port: 8080}", f"port: 8080, publish: {dummy_if[0]}}}"))
    env = _env(tmp_path, path, project)
    with env:
        services = env.up()
        env.wait_ready()
        import docker

        api = docker.from_env().containers.get(services["api"].container_id)
        hc = api.attrs["HostConfig"]
        assert hc["Memory"] == 96 << 20
        assert hc["MemorySwap"] == 96 << 20
        assert hc["NanoCpus"] == 500_000_000
        assert hc["PidsLimit"] == 128
        binds = {(b["HostIp"], k) for k, v in api.attrs["NetworkSettings"]["Ports"].items() for b in v or []}
        assert binds == {("127.0.0.1", "8080/tcp"), ("127.0.0.1", "6060/tcp"), (dummy_if[1], "8080/tcp")}
        port = services["api"].published[8080]
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5).read()
        assert body == b"ok\n"
        # load.target.publish: the target port, and only it, on the named interface's address too
        assert list(services["api"].exposed) == [8080] and services["api"].exposed[8080][0] == dummy_if[1]
        addr, other = services["api"].exposed[8080]
        assert urllib.request.urlopen(f"http://{addr}:{other}/healthz", timeout=5).read() == b"ok\n"
        assert services["api"].pprof_url.startswith("http://127.0.0.1:")
        assert services["api"].pid > 0
        assert services["api"].module == "example.com/demo"
        res = project_resources(project)
        assert len(res["containers"]) == 2 and res["networks"]
        # the user's compose file is untouched; the override lives in the run dir
        assert "io.harness" not in (REPO / "compose/demo/docker-compose.yml").read_text()
        assert f"127.0.0.1:{port}:8080" in env.override_path.read_text()     # fixed: kept across restarts
    assert project_resources(project) == {"containers": [], "networks": [], "volumes": [], "images": []}
    assert (tmp_path / "run" / "logs" / "api.log").exists()


def test_readiness_timeout_is_clear_and_tears_down(tmp_path, demo_binary):
    body = write_scenario(tmp_path).read_text().replace(
        "ready: {http: /healthz, timeout: 30s}", "ready: {http: /nope, timeout: 2s}")
    scenario = tmp_path / "bad.yaml"
    scenario.write_text(body)
    project = f"htestready{os.getpid()}"
    env = _env(tmp_path, scenario, project)
    with pytest.raises(ReadinessError) as ei:
        with env:
            env.up()
            env.wait_ready()
    text = ei.value.render()
    assert "service 'api' was not ready within 2s" in text
    assert "/nope" in text and "last check: HTTP 404" in text
    assert "demo api listening on :8080" in text  # the container's log tail
    assert "Hint:" in text
    assert project_resources(project)["containers"] == []


def test_exited_container_fails_fast(tmp_path, demo_binary):
    compose = tmp_path / "compose.yml"
    compose.write_text(f"""\
services:
  api:
    build: {REPO / 'compose/demo'}
    command: ["-addr", "not-an-address"]
""")
    scenario = tmp_path / "exit.yaml"
    scenario.write_text(f"""\
name: exits
compose: {compose}
services:
  api:
    ports: [8080]
    ready: {{http: /healthz, timeout: 60s}}
load:
  target: {{service: api, port: 8080}}
  rate: 5
  requests: [{{name: r, path: /}}]
""")
    project = f"htestexit{os.getpid()}"
    env = _env(tmp_path, scenario, project)
    t = time.monotonic()
    with pytest.raises(ReadinessError) as ei:
        with env:
            env.up()
            env.wait_ready()
    assert "stopped before it became ready" in ei.value.render()
    assert time.monotonic() - t < 50  # did not wait for the whole timeout
    assert project_resources(project)["containers"] == []


def test_clean_removes_what_a_killed_process_left(tmp_path, demo_binary):
    """A process brings the environment up and is SIGKILLed; `harness clean` removes it all."""
    scenario = write_scenario(tmp_path)
    project = f"htestkill{os.getpid()}"
    script = f"""
import sys, time
from pathlib import Path
from harness.env.compose import Environment, detect_compose
from harness.scenario import load_scenario
run = Path({str(tmp_path / 'krun')!r}); run.mkdir()
env = Environment(load_scenario({str(scenario)!r}), run, "k-run", {project!r}, detect_compose())
env.up()
print("UP", flush=True)
time.sleep(600)
"""
    p = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "UP"
        assert len(project_resources(project)["containers"]) == 2
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=30)
    out = subprocess.run([sys.executable, "-m", "harness.cli", "clean", "--dry-run"], capture_output=True,
                         text=True, timeout=120)
    assert f"would remove {project}" in out.stdout
    assert len(project_resources(project)["containers"]) == 2  # dry run changed nothing
    out = subprocess.run([sys.executable, "-m", "harness.cli", "clean"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert f"removed {project}" in out.stdout
    assert project_resources(project) == {"containers": [], "networks": [], "volumes": [], "images": []}


def test_clean_skips_runs_whose_owner_is_alive(tmp_path, demo_binary):
    project = f"htestalive{os.getpid()}"
    env = _env(tmp_path, write_scenario(tmp_path), project)
    with env:
        env.up()
        out = subprocess.run([sys.executable, "-m", "harness.cli", "clean"], capture_output=True,
                             text=True, timeout=120)
        assert f"skip {project}" in out.stdout
        assert len(project_resources(project)["containers"]) == 2


def test_published_ports_are_distinct_loopback_ports(tmp_path):
    """Every published port of the override gets its own host port (a port picked and released one
    at a time was once handed out twice: two container ports on one host port)."""
    import socket

    from harness.env.compose import LoopbackPorts

    def bindable(port: int) -> bool:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return True
            except OSError:
                return False
    ports = LoopbackPorts()
    try:
        picked = [ports() for _ in range(50)]
        assert len(set(picked)) == len(picked)
        assert not any(bindable(p) for p in picked)      # held: the kernel cannot hand them out again
    finally:
        ports.close()
    assert all(bindable(p) for p in picked)              # released for compose to bind
    sc = load_scenario(write_scenario(tmp_path))
    ov = build_override(sc, run_labels("r1", "p1"), [{"version": "3.7", "services": {"api": {}, "store": {}}}],
                        host_port=LoopbackPorts())
    hosts = [p.split(":")[1] for svc in ov["services"].values() for p in svc.get("ports", [])]
    assert hosts and len(set(hosts)) == len(hosts), hosts
