"""Faults never reach the host: while network faults of every backend are applied, the host's
own iptables tables and listening sockets are unchanged and the fault proxy listens only on
the container's addresses; a container in the host's network namespace is refused at apply
time; and `harness run` refuses a host-network service for a network fault before it starts
anything."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.faults.spec import FaultSpec, Peer
from harness.faults.target import Target, make_tag, shares_host_network

from . import helpers

pytestmark = [pytest.mark.docker, pytest.mark.slow]

TABLES = ("filter", "nat", "mangle", "raw")


def host_rules() -> dict[str, list[str]]:
    """The host's own iptables rules per table (no counters)."""
    return {t: subprocess.run(["iptables", "-t", t, "-S"], capture_output=True, text=True, timeout=20,
                              check=True).stdout.splitlines() for t in TABLES}


def listeners(pid: int | None = None) -> set[str]:
    """Listening TCP/UDP local addresses (host:port) in the host's namespace, or a container's."""
    ns = ["nsenter", "-t", str(pid), "-n", "--"] if pid else []
    out = subprocess.run([*ns, "ss", "-Hltnu"], capture_output=True, text=True, timeout=20, check=True).stdout
    return {line.split()[4] for line in out.splitlines() if len(line.split()) > 4}


def loopback(addr: str) -> bool:
    host = addr.rsplit(":", 1)[0].strip("[]").split("%")[0]
    return host.startswith("127.") or host == "::1"


FAULTS = [
    FaultSpec(id="hs-proxy", kind="delay", target="target", peer=Peer(service="peer_a", port=8080),
              params={"latency": 0.05, "jitter": 0.0, "distribution": "normal", "correlation": 0.0}),
    FaultSpec(id="hs-inbound", kind="delay", target="target", peer=Peer(port=8080), backend="proxy",
              params={"latency": 0.05, "jitter": 0.0, "distribution": "normal", "correlation": 0.0}),
    FaultSpec(id="hs-partition", kind="partition", target="target", peer=Peer(service="peer_b", protocol="all"), params={},
              direction="both"),
    FaultSpec(id="hs-rate", kind="rate", target="target", params={"rate": 1_000_000, "burst": 0, "queue": 0.4}),
]


@pytest.mark.parametrize("spec", FAULTS, ids=lambda s: s.id)
def test_a_fault_changes_nothing_of_the_host(env, controller, spec):
    rules, ports = host_rules(), listeners()
    with helpers.applied(controller, spec):
        during_rules, during_ports = host_rules(), listeners()
        inside = listeners(env.info("target").pid)
        helpers.get(env.ip("target"), "/")               # the service still answers through it
    assert during_rules == rules, {t: set(during_rules[t]) ^ set(rules[t]) for t in TABLES}
    new = during_ports - ports
    assert all(loopback(a) for a in new), new
    if controller.records()[-1]["backend"] == "proxy":
        out_port, in_port = Target(fault_id=spec.id, service="target", container="", run_dir=Path("."),
                                   tag=make_tag(controller.rc.run_id, spec.id)).proxy_ports
        mine = {a for a in inside if a.endswith((f":{out_port}", f":{in_port}"))}
        assert mine, inside                              # the proxy was listening ...
        assert all(loopback(a) or a.startswith(env.ip("target") + ":") for a in mine), mine   # ... never on *
    assert host_rules() == rules


def test_a_container_in_the_hosts_network_namespace_is_refused(env, docker_client, image, tmp_path):
    assert shares_host_network(os.getpid())                          # this process is in the host's netns
    assert not shares_host_network(env.info("target").pid)           # a container on a bridge is not
    c = docker_client.containers.run(image, detach=True, name=f"{env.project}-hostnet", network_mode="host",
                                     environment={"LISTEN_HOST": "127.0.0.1"},
                                     labels={**helpers.LABEL, "io.harness.project": env.project})
    try:
        info = helpers.service_info(c, "hostnet")
        rc = helpers.run_context(tmp_path / "run", {"hostnet": info, **env.services()}, env.project)
        from harness.faults.controller import FaultController
        fc = FaultController(rc, docker_client=docker_client)
        spec = FaultSpec(id="hs-host", kind="delay", target="hostnet", peer=Peer(service="peer_a", port=8080),
                         params={"latency": 0.05, "jitter": 0.0, "distribution": "normal", "correlation": 0.0},
                         backend="proxy")
        rules = host_rules()
        with pytest.raises(HarnessError) as info_:
            fc.apply(spec, "fault")
        fc.revert_all()
        assert "shares this machine's network namespace" in info_.value.render()
        assert host_rules() == rules
    finally:
        c.remove(force=True)


def test_harness_run_refuses_a_host_network_service_before_starting_anything(tmp_path, docker_client):
    (tmp_path / "docker-compose.yml").write_text(textwrap.dedent("""\
        services:
          api: {image: scratch, network_mode: host}
          store: {image: scratch}
        """))
    (tmp_path / "s.yaml").write_text(textwrap.dedent("""\
        name: hostnet
        compose: docker-compose.yml
        services: {api: {ports: [8080]}}
        load: {target: {service: store, port: 6379}, rate: 5, requests: [{path: /}]}
        phases:
          - {name: base, duration: 2s}
          - {name: fault, duration: 2s, faults: [{kind: delay, target: api, latency: 50ms}]}
        """).replace("services: {api: {ports: [8080]}}", "services: {api: {ports: [8080]}, store: {ports: [6379]}}"))
    before = {c.id for c in docker_client.containers.list(all=True)}
    rules = host_rules()
    res = subprocess.run([sys.executable, "-m", "harness.cli", "run", str(tmp_path / "s.yaml")],
                         capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "would act on this machine's own network" in res.stdout + res.stderr
    assert f"{tmp_path / 's.yaml'}:7:" in res.stdout + res.stderr
    assert {c.id for c in docker_client.containers.list(all=True)} == before
    assert host_rules() == rules
    assert not (tmp_path / "runs").exists()
