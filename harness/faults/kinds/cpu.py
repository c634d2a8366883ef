"""cpu: change the container's CPU quota (in CPUs) for the window, then restore it."""
from __future__ import annotations

from harness.faults.backends import docker
from harness.faults.kinds._params import need
from harness.faults.registry import Kind, register


@register
class Cpu(Kind):
    name = "cpu"
    network = False
    summary = "change the target's CPU quota (restored after)"
    params_doc = "cpus"
    backends = ("docker",)
    resource = True
    params_schema = {"required": ["cpus"], "properties": {"cpus": {"type": "number", "minimum": 0.01}}}

    def parse(self, p, node):
        return {"cpus": need(p, "cpus", node).as_float(min=0.01, max=1024)}

    def build(self, backend, spec, t):
        body, restore = docker.cpu_bodies(t.host_config, spec.params["cpus"])
        return docker.update_plan(t, body, restore)
