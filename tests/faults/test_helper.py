"""The fault helper container on the real engine: its FROM-scratch image builds from this host's
tc, ip, ss and iptables, and a helper in a target's network namespace changes that namespace,
not its own: what it adds is seen from the host with nsenter into the target."""
from __future__ import annotations

import json
import os
import subprocess
import uuid

import docker.errors
import pytest

from harness.errors import HarnessError
from harness.faults import helper

pytestmark = pytest.mark.docker


def _ns(pid: int, *argv: str) -> str:
    return subprocess.run(["nsenter", "-t", str(pid), "-n", "--", *argv], capture_output=True, text=True,
                          timeout=20, check=True).stdout


def test_a_helper_runs_tc_and_iptables_in_its_targets_namespace(docker_client):
    if os.geteuid() != 0:
        pytest.skip("needs root for nsenter")
    fs = helper.rootfs()
    assert {"/usr/sbin/tc", "/usr/sbin/xtables-nft-multi", "/usr/sbin/xtables-legacy-multi"} <= set(fs.files)
    assert any(f.endswith("/xtables/libxt_statistic.so") for f in fs.files)     # loaded at run time
    assert fs.links["/usr/sbin/iptables"] == "xtables-nft-multi"
    tag = helper.image(docker_client)
    assert helper.image(docker_client) == tag           # built once: the tag is the files' hash
    project = f"hfh-{uuid.uuid4().hex[:6]}"
    labels = {"io.harness.project": project}
    target = docker_client.containers.run(tag, detach=True, labels=labels, name=f"{project}-target")
    helpers = []
    try:
        h = helper.start(docker_client, target.id, labels)
        helpers.append(h)
        assert helper.find(docker_client, target.id).id == h.id
        helper.run(h, ["tc", "qdisc", "add", "dev", "eth0", "root", "handle", "1:", "tbf", "rate", "8mbit",
                       "burst", "32kbit", "latency", "50ms"])
        helper.run(h, ["iptables", "-w", "5", "-A", "OUTPUT", "-p", "tcp", "-m", "statistic", "--mode", "random",
                       "--probability", "0.5", "-j", "DROP"])
        target.reload()
        pid = target.attrs["State"]["Pid"]
        qd = json.loads(_ns(pid, "tc", "-j", "qdisc", "show", "dev", "eth0"))
        assert any(q["kind"] == "tbf" and q.get("root") for q in qd), qd
        assert "--probability 0.5" in _ns(pid, "iptables", "-S", "OUTPUT")
        listed = helper.run(h, ["iptables", "-S", "OUTPUT"]).stdout
        assert "statistic" in listed
        bad = helper.run(h, ["tc", "qdisc", "add", "dev", "nosuch0", "root", "tbf"], check=False)
        assert bad.returncode != 0 and bad.stderr
        helper.run(h, ["tc", "qdisc", "del", "dev", "eth0", "root"])
        helper.run(h, ["iptables", "-w", "5", "-F", "OUTPUT"])
        assert "tbf" not in _ns(pid, "tc", "qdisc", "show", "dev", "eth0")
        h.remove(force=True)                  # a helper that is gone says so: ns() then finds or starts one
        with pytest.raises(helper.HelperGone):
            helper.run(h, ["tc", "-V"])
    finally:
        for c in [*helpers, target]:
            try:
                c.remove(force=True)
            except docker.errors.NotFound:
                pass
    assert not docker_client.containers.list(all=True, filters={"label": f"io.harness.project={project}"})


def test_the_fault_proxy_runs_as_a_container_in_its_targets_namespace(docker_client):
    """The proxy's image holds this host's interpreter and the modules a proxy loads; the proxy
    listens inside the target's namespace; one that cannot start says why and is removed."""
    if os.geteuid() != 0:
        pytest.skip("needs root for nsenter")
    pi = helper.proxy_rootfs()
    names = {os.path.basename(f) for f in pi.fs.files}
    assert pi.python in pi.fs.files and "libc.so.6" in names          # with what ldd lists for it
    assert {"proxy.py", "delay.py", "slow_close.py", "aliases.py"} <= names     # harness and stdlib modules
    assert any(n.startswith("_asyncio.") for n in names)                # extension modules it loads
    project = f"hfp-{uuid.uuid4().hex[:6]}"
    labels = {"io.harness.project": project}
    target = docker_client.containers.run(helper.image(docker_client), detach=True, labels=labels,
                                          name=f"{project}-target")
    try:
        target.reload()
        config = {"kind": "delay", "params": {"latency": 0.05, "jitter": 0.0, "distribution": "uniform"},
                  "direction": "egress", "mark": 0x2a, "out_port": 20011, "in_port": 20012, "in_addrs": []}
        proxy = helper.start_proxy(docker_client, target, f"{project}-proxy",
                                   ["--tag=test", "--config", json.dumps(config)])
        assert proxy.labels["io.harness.proxy_for"] == target.id
        assert proxy.labels["io.harness.project"] == project            # harness clean finds it
        listening = _ns(target.attrs["State"]["Pid"], "ss", "-H", "-l", "-t", "-n")
        assert "127.0.0.1:20011" in listening and "127.0.0.1:20012" in listening, listening
        # a second proxy on the same ports cannot listen: the error carries its output
        with pytest.raises(HarnessError) as e:
            helper.start_proxy(docker_client, target, f"{project}-proxy2",
                               ["--tag=test2", "--config", json.dumps(config)], timeout=10)
        assert "cannot listen" in str(e.value)
        assert not docker_client.containers.list(all=True, filters={"name": f"{project}-proxy2"})
        assert helper.remove_named(docker_client, f"{project}-proxy") is True
        assert helper.remove_named(docker_client, f"{project}-proxy") is False
    finally:
        for c in docker_client.containers.list(all=True, filters={"label": f"io.harness.project={project}"}):
            c.remove(force=True)
