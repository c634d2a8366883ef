"""timeout: the proxy stops passing data in the faulted direction and closes the connection
after `timeout` (0: never closes; the peer just hangs)."""
from __future__ import annotations

from harness.faults.backends import proxy
from harness.faults.kinds._params import DURATION, NetKind
from harness.faults.proxy import CHUNK, Behaviour
from harness.faults.registry import register


@register
class Timeout(NetKind):
    name = "timeout"
    summary = "black-hole the target's TCP data and close after a timeout"
    params_doc = "timeout=0 (never closes)"
    backends = ("proxy",)
    units = {"timeout": "duration"}
    example = {"timeout": 0.0}
    params_schema = {"properties": {"timeout": DURATION}}

    def parse(self, p, node):
        return {"timeout": p["timeout"].as_duration(max=3600) if "timeout" in p else 0.0}

    def proxy(self, params):
        return TimeoutOnProxy(params)

    def build(self, backend, spec, t):
        return proxy.plan(t, self.name, spec.params, spec.direction)


class TimeoutOnProxy(Behaviour):
    """Data is swallowed (no EOF either); the connection is closed after `timeout` (0: never)."""

    def deadline(self):
        return self.p.get("timeout") or None

    async def pump(self, direction, reader, writer_fut):
        while await reader.read(CHUNK):
            pass
