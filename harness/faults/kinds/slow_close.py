"""slow_close: the proxy holds each connection's close (FIN) for `delay` before passing it on."""
from __future__ import annotations

import asyncio

from harness.faults.backends import proxy
from harness.faults.kinds._params import DURATION, NetKind, need
from harness.faults.proxy import Behaviour
from harness.faults.registry import register


@register
class SlowClose(NetKind):
    name = "slow_close"
    summary = "delay the close of the target's TCP connections"
    params_doc = "delay"
    backends = ("proxy",)
    units = {"delay": "duration"}
    example = {"delay": 1.0}
    default_direction = "both"
    params_schema = {"required": ["delay"], "properties": {"delay": DURATION}}

    def parse(self, p, node):
        return {"delay": need(p, "delay", node).as_duration(max=3600, allow_zero=False)}

    def proxy(self, params):
        return SlowCloseOnProxy(params)

    def build(self, backend, spec, t):
        return proxy.plan(t, self.name, spec.params, spec.direction)


class SlowCloseOnProxy(Behaviour):
    async def closing(self):
        await asyncio.sleep(self.p["delay"])
