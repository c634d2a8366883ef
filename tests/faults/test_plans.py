"""The exact commands each backend builds (pure: no kernel, no Docker), netem's included."""
from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.faults import registry
from harness.faults.spec import FaultSpec
from harness.faults.target import Target

C = "c0ffee"
IPT = ["iptables", "-w", "5"]


def target(**kw) -> Target:
    base = dict(fault_id="f1", service="api", container=C, run_dir=Path("/runs/r1"), tag="0a1b2c3d",
                dev="eth0", ip="172.20.0.2")
    base.update(kw)
    return Target(**base)


PEER = dict(peer_ip="172.20.0.3", peer_port=5432, protocol="tcp")


def build(kind, params, backend, t=None, direction=None, peer=None):
    k = registry.get(kind)
    spec = FaultSpec(id="f1", kind=kind, target="api", params=params, peer=peer,
                     direction=direction or k.default_direction)
    return k.build(backend, spec, t or target())


def argvs(steps):
    return [s["argv"] if s["op"] == "ns" else [s["op"]] for s in steps]


def test_names_are_derived_from_the_tag():
    t = target(root_tag="77770000")
    assert (t.chain, t.handle, t.root_handle, t.shared_ifb, t.class_minor, t.filter_prio, t.proxy_ports) == \
        ("HF0a1b2c3d", "b1b:", "7877:", "hf77770000", "2c3f", 2589, (25914, 25915))


def test_iptables_loss_to_one_peer_port():
    p = build("loss", {"percent": 20.0, "correlation": 0.0}, "iptables", target(**PEER))
    ch = "HF0a1b2c3d-O"
    assert argvs(p.do) == [
        [*IPT, "-t", "filter", "-N", ch],
        [*IPT, "-t", "filter", "-A", ch, "-d", "172.20.0.3/32", "-p", "tcp", "--dport", "5432",
         "-m", "statistic", "--mode", "random", "--probability", "0.200000", "-j", "DROP"],
        [*IPT, "-t", "filter", "-I", "OUTPUT", "1", "-m", "comment", "--comment", "harness fault 0a1b2c3d",
         "-j", ch]]
    assert argvs(p.undo) == [
        [*IPT, "-t", "filter", "-D", "OUTPUT", "-m", "comment", "--comment", "harness fault 0a1b2c3d", "-j", ch],
        [*IPT, "-t", "filter", "-F", ch], [*IPT, "-t", "filter", "-X", ch]]
    assert all(s["ignore_errors"] for s in p.undo)


def test_iptables_every_nth_and_partition_both_directions():
    p = build("loss", {"every_nth": 5, "correlation": 0.0}, "iptables", target(), direction="ingress")
    assert p.do[1]["argv"][-13:] == ["!", "-i", "lo", "-m", "statistic", "--mode", "nth", "--every", "5",
                                     "--packet", "0", "-j", "DROP"][-13:]
    assert p.do[2]["argv"][6] == "INPUT"
    p = build("partition", {}, "iptables", target(peer_ip="172.20.0.3", protocol="all"))
    rules = [s["argv"][7:] for s in p.do if s["argv"][5] == "-A"]
    assert rules == [["-d", "172.20.0.3/32", "-j", "DROP"], ["-s", "172.20.0.3/32", "-j", "DROP"]]
    # undo: INPUT's chain first (reverse order of creation)
    assert [s["argv"][6] for s in p.undo if s["argv"][5] == "-D"] == ["INPUT", "OUTPUT"]


def test_the_harness_capture_port_is_returned_first_in_every_chain():
    """A partition of the whole service (no peer) must not cut the harness's own pprof reads."""
    p = build("partition", {}, "iptables", target(capture_ports=(6060,), protocol="all"), direction="both")
    rules = [s["argv"][6:] for s in p.do if s["argv"][5] == "-A"]
    assert rules[0] == ["HF0a1b2c3d-O", "-p", "tcp", "--sport", "6060", "-j", "RETURN"]
    assert rules[2] == ["HF0a1b2c3d-I", "-p", "tcp", "--dport", "6060", "-j", "RETURN"]
    p = build("delay", {"latency": 0.1, "jitter": 0.0, "distribution": "normal", "correlation": 0.0}, "proxy",
              target(capture_ports=(6060,)), direction="ingress")
    nat = [s["argv"][6:] for s in p.do if s.get("argv") and s["argv"][5] == "-A"]
    assert next(r for r in nat if r[0] == "HF0a1b2c3d-P") == ["HF0a1b2c3d-P", "-p", "tcp", "--dport", "6060",
                                                             "-j", "RETURN"]
    assert 6060 in next(s for s in p.do if s["op"] == "kill-flows")["exclude_ports"]
    # a fault on the pprof port itself is what the scenario asked for: no exemption
    p = build("partition", {}, "iptables", target(capture_ports=(6060,), peer_port=6060, own_port=True,
                                                  protocol="tcp"))
    assert all("RETURN" not in s["argv"] for s in p.do)


def test_capture_ports_come_from_the_pprof_url():
    from harness.faults.target import capture_ports
    from harness.runctx import ServiceInfo
    info = ServiceInfo(name="api", container_id="c", container_name="c", pid=1, ips={},
                       published={8080: 49153, 6060: 49154}, pprof_url="http://127.0.0.1:49154/debug/pprof")
    assert capture_ports(info) == (6060,)
    assert capture_ports(ServiceInfo(name="api", container_id="c", container_name="c", pid=1, ips={},
                                     published={8080: 49153}, pprof_url=None)) == ()


def test_iptables_reset_and_own_port_peer():
    p = build("reset", {"after": 0.0}, "iptables", target(peer_port=8080, own_port=True, protocol="tcp"),
              direction="ingress")
    assert p.do[1]["argv"][7:] == ["-p", "tcp", "--dport", "8080", "-j", "REJECT", "--reject-with", "tcp-reset"]


def test_tbf_egress_uses_the_shared_htb_root_and_its_own_class():
    t = target(root_tag="77770000")
    p = build("rate", {"rate": 1_000_000, "burst": 0, "queue": 0.4}, "tbf", t)
    (sid, shared), = p.shared
    assert sid == "tc-egress/api/eth0"
    assert shared.do == [
        {"op": "tc-claim-root", "container": C, "dev": "eth0", "handle": "7877:"},
        {"op": "ns", "container": C, "argv": ["tc", "qdisc", "add", "dev", "eth0", "root", "handle", "7877:",
                                              "htb", "default", "1"]},
        {"op": "ns", "container": C, "argv": ["tc", "class", "add", "dev", "eth0", "parent", "7877:", "classid",
                                              "7877:1", "htb", "rate", "10gbit"]}]
    assert shared.undo == [{"op": "tc-release-root", "container": C, "dev": "eth0", "handle": "7877:"}]
    assert argvs(p.do) == [
        ["tc", "class", "add", "dev", "eth0", "parent", "7877:", "classid", "7877:2c3f", "htb", "rate", "10gbit"],
        ["tc", "qdisc", "add", "dev", "eth0", "parent", "7877:2c3f", "handle", "b1b:", "tbf", "rate", "1000000bit",
         "burst", "3200", "latency", "400ms"],
        ["tc", "filter", "add", "dev", "eth0", "parent", "7877:", "protocol", "ip", "prio", "2589", "u32",
         "match", "u32", "0", "0", "flowid", "7877:2c3f"]]
    assert argvs(p.undo) == [
        ["tc", "filter", "del", "dev", "eth0", "parent", "7877:", "protocol", "ip", "prio", "2589"],
        ["tc", "class", "del", "dev", "eth0", "classid", "7877:2c3f"]]
    assert all(s["ignore_errors"] for s in p.undo)


def test_tbf_egress_to_one_peer_filters_on_its_address_and_port():
    p = build("rate", {"rate": 8_000_000, "burst": 0, "queue": 0.4}, "tbf", target(root_tag="77770000", **PEER))
    assert p.do[1]["argv"][-7:] == ["tbf", "rate", "8000000bit", "burst", "10000", "latency", "400ms"]
    assert p.do[2]["argv"][11:] == ["u32", "match", "ip", "dst", "172.20.0.3/32", "match", "ip", "protocol", "6",
                                    "0xff", "match", "ip", "dport", "5432", "0xffff", "flowid", "7877:2c3f"]


def test_tbf_ingress_uses_the_runs_own_ifb():
    p = build("rate", {"rate": 1_000_000, "burst": 0, "queue": 0.4}, "tbf", target(root_tag="77770000"),
              direction="ingress")
    (sid, shared), = p.shared
    assert sid == "tc-ingress/api/eth0"
    assert argvs(shared.do) == [
        ["tc-claim-ingress"],
        ["ip", "link", "add", "hf77770000", "type", "ifb"],
        ["ip", "link", "set", "dev", "hf77770000", "up"],
        ["tc", "qdisc", "add", "dev", "hf77770000", "root", "handle", "7877:", "htb", "default", "1"],
        ["tc", "class", "add", "dev", "hf77770000", "parent", "7877:", "classid", "7877:1", "htb", "rate", "10gbit"],
        ["tc", "qdisc", "add", "dev", "eth0", "handle", "ffff:", "ingress"],
        ["tc", "filter", "add", "dev", "eth0", "parent", "ffff:", "protocol", "all", "prio", "1", "u32",
         "match", "u32", "0", "0", "action", "mirred", "egress", "redirect", "dev", "hf77770000"]]
    assert shared.undo == [{"op": "tc-release-ingress", "container": C, "dev": "eth0", "ifb": "hf77770000"},
                           {"op": "ns", "container": C, "argv": ["ip", "link", "del", "hf77770000"],
                            "ignore_errors": True}]
    assert argvs(p.do)[1] == ["tc", "qdisc", "add", "dev", "hf77770000", "parent", "7877:2c3f", "handle", "b1b:",
                              "tbf", "rate", "1000000bit", "burst", "3200", "latency", "400ms"]


def test_root_handle_never_equals_the_faults_handle():
    t = target(root_tag="0a1b0000")
    assert t.handle == "b1b:" and t.root_handle == "b1c:"


@pytest.mark.parametrize("kind,params,expected", [
    ("delay", {"latency": 0.1, "jitter": 0.02, "distribution": "normal", "correlation": 25.0},
     ["delay", "100ms", "20ms", "25%", "distribution", "normal"]),
    ("delay", {"latency": 0.1, "jitter": 0.0, "distribution": "uniform", "correlation": 0.0}, ["delay", "100ms"]),
    ("loss", {"percent": 20.0, "correlation": 0.0}, ["loss", "random", "20%"]),
    ("duplicate", {"percent": 1.0, "correlation": 5.0}, ["duplicate", "1%", "5%"]),
    ("corrupt", {"percent": 0.1, "correlation": 0.0}, ["corrupt", "0.1%"]),
    ("reorder", {"percent": 25.0, "correlation": 50.0, "latency": 0.01, "gap": 5},
     ["delay", "10ms", "reorder", "25%", "50%", "gap", "5"]),
    ("rate", {"rate": 1_000_000, "burst": 0, "queue": 0.4}, ["rate", "1000000bit"]),
], ids=["delay-jitter", "delay", "loss", "duplicate", "corrupt", "reorder", "rate"])
def test_netem_commands(kind, params, expected):
    assert registry.get(kind).netem(params) == expected
    p = build(kind, params, "netem", target(root_tag="77770000"))
    assert p.do[1]["argv"] == ["tc", "qdisc", "add", "dev", "eth0", "parent", "7877:2c3f", "handle", "b1b:",
                               "netem", *expected]
    p = build(kind, params, "netem", target(root_tag="77770000", **PEER), direction="both")
    assert [sid for sid, _ in p.shared] == ["tc-egress/api/eth0", "tc-ingress/api/eth0"]
    assert ["tc", "qdisc", "add", "dev", "hf77770000", "parent", "7877:2c3f", "handle", "b1b:", "netem",
            *expected] in argvs(p.do)
    ingress_filter = argvs(p.do)[5]
    assert ingress_filter[ingress_filter.index("172.20.0.3/32") - 1] == "src"
    assert ingress_filter[ingress_filter.index("5432") - 1] == "sport"


def test_proxy_plan_spawns_in_the_namespace_then_redirects():
    p = build("delay", {"latency": 0.1, "jitter": 0.0, "distribution": "uniform", "correlation": 0.0}, "proxy",
              target(**PEER))
    spawn = p.do[0]
    assert spawn["op"] == "spawn" and spawn["container"] == C
    assert spawn["argv"][1:5] == ["-m", "harness.faults.proxy", "--tag=0a1b2c3d", "--pidfile"]
    nat = [s["argv"] for s in p.do[1:] if s["op"] == "ns"]
    assert nat[1] == [*IPT, "-t", "nat", "-A", "HF0a1b2c3d-O", "-p", "tcp", "-d", "172.20.0.3/32", "--dport",
                      "5432", "-m", "mark", "!", "--mark", "0x4a17", "-j", "REDIRECT", "--to-ports", "25914"]
    assert p.undo[-1] == {"op": "kill-pidfile", "pidfile": "/runs/r1/faults/0a1b2c3d.proxy.pid",
                          "marker": "--tag=0a1b2c3d"}
    assert p.undo[0]["argv"][5] == "-D"        # rules go before the proxy stops
    # kept-alive connections to the peer are closed once the rules are in, so they reconnect
    # through the proxy
    assert p.do[-1] == {"op": "kill-flows", "container": C, "exclude_ports": [25914, 25915], "mark": "0x4a17",
                        "outbound": {"ip": "172.20.0.3", "port": 5432}, "inbound": None}
    p = build("delay", {"latency": 0.1, "jitter": 0.0, "distribution": "uniform", "correlation": 0.0}, "proxy",
              target(peer_port=8080, own_port=True, protocol="tcp"))
    assert [s["argv"][6] for s in p.do if s["op"] == "ns" and s["argv"][5] == "-I"] == ["PREROUTING"]
    assert p.do[-1]["inbound"] == {"port": 8080} and p.do[-1]["outbound"] is None


def test_kill_filters_cover_what_the_redirect_covers():
    from harness.faults.steps import kill_filters

    assert kill_filters({"ip": "172.20.0.3", "port": 5432}, None, [8080], "0x4a17") == [
        "( dst 172.20.0.3 and dport = :5432 and not ( sport = :8080 ) and not fwmark = 0x4a17 )"]
    assert kill_filters(None, {"port": 8080}, [8080, 6060], "0x4a17") == [
        "( sport = :8080 and not src 127.0.0.0/8 )"]
    assert kill_filters({"ip": None, "port": None}, {"port": None}, [8080, 6060], None) == [
        "( not dst 127.0.0.0/8 and not ( sport = :8080 or sport = :6060 ) )",
        "( ( sport = :8080 or sport = :6060 ) and not src 127.0.0.0/8 )"]
    assert kill_filters(None, {"port": None}, [], None) == []
    # the harness's capture port (and the proxy's) is spared on both sides: a connection into it
    # is no outbound connection, and it is not one of the served ports whose flows are closed
    # (a CPU profile being fetched was reset by the outbound filter when a delay on everything
    # the target receives started)
    assert kill_filters({"ip": None, "port": None}, {"port": None}, [8080, 6060], None, spared=[6060]) == [
        "( not dst 127.0.0.0/8 and not ( sport = :8080 or sport = :6060 ) )",
        "( ( sport = :8080 ) and not src 127.0.0.0/8 )"]


def test_docker_updates_restore_the_previous_values():
    t = target(host_config={"Memory": 256 << 20, "MemorySwap": 512 << 20, "CpuPeriod": 0, "CpuQuota": 0})
    p = build("memory", {"limit": 64 << 20, "swap": 0}, "docker", t)
    assert p.do[0]["body"] == {"Memory": 64 << 20, "MemorySwap": 64 << 20}
    assert p.undo[0]["body"] == {"Memory": 256 << 20, "MemorySwap": 512 << 20}
    p = build("cpu", {"cpus": 0.5}, "docker", t)
    assert (p.do[0]["body"], p.undo[0]["body"]) == ({"CpuPeriod": 100000, "CpuQuota": 50000},
                                                    {"CpuPeriod": 100000, "CpuQuota": -1})
    p = build("cpu", {"cpus": 0.5}, "docker", target(host_config={"NanoCpus": 2_000_000_000}))
    assert (p.do[0]["body"], p.undo[0]["body"]) == ({"NanoCpus": 500_000_000}, {"NanoCpus": 2_000_000_000})
    with pytest.raises(HarnessError, match="Docker cannot remove a limit"):
        build("memory", {"limit": 64 << 20, "swap": 0}, "docker", target(host_config={"Memory": 0}))
    p = build("pause", {}, "docker")
    assert (p.do[0]["call"], p.undo[0]["call"]) == ("pause", "unpause")


def test_pressure_helper_joins_the_target_cgroup():
    p = build("cpu_pressure", {"workers": 2}, "cgroup", target(pid=4242))
    assert p.do[0]["argv"][1:] == ["-m", "harness.faults.stress", "--tag=0a1b2c3d", "--pidfile",
                                   "/runs/r1/faults/0a1b2c3d.stress.pid", "--target-pid", "4242",
                                   "--cpu", "2", "--memory", "0"]
