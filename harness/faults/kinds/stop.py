"""stop: docker stop at the window's start, docker start at its end."""
from __future__ import annotations

from harness.faults.backends import docker
from harness.faults.registry import Kind, register


@register
class Stop(Kind):
    name = "stop"
    network = False
    summary = "stop the target for the window, start it after"
    backends = ("docker",)
    params_schema = {"properties": {"grace": {"type": ["string", "number"]}}}

    def parse(self, p, node):
        return {"grace": p["grace"].as_duration(max=600) if "grace" in p else 10.0}

    def build(self, backend, spec, t):
        return docker.call_plan(t, "stop", {"timeout": int(spec.params["grace"])}, undo_call="start")
