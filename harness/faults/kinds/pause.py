"""pause: freeze every process of the container (cgroup freezer) for the window."""
from __future__ import annotations

from harness.faults.backends import docker
from harness.faults.registry import Kind, register


@register
class Pause(Kind):
    name = "pause"
    network = False
    summary = "freeze the target (docker pause) until the window ends"
    params_doc = "-"
    backends = ("docker",)
    params_schema = {"properties": {}}

    def parse(self, p, node):
        return {}

    def build(self, backend, spec, t):
        return docker.call_plan(t, "pause", undo_call="unpause")
