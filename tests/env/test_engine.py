"""Which Docker engine a run uses: the order of the choices, the address forms, the errors, and
the engine's stats document read as the cgroup readers' figures (pure logic, no engine)."""
from __future__ import annotations

import pytest

from harness import docker_engine as engine
from harness import ssh_tunnel
from harness.capture.stats import from_engine
from harness.errors import HarnessError, ScenarioError
from harness.scenario import load_scenario

from .conftest import write_scenario


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("HARNESS_DOCKER_HOST", "DOCKER_HOST", "DOCKER_CONTEXT"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_the_first_choice_that_says_wins(clean_env):
    assert engine.choose() == engine.Engine(engine.LOCAL_SOCKET, "default") and engine.choose().local
    clean_env.setenv("DOCKER_HOST", "tcp://10.1.2.3:2375")
    assert engine.choose().source == "DOCKER_HOST"
    assert engine.choose(scenario_host="tcp://10.9.9.9:2376").host == "tcp://10.9.9.9:2376"
    clean_env.setenv("HARNESS_DOCKER_HOST", "tcp://10.4.4.4:2375")
    assert engine.choose(scenario_host="tcp://10.9.9.9:2376").source == "HARNESS_DOCKER_HOST"
    e = engine.choose("tcp://127.0.0.2:2375", scenario_host="tcp://10.9.9.9:2376")
    assert (e.host, e.source, e.local, e.address) == ("tcp://127.0.0.2:2375", "--docker-host", False, "127.0.0.2")
    assert engine.Engine("unix:///run/docker.sock", "x").address == "127.0.0.1"


@pytest.mark.parametrize("value,what,hint", [
    ("ssh://me@build-host:22x", "not an ssh:// Docker engine address", "ssh://[USER@]HOST[:PORT]"),
    ("ssh://me@build-host?socket=/run/docker.sock", "not an ssh:// Docker engine address", "/PATH/TO/docker.sock"),
    ("tcp://build-host", "not a Docker engine address", "tcp://HOST:PORT"),
    ("http://10.0.0.1:2375", "not a Docker engine address", "unix:///var/run/docker.sock"),
])
def test_addresses_the_harness_cannot_use_are_clear_errors(clean_env, value, what, hint):
    with pytest.raises(HarnessError) as e:
        engine.choose(value)
    assert what in e.value.what and hint in e.value.hint and e.value.where == "--docker-host"


def test_an_unknown_context_names_itself(clean_env):
    clean_env.setenv("DOCKER_CONTEXT", "no-such-context-here")
    with pytest.raises(HarnessError) as e:
        engine.choose()
    assert "no Docker context 'no-such-context-here'" in e.value.what and "docker context ls" in e.value.hint


def test_the_scenario_names_its_engine(tmp_path, clean_env):
    path = write_scenario(tmp_path)
    text = path.read_text()
    path.write_text(text + "docker: {host: 'tcp://10.7.0.1:2376'}\n")
    sc = load_scenario(path)
    assert (sc.docker_host, sc.docker_context) == ("tcp://10.7.0.1:2376", None)
    path.write_text(text + "docker: {host: 'ssh://me@x', context: y}\n")
    with pytest.raises(ScenarioError) as e:
        load_scenario(path)
    assert "give one of 'host' and 'context'" in e.value.what and "envtest.yaml:" in e.value.where
    path.write_text(text + "docker: {host: 'ssh://me@x'}\n")
    assert load_scenario(path).docker_host == "ssh://me@x"
    path.write_text(text + "docker: {host: 'ssh://me@x:port'}\n")
    with pytest.raises(ScenarioError) as e:
        load_scenario(path)
    assert "not an ssh:// Docker engine address" in e.value.what and "envtest.yaml:" in e.value.where


def test_an_ssh_engine_is_remote_and_reached_on_this_hosts_loopback(clean_env):
    e = engine.choose("ssh://deploy@build-host:2222/run/user/1000/docker.sock")
    assert (e.local, e.ssh, e.address) == (False, True, "127.0.0.1")
    d = ssh_tunnel.parse(e.host, "x")
    assert (d.user, d.host, d.port, d.socket, d.login) == ("deploy", "build-host", 2222, "/run/user/1000/docker.sock",
                                                           "deploy@build-host")
    d = ssh_tunnel.parse("ssh://build-host", "x")
    assert (d.user, d.port, d.socket, d.login) == (None, None, "/var/run/docker.sock", "build-host")
    assert engine.reach(8080) == 8080            # no ssh engine active: a port is itself
    clean_env.setenv("HARNESS_SSH_COMMAND", "no-such-ssh-client -i key")
    with pytest.raises(HarnessError) as err:
        ssh_tunnel.ssh_command()
    assert "no ssh client" in err.value.what and "no-such-ssh-client" in err.value.seen


def test_the_engines_stats_document_reads_as_cgroup_figures():
    doc = {"cpu_stats": {"cpu_usage": {"total_usage": 5_000_000_000},
                         "throttling_data": {"periods": 40, "throttled_periods": 12, "throttled_time": 3_000_000}},
           "memory_stats": {"usage": 41943040, "limit": 134217728},
           "networks": {"eth0": {"rx_bytes": 100, "tx_bytes": 50}, "eth1": {"rx_bytes": 1, "tx_bytes": 2}}}
    raw, net = from_engine(doc)
    assert raw == {"cpu_ns": 5_000_000_000, "throttled_periods": 12, "periods": 40, "throttled_ns": 3_000_000,
                   "mem_bytes": 41943040, "mem_limit": 134217728, "oom_kills": 0}
    assert net == (101, 52)
    with pytest.raises(ValueError):
        from_engine({"cpu_stats": {}, "memory_stats": {}})        # a stopped container
