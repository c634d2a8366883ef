"""reset: TCP connections to the peer are answered with RST (iptables: every TCP segment,
so new connections are refused and open ones reset at their next segment; proxy: each
connection is reset `after` its start)."""
from __future__ import annotations

from harness.faults.backends import iptables, proxy
from harness.faults.kinds._params import DURATION, NetKind
from harness.faults.proxy import Behaviour
from harness.faults.registry import register


@register
class Reset(NetKind):
    name = "reset"
    summary = "reset the target's TCP connections"
    params_doc = "after=0 (iptables: 0 only)"
    backends = ("iptables", "proxy")
    units = {"after": "duration"}
    backend_needs = {"iptables": ("iptables-reject",)}
    example = {"after": 0.0}
    params_schema = {"properties": {"after": DURATION}}

    def parse(self, p, node):
        return {"after": p["after"].as_duration(max=3600) if "after" in p else 0.0}

    def unsupported(self, backend, params, direction):
        if backend == "iptables" and params.get("after"):
            return "iptables resets at once; 'after' needs the proxy"
        return None

    def proxy(self, params):
        return ResetOnProxy(params)

    def build(self, backend, spec, t):
        if backend == "iptables":
            return iptables.filter_plan(t, spec.direction, iptables.RESET_ACTION, protocol="tcp")
        return proxy.plan(t, self.name, spec.params, spec.direction)


class ResetOnProxy(Behaviour):
    """Each connection is reset (RST) `after` its start: at once when after is 0."""

    reset_at_deadline = True

    def refuse(self):
        return not self.p.get("after")

    def deadline(self):
        return self.p.get("after") or None
