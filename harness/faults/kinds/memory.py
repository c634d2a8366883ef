"""memory: change the container's memory limit for the window, then restore the old limit."""
from __future__ import annotations

from harness.faults.backends import docker
from harness.faults.kinds._params import SIZE, need
from harness.faults.registry import Kind, register


@register
class Memory(Kind):
    name = "memory"
    network = False
    summary = "change the target's memory limit (restored after)"
    params_doc = "limit, swap=0"
    backends = ("docker",)
    resource = True
    units = {"limit": "size", "swap": "size"}
    params_schema = {"required": ["limit"], "properties": {"limit": SIZE, "swap": SIZE}}

    def parse(self, p, node):
        limit = need(p, "limit", node).as_size(min=6 << 20)
        swap = p["swap"].as_size(min=0) if "swap" in p else 0
        return {"limit": limit, "swap": swap}

    def build(self, backend, spec, t):
        restore = docker.memory_restore(t, t.host_config)
        body = {"Memory": spec.params["limit"], "MemorySwap": spec.params["limit"] + spec.params["swap"]}
        return docker.update_plan(t, body, restore)
