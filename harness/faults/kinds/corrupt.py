"""corrupt: netem only (corrupt a share of packets); this kernel build may lack netem (see doctor)."""
from __future__ import annotations

from harness.faults.kinds._params import CORRELATION, PERCENT, NetKind, correlation, need
from harness.faults.registry import register


@register
class Corrupt(NetKind):
    name = "corrupt"
    summary = "corrupt a share of the target's packets (netem)"
    backends = ("netem",)
    params_schema = {"required": ["percent"], "properties": {"percent": PERCENT, "correlation": CORRELATION}}

    def parse(self, p, node):
        return {"percent": need(p, "percent", node).as_float(min=0, max=100, min_exclusive=True),
                "correlation": correlation(p)}

    def build(self, backend, spec, t):
        return self.netem_plan(spec, t)
