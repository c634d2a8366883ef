"""cpuset: pin the container to some CPUs for the window, then restore its CPU set."""
from __future__ import annotations

import os
import re

from harness.faults.backends import docker
from harness.faults.kinds._params import need
from harness.faults.registry import Kind, register

_CPUS_RE = re.compile(r"^\d+(-\d+)?(,\d+(-\d+)?)*$")


@register
class Cpuset(Kind):
    name = "cpuset"
    network = False
    summary = "pin the target to CPUs (restored after)"
    params_doc = 'cpus ("0", "0-1", "0,2")'
    backends = ("docker",)
    resource = True
    params_schema = {"required": ["cpus"], "properties": {"cpus": {"type": "string", "pattern": _CPUS_RE.pattern}}}

    def parse(self, p, node):
        n = need(p, "cpus", node)
        text = str(n.value) if isinstance(n.value, int) and not isinstance(n.value, bool) else n.as_str()
        if not _CPUS_RE.match(text):
            raise n.error("expected a CPU list like 0, 0-1 or 0,2", seen=repr(n.value))
        return {"cpus": text}

    def build(self, backend, spec, t):
        old = t.host_config.get("CpusetCpus") or f"0-{(os.cpu_count() or 1) - 1}"
        return docker.update_plan(t, {"CpusetCpus": spec.params["cpus"]}, {"CpusetCpus": old})
