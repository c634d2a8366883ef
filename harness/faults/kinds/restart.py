"""restart: docker restart (stop with a grace period, then start) at the window's start."""
from __future__ import annotations

from harness.faults.backends import docker
from harness.faults.kinds._params import GRACE, grace
from harness.faults.registry import Kind, register


@register
class Restart(Kind):
    name = "restart"
    network = False
    summary = "restart the target"
    params_doc = "grace=10s"
    backends = ("docker",)
    units = {"grace": "duration"}
    params_schema = {"properties": {"grace": GRACE}}

    def parse(self, p, node):
        return {"grace": grace(p)}

    def build(self, backend, spec, t):
        return docker.call_plan(t, "restart", {"timeout": int(spec.params["grace"])}, undo_call="start")
