"""stop: docker stop at the window's start, docker start at its end."""
from __future__ import annotations

from harness.faults.backends import docker
from harness.faults.kinds._params import GRACE, grace
from harness.faults.registry import Kind, register


@register
class Stop(Kind):
    name = "stop"
    network = False
    summary = "stop the target for the window, start it after"
    params_doc = "grace=10s (started again at the window's end)"
    backends = ("docker",)
    units = {"grace": "duration"}
    params_schema = {"properties": {"grace": GRACE}}

    def parse(self, p, node):
        return {"grace": grace(p)}

    def build(self, backend, spec, t):
        return docker.call_plan(t, "stop", {"timeout": int(spec.params["grace"])}, undo_call="start")
