"""memory_pressure: touch `size` bytes inside the target's cgroup (charged to its memory limit)."""
from __future__ import annotations

from harness.faults.backends import cgroup
from harness.faults.kinds._params import SIZE, need
from harness.faults.registry import Kind, register


@register
class MemoryPressure(Kind):
    name = "memory_pressure"
    network = False
    summary = "hold memory inside the target's cgroup"
    params_doc = "size"
    backends = ("cgroup",)
    resource = True
    units = {"size": "size"}
    params_schema = {"required": ["size"], "properties": {"size": SIZE}}

    def parse(self, p, node):
        return {"size": need(p, "size", node).as_size(min=1 << 20, max=1 << 40)}

    def build(self, backend, spec, t):
        return cgroup.pressure_plan(t, t.pid, memory=spec.params["size"])
