"""bandwidth_flap: a bandwidth cap that comes and goes, as a flaky link or a noisy neighbour does:
capped at `rate` for the first half of every `period`, unlimited for the second half (the proxy's
token bucket per direction, TCP payload bytes, counted from the fault's start)."""
from __future__ import annotations

import time

from harness.faults.backends import proxy
from harness.faults.kinds._params import DURATION, RATE, NetKind, need, rate_bits
from harness.faults.proxy import Behaviour, Bucket
from harness.faults.registry import register


@register
class BandwidthFlap(NetKind):
    name = "bandwidth_flap"
    summary = "cap the target's bandwidth for half of every period, lift it for the other half"
    params_doc = "rate (as for rate), period=2s (capped for the first half)"
    backends = ("proxy",)
    units = {"rate": "bits", "period": "duration"}
    example = {"rate": 1_000_000, "period": 2.0}
    params_schema = {"required": ["rate"], "properties": {"rate": RATE, "period": DURATION}}

    def parse(self, p, node):
        return {"rate": rate_bits(need(p, "rate", node)),
                "period": p["period"].as_duration(min=0.2, max=3600) if "period" in p else 2.0}

    def proxy(self, params):
        return FlapOnProxy(params)

    def build(self, backend, spec, t):
        return proxy.plan(t, self.name, spec.params, spec.direction)


class FlapOnProxy(Behaviour):
    def __init__(self, params: dict, clock=time.monotonic):
        super().__init__(params)
        self.clock = clock
        self.t0 = clock()
        rate = self.p["rate"] / 8.0
        burst = int(max(rate * 0.01, 4096))
        self.buckets = {d: Bucket(rate, burst) for d in ("egress", "ingress")}

    def capped(self) -> bool:
        half = self.p["period"] / 2
        return int((self.clock() - self.t0) // half) % 2 == 0

    async def write(self, direction, writer, data):
        bucket = self.buckets[direction]
        for i in range(0, len(data), bucket.burst):
            piece = data[i:i + bucket.burst]
            if self.capped():
                await bucket.take(len(piece))
            writer.write(piece)
            await writer.drain()
