"""bandwidth_flap: a bandwidth cap that comes and goes, as a flaky link or a noisy neighbour does:
capped at `rate` for the first half of every `period`, unlimited for the second half (the proxy's
token bucket per direction, TCP payload bytes, counted from the fault's start)."""
from __future__ import annotations

import time

from harness.faults.backends import proxy
from harness.faults.kinds._params import DURATION, RATE, NetKind, need, rate_bits
from harness.faults.kinds.rate import RateOnProxy
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


class FlapOnProxy(RateOnProxy):
    """rate's token bucket (its default burst), applied only while the period's first half lasts."""

    def __init__(self, params: dict, clock=time.monotonic):
        super().__init__(params)
        self.clock = clock
        self.t0 = clock()

    def capped(self) -> bool:
        half = self.p["period"] / 2
        return int((self.clock() - self.t0) // half) % 2 == 0
