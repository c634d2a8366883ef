"""loss: drop packets at random (percent) or exactly every n-th packet, per direction."""
from __future__ import annotations

from harness.faults.backends import iptables
from harness.faults.kinds._params import CORRELATION, PERCENT, NetKind, correlated, correlation, pct
from harness.faults.registry import register


@register
class Loss(NetKind):
    name = "loss"
    summary = "drop a share of the target's packets"
    params_doc = "percent | every_nth, correlation=0"
    backends = ("netem", "iptables")
    units = {"percent": "percent", "correlation": "percent"}
    backend_needs = {"iptables": ("iptables-statistic",)}
    example = {"percent": 1.0}
    params_schema = {"properties": {"percent": PERCENT, "every_nth": {"type": "integer", "minimum": 2},
                                    "correlation": CORRELATION}}

    def parse(self, p, node):
        if ("percent" in p) == ("every_nth" in p):
            raise node.error("a loss fault needs exactly one of 'percent' or 'every_nth'",
                             hint="e.g. percent: 20, or every_nth: 5 (drops packets 1, 6, 11, ...)")
        if "percent" in p:
            return {"percent": p["percent"].as_float(min=0, max=100, min_exclusive=True),
                    "correlation": correlation(p)}
        return {"every_nth": p["every_nth"].as_int(min=2, max=1_000_000), "correlation": correlation(p)}

    def netem(self, p):
        return ["loss", "random", pct(p["percent"]), *correlated(p)]

    def unsupported(self, backend, params, direction):
        if backend == "netem" and params.get("every_nth"):
            return "netem has no every-nth loss"
        if backend == "iptables" and params.get("correlation"):
            return "the iptables statistic match has no correlation"
        return None

    def build(self, backend, spec, t):
        if backend == "netem":
            return self.netem_plan(spec, t)
        return iptables.filter_plan(t, spec.direction,
                                    iptables.loss_action(spec.params.get("percent"), spec.params.get("every_nth")))
