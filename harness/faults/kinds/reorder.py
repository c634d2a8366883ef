"""reorder: netem only; `percent` of packets go out at once, the rest are delayed by `latency`."""
from __future__ import annotations

from harness.faults.kinds._params import (
    CORRELATION,
    DURATION,
    PERCENT,
    NetKind,
    correlated,
    correlation,
    ms,
    need,
    pct,
)
from harness.faults.registry import register


@register
class Reorder(NetKind):
    name = "reorder"
    summary = "send a share of packets ahead of delayed others (netem)"
    params_doc = "percent, latency, correlation=0, gap"
    backends = ("netem",)
    units = {"percent": "percent", "correlation": "percent", "latency": "duration"}
    params_schema = {"required": ["percent", "latency"], "properties": {
        "percent": PERCENT, "correlation": CORRELATION, "latency": DURATION,
        "gap": {"type": "integer", "minimum": 1}}}

    def parse(self, p, node):
        return {"percent": need(p, "percent", node).as_float(min=0, max=100, min_exclusive=True),
                "correlation": correlation(p),
                "latency": need(p, "latency", node).as_duration(max=60, allow_zero=False),
                "gap": p["gap"].as_int(min=1) if "gap" in p else 0}

    def netem(self, p):
        a = ["delay", ms(p["latency"]), "reorder", pct(p["percent"]), *correlated(p)]
        return a + (["gap", str(p["gap"])] if p.get("gap") else [])

    def build(self, backend, spec, t):
        return self.netem_plan(spec, t)
