"""cpu_pressure: busy workers inside the target's cgroup (they share its CPU quota)."""
from __future__ import annotations

from harness.faults.backends import cgroup
from harness.faults.registry import Kind, register


@register
class CpuPressure(Kind):
    name = "cpu_pressure"
    network = False
    summary = "burn CPU inside the target's cgroup"
    params_doc = "workers=1"
    backends = ("cgroup",)
    resource = True
    params_schema = {"properties": {"workers": {"type": "integer", "minimum": 1, "maximum": 64}}}

    def parse(self, p, node):
        return {"workers": p["workers"].as_int(min=1, max=64) if "workers" in p else 1}

    def build(self, backend, spec, t):
        return cgroup.pressure_plan(t, t.pid, workers=spec.params["workers"])
