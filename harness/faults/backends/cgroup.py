"""CPU and memory pressure inside the target's cgroup.

The target images are FROM scratch (no shell, nothing to exec), so the pressure comes from a
helper started on the host (`python -m harness.faults.stress`) that first moves itself into
every cgroup of the target's main process (cgroup.procs, v1 and v2), then burns CPU and/or
touches memory there. The container's limits apply to it and its usage shows in the
container's stats; undo stops the helper's process group.
"""
from __future__ import annotations

from harness.faults.backends.base import Backend
from harness.faults.steps import Plan
from harness.undo.steps import python_argv

BACKENDS = (Backend("cgroup", ("docker", "local-engine", "cgroup-join")),)


def pressure_plan(t, pid: int, *, workers: int = 0, memory: int = 0) -> Plan:
    pidfile = str(t.run_dir / "faults" / f"{t.tag}.stress.pid")
    marker = f"--tag={t.tag}"
    argv = python_argv("harness.faults.stress", marker, "--pidfile", pidfile, "--target-pid", str(pid),
                       "--cpu", str(workers), "--memory", str(memory))
    return Plan(backend="cgroup",
                do=[{"op": "spawn", "pidfile": pidfile, "marker": marker, "argv": argv, "ready_timeout": 30}],
                undo=[{"op": "kill-pidfile", "pidfile": pidfile, "marker": marker}],
                detail={"pidfile": pidfile})
