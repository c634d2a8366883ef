"""delay: added latency with jitter. netem delays every packet (handshake included); the proxy
delays each chunk of data in the faulted direction (handshake and close not delayed)."""
from __future__ import annotations

from harness.faults.backends import proxy
from harness.faults.kinds._params import CORRELATION, DURATION, NetKind, correlated, correlation, ms, need
from harness.faults.registry import register

DISTRIBUTIONS = ("uniform", "normal", "pareto", "paretonormal")


@register
class Delay(NetKind):
    name = "delay"
    summary = "add latency (and jitter) to the target's traffic"
    backends = ("netem", "proxy")
    units = {"latency": "duration", "jitter": "duration", "correlation": "percent"}
    example = {"latency": 0.1, "jitter": 0.0, "distribution": "uniform"}
    params_schema = {"required": ["latency"], "properties": {
        "latency": DURATION, "jitter": DURATION, "distribution": {"enum": list(DISTRIBUTIONS)},
        "correlation": CORRELATION}}

    def parse(self, p, node):
        latency = need(p, "latency", node).as_duration(max=60, allow_zero=False)
        jitter = p["jitter"].as_duration(max=60) if "jitter" in p else 0.0
        if jitter > latency:
            raise p["jitter"].error(f"must not exceed latency ({latency * 1000:g}ms)",
                                    seen=f"{jitter * 1000:g}ms")
        dist = p["distribution"].as_enum(DISTRIBUTIONS) if "distribution" in p else "uniform"
        return {"latency": latency, "jitter": jitter, "distribution": dist, "correlation": correlation(p)}

    def netem(self, p):
        a = ["delay", ms(p["latency"])]
        if p.get("jitter"):
            a += [ms(p["jitter"]), *correlated(p)]
            if p.get("distribution", "uniform") != "uniform":
                a += ["distribution", p["distribution"]]
        return a

    def unsupported(self, backend, params, direction):
        if backend == "proxy":
            if params.get("correlation"):
                return "the proxy has no correlated jitter (netem only)"
            if params.get("distribution") not in ("uniform", "normal"):
                return "the proxy draws jitter from uniform or normal only"
        return None

    def build(self, backend, spec, t):
        if backend == "netem":
            return self.netem_plan(spec, t)
        return proxy.plan(t, self.name, spec.params, spec.direction)
