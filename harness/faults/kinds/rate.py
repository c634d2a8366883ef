"""rate: a bandwidth cap. tbf on the target's egress, ingress via the fault's own IFB + tbf;
netem's rate; or the proxy's token bucket (TCP payload only)."""
from __future__ import annotations

from harness.faults.backends import proxy, tc
from harness.faults.kinds._params import DURATION, RATE, SIZE, NetKind, need, rate_bits
from harness.faults.proxy import Behaviour, Bucket
from harness.faults.registry import register


@register
class Rate(NetKind):
    name = "rate"
    summary = "cap the target's bandwidth"
    params_doc = "rate (1mbit, 500kbit, 125kbps or bit/s), burst, queue=1s"
    backends = ("tbf", "netem", "proxy")
    units = {"rate": "bits", "burst": "size", "queue": "duration"}
    example = {"rate": 1_000_000, "burst": 0, "queue": 1.0}
    params_schema = {"required": ["rate"], "properties": {"rate": RATE, "burst": SIZE, "queue": DURATION}}

    def parse(self, p, node):
        return {"rate": rate_bits(need(p, "rate", node)),
                "burst": p["burst"].as_size(min=1600, max=1 << 30) if "burst" in p else 0,
                "queue": p["queue"].as_duration(min=0.001, max=10) if "queue" in p else 1.0}

    def netem(self, p):
        return ["rate", f"{p['rate']}bit"]

    def proxy(self, params):
        return RateOnProxy(params)

    def build(self, backend, spec, t):
        p = spec.params
        if backend == "tbf":
            return tc.directional_plan(t, spec.direction, tc.tbf_args(p["rate"], p["burst"] or None,
                                                                      p["queue"] * 1000), "tbf")
        if backend == "netem":
            return self.netem_plan(spec, t)
        return proxy.plan(t, self.name, p, spec.direction)


class RateOnProxy(Behaviour):
    """A token bucket per direction, shared by every connection (TCP payload bytes)."""

    def __init__(self, params: dict):
        super().__init__(params)
        rate = self.p["rate"] / 8.0
        burst = int(self.p.get("burst") or max(rate * 0.01, 4096))
        self.buckets = {d: Bucket(rate, burst) for d in ("egress", "ingress")}

    def capped(self) -> bool:
        """Whether the cap holds now (always; bandwidth_flap lifts it half of the time)."""
        return True

    async def write(self, direction, writer, data):
        bucket = self.buckets[direction]
        for i in range(0, len(data), bucket.burst):
            piece = data[i:i + bucket.burst]
            if self.capped():
                await bucket.take(len(piece))
            writer.write(piece)
            await writer.drain()
