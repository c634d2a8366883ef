"""`harness validate` catches what a run would fail on later (or what would reach the host):
network faults on services that share the host's namespaces, ports published on every
address, duplicate fault ids, two faults that would replace each other, limits Docker refuses,
unknown capabilities, service names Compose refuses, an unpublished load port, a folder as
compose file. Each error names file:line; each opt-in is honoured."""
from __future__ import annotations

import os
import re
import textwrap
from pathlib import Path

import pytest

from harness.errors import ScenarioError
from harness.scenario.model import load_scenario

COMPOSE = """\
services:
  api:
    build: .
{api}
  store:
    image: scratch
{store}
"""


def scenario(tmp_path: Path, *, api: str = "", store: str = "", top: str = "", services: str = "",
             faults: str = "", load_port: int = 8080) -> Path:
    (tmp_path / "docker-compose.yml").write_text(COMPOSE.format(api=textwrap.indent(api, "    "),
                                                                store=textwrap.indent(store, "    ")))
    services = services or "api: {ports: [8080]}"
    text = textwrap.dedent("""\
        name: t
        compose: docker-compose.yml
        {top}
        services:
          {services}
        load:
          target: {{service: api, port: {load_port}}}
          rate: 10
          requests: [{{path: /}}]
        phases:
          - {{name: base, duration: 5s}}
          - name: fault
            duration: 5s
            faults:
        {faults}
        """).format(top=top, services=services, load_port=load_port,
                    faults=textwrap.indent(textwrap.dedent(faults) or "      []", "      "))
    text = text.replace("    faults:\n      []", "    faults: []")
    f = tmp_path / "s.yaml"
    f.write_text(text)
    return f


def error(f: Path) -> str:
    with pytest.raises(ScenarioError) as info:
        load_scenario(f)
    return info.value.render()


def line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


DELAY_ON = "- {{kind: delay, target: {t}, latency: 50ms}}"


# -- host namespaces (issue item 1) ---------------------------------------------------------------

@pytest.mark.parametrize("api, why", [
    ("network_mode: host", "network_mode: host"),
    ("pid: host", "pid: host"),
    ("privileged: true", "privileged: true"),
])
def test_network_fault_on_host_namespace_service_is_refused(tmp_path, api, why):
    f = scenario(tmp_path, api=api, faults=DELAY_ON.format(t="api"))
    text = error(f)
    assert "would act on this machine's own network" in text
    assert f"{f}:{line_of(f, 'kind: delay')}:" in text          # the fault's target, file:line
    compose = tmp_path / "docker-compose.yml"
    assert f"{why} at {compose}:{line_of(compose, why)}" in text  # and where the compose file says so
    assert "allow_host_namespaces: true" in text


def test_a_service_on_another_services_host_network_is_refused_too(tmp_path):
    f = scenario(tmp_path, api="network_mode: host", store="network_mode: service:api",
                 faults=DELAY_ON.format(t="store"))
    assert "network_mode: host" in error(f)


def test_host_namespaces_opt_in_is_honoured_and_warned(tmp_path):
    f = scenario(tmp_path, api="network_mode: host", top="allow_host_namespaces: true",
                 faults=DELAY_ON.format(t="api"))
    sc = load_scenario(f)
    assert sc.fault_specs()[0].allow_host
    assert any("shares this machine's namespaces" in w for w in sc.warnings)


def test_non_network_faults_on_privileged_services_are_allowed(tmp_path):
    f = scenario(tmp_path, api="privileged: true", faults="- {kind: pause, target: api}")
    assert load_scenario(f).fault_specs()[0].kind == "pause"


# -- published ports (item 6) ---------------------------------------------------------------------

@pytest.mark.parametrize("ports", ['["18081:6060"]', '["6060"]', '["0.0.0.0:18081:6060"]',
                                   '[{target: 6060, published: 18081}]'])
def test_ports_published_on_every_address_are_refused(tmp_path, ports):
    f = scenario(tmp_path, api=f"ports: {ports}")
    text = error(f)
    compose = tmp_path / "docker-compose.yml"
    assert "on every address of this machine" in text
    assert f"{compose}:{line_of(compose, 'ports:')}" in text
    assert "allow_public_ports: true" in text and "127.0.0.1:" in text


@pytest.mark.parametrize("ports", ['["127.0.0.1:18081:6060"]', '["127.0.0.1::6060"]', '["[::1]:18081:6060"]',
                                   '[{target: 6060, published: 18081, host_ip: 127.0.0.1}]'])
def test_loopback_ports_are_accepted(tmp_path, ports):
    load_scenario(scenario(tmp_path, api=f"ports: {ports}"))


def test_public_ports_opt_in(tmp_path):
    assert load_scenario(scenario(tmp_path, api='ports: ["18081:6060"]', top="allow_public_ports: true"))


# -- what a run would fail on later (item 7) --------------------------------------------------------

def test_duplicate_fault_ids(tmp_path):
    f = scenario(tmp_path, faults="""\
        - {id: slow, kind: delay, target: api, latency: 50ms}
        - {id: slow, kind: pause, target: store}""")
    text = error(f)
    assert "duplicate fault id 'slow'" in text
    assert f"{f}:{line_of(f, 'kind: pause')}:" in text and f"first used at {f}:{line_of(f, 'kind: delay')}" in text


def test_two_faults_of_a_kind_on_the_same_traffic(tmp_path):
    f = scenario(tmp_path, faults="""\
        - {kind: delay, target: api, latency: 50ms}
        - {kind: delay, target: api, latency: 80ms, direction: both}""")
    assert "a second 'delay' fault on 'api'" in error(f)
    f = scenario(tmp_path, faults="""\
        - {kind: delay, target: api, latency: 50ms, peer: {service: store, port: 6379}}
        - {kind: delay, target: api, latency: 80ms, peer: 8080}""")
    assert len(load_scenario(f).fault_specs()) == 2          # different traffic: both stay


def test_cpus_above_the_host(tmp_path):
    n = os.cpu_count()
    f = scenario(tmp_path, services=f"api: {{ports: [8080], limits: {{cpus: {n + 1}}}}}")
    assert f"more CPUs than this machine has ({n})" in error(f)


@pytest.mark.parametrize("cpuset, what", [("1-0", "reversed"), (str(os.cpu_count()), "does not exist")])
def test_bad_cpuset(tmp_path, cpuset, what):
    f = scenario(tmp_path, services=f"api: {{ports: [8080], limits: {{cpuset: '{cpuset}'}}}}")
    assert what in error(f)


@pytest.mark.parametrize("size", ["99999999t", "10000000000000000000"])
def test_memory_beyond_int64(tmp_path, size):
    f = scenario(tmp_path, services=f"api: {{ports: [8080], limits: {{memory: {size}}}}}")
    assert re.search(r"limits\.memory: .*at most", error(f))


def test_unknown_capability_and_broad_ones_warned(tmp_path):
    f = scenario(tmp_path, services="api: {ports: [8080], cap_add: [NET_ADMN]}")
    assert "unknown Linux capability 'NET_ADMN'" in error(f) and "NET_ADMIN" in error(f)
    f = scenario(tmp_path, services="api: {ports: [8080], cap_add: [SYS_ADMIN]}")
    assert any("SYS_ADMIN" in w for w in load_scenario(f).warnings)


def test_service_name_compose_refuses(tmp_path):
    f = scenario(tmp_path)
    compose = tmp_path / "docker-compose.yml"
    compose.write_text(compose.read_text().replace("  store:", "  _store:"))
    text = error(f)
    assert "Compose refuses this service name" in text and f"{compose}:5" in text


def test_load_port_not_published(tmp_path):
    f = scenario(tmp_path, load_port=9090)
    text = error(f)
    assert "port 9090 of 'api' is not published" in text and "services.api.ports" in text


def test_compose_folder(tmp_path):
    f = scenario(tmp_path)
    f.write_text(f.read_text().replace("compose: docker-compose.yml", "compose: ."))
    text = error(f)
    assert "expected a compose file, got a folder" in text and "./docker-compose.yml" in text
