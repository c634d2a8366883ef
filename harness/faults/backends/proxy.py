"""The userspace TCP proxy backend: a helper process in the target's network namespace
(started with nsenter, so it binds inside the container, on the container's own addresses
only; on a remote engine a container of its own sharing the target's namespace, see
harness/faults/helper.py) plus nat REDIRECT rules that send the fault's connections to it.
See harness/faults/proxy.py for what it does to the bytes.

Connections that exist when the fault starts are closed once the rules are in (ss -K), so
clients with kept-alive pools reconnect through the proxy instead of bypassing it.

Undo order: the REDIRECT rules go first (new connections flow directly again), then the
helper is stopped (connections through it are closed).
"""
from __future__ import annotations

import json

from harness import docker_engine as engine
from harness.faults.backends import iptables
from harness.faults.backends.base import Backend
from harness.faults.steps import Plan
from harness.undo.steps import python_argv

BACKENDS = (Backend("proxy", ("root", "nsenter", "iptables", "iptables-redirect")),)


def plan(t, kind: str, params: dict, direction: str) -> Plan:
    out_port, in_port = t.proxy_ports
    pidfile = str(t.run_dir / "faults" / f"{t.tag}.proxy.pid")
    config = {"kind": kind, "params": params, "direction": direction, "mark": int(iptables.PROXY_MARK, 16),
              "out_port": out_port, "in_port": in_port, "in_addrs": list(t.ips or ([t.ip] if t.ip else []))}
    marker = f"--tag={t.tag}"
    if engine.current().local:
        spawn = {"op": "spawn", "container": t.container, "pidfile": pidfile, "marker": marker,
                 "argv": python_argv("harness.faults.proxy", marker, "--pidfile", pidfile,
                                     "--config", json.dumps(config, sort_keys=True))}
        stop = {"op": "kill-pidfile", "pidfile": pidfile, "marker": marker}
    else:                  # a container of its own in the target's namespace (harness/faults/helper.py)
        name = f"harness-proxy-{t.tag}"
        spawn = {"op": "proxy-container", "container": t.container, "name": name,
                 "args": [marker, "--config", json.dumps(config, sort_keys=True)]}
        stop = {"op": "remove-container", "name": name}
    redirect = iptables.redirect_rules(t, out_port, in_port)
    rules = iptables.chains_plan(t, "nat", redirect, backend="proxy")
    kill = {"op": "kill-flows", "container": t.container,
            "exclude_ports": [out_port, in_port, *t.capture_ports],
            "mark": iptables.PROXY_MARK,
            "outbound": {"ip": t.peer_ip, "port": t.peer_port} if "OUTPUT" in redirect else None,
            "inbound": {"port": t.peer_port if t.own_port else None} if "PREROUTING" in redirect else None}
    p = Plan(backend="proxy", do=[spawn, *rules.do, kill],
             undo=[*rules.undo, stop])
    p.detail = {"ports": [out_port, in_port], "pidfile": pidfile, **rules.detail}
    return p
